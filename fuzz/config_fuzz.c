/* fuzz/config_fuzz.c : the config loader (files are outside input), the
 * route compiler, and the JSON writer. Whatever the loader accepts must
 * compile, and what /config would show must load again and show the same. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "route/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    char err[512];
    struct alb_config *c = alb_config_parse((const char *)d, n, "127.0.0.1", err, sizeof(err));
    if (!c) {
        assert(err[0]); /* a refusal always says why */
        return 0;
    }
    assert(alb_route_compile(c, err, sizeof(err)) == 0);
    char *json = alb_config_to_json(c);
    assert(json);
    struct alb_config *again = alb_config_parse(json, strlen(json), "127.0.0.1", err, sizeof(err));
    assert(again); /* what ALB shows, it reads back */
    char *json2 = alb_config_to_json(again);
    assert(json2 && strcmp(json, json2) == 0);
    free(json);
    free(json2);
    alb_config_free(again);
    alb_config_free(c);
    return 0;
}
