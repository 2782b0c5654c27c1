/* fuzz/manifest_fuzz.c : manifest files (outside input) through the whole
 * standalone pipeline: YAML/JSON -> objects -> translation -> the strict
 * loader -> route tables. Besides memory safety it checks that the
 * translator never emits a config the loader refuses (invalid objects must
 * be left out with a diagnostic, not passed on), and that translating
 * again with a memo gives the same config and diagnostics. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "route/route.h"
#include "source/yaml.h"
#include "translate/translate.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    char err[512];
    json_t *docs = alb_yaml_load((const char *)d, n, err, sizeof(err));
    if (!docs) {
        assert(err[0]);
        return 0;
    }
    /* documents as objects, `kind: List` expanded (as source/files.c does) */
    json_t *objects = json_array();
    for (size_t i = 0; i < json_array_size(docs); i++) {
        json_t *o = json_array_get(docs, i);
        json_t *items = json_object_get(o, "items");
        if (json_is_array(items)) {
            for (size_t k = 0; k < json_array_size(items); k++)
                json_array_append(objects, json_array_get(items, k));
        } else {
            json_array_append(objects, o);
        }
    }
    struct alb_diags diags = {0};
    struct alb_translate_opts opts = {ALB_DEFAULT_CONTROLLER, "127.0.0.1", "default/alb-config", NULL, "default", 0};
    struct alb_config *cfg = alb_translate(objects, &opts, &diags, NULL, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "translated config refused: %s\n", err);
        abort();
    }
    assert(alb_route_compile(cfg, err, sizeof(err)) == 0);
    /* a memo saves work and changes nothing: fresh, then reused, alike */
    char *fresh = alb_config_to_json(cfg);
    struct alb_translate_memo *memo = alb_translate_memo_new();
    for (int round = 0; round < 2; round++) {
        struct alb_diags again = {0};
        struct alb_config *c2 = alb_translate(objects, &opts, &again, memo, err, sizeof(err));
        assert(c2);
        char *text = alb_config_to_json(c2);
        assert(fresh && text && strcmp(fresh, text) == 0);
        assert(again.cnt == diags.cnt && again.errors == diags.errors);
        free(text);
        alb_config_free(c2);
        alb_diags_deinit(&again);
    }
    alb_translate_memo_free(memo);
    free(fresh);
    alb_config_free(cfg);
    alb_diags_deinit(&diags);
    json_decref(objects);
    json_decref(docs);
    return 0;
}
