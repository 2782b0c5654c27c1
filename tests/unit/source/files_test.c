/* tests/unit/source/files_test.c : the folder source tells what kind of
 * objects changed between loads, so that endpoint-only changes can skip
 * translating routes. */
#include <stdlib.h>
#include <unistd.h>

#include "source/files.h"
#include "test.h"

static char dir[] = "/tmp/alb-files-test-XXXXXX";

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void remove_file(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
}

static void ignore(void *ctx, const char *line)
{
    (void)ctx;
    (void)line;
}

/* The change bits of one more load, cleared after. */
static unsigned reload(struct alb_manifests *m)
{
    m->changes = 0;
    CHECK_EQ_INT(alb_manifests_load(m, dir, ignore, NULL), 0);
    return m->changes;
}

#define SLICE(port)                                                                                                  \
    "{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"s1\",\"namespace\":\"default\"},\"endpoints\":[],"      \
    "\"ports\":[{\"port\":" #port "}]}"
#define INGRESS(path)                                                                                                \
    "{\"kind\":\"Ingress\",\"metadata\":{\"name\":\"i1\",\"namespace\":\"default\"},\"spec\":{\"rules\":[{\"http\":" \
    "{\"paths\":[{\"path\":\"" path "\"}]}}]}}"

static void test_change_kinds(void)
{
    CHECK(mkdtemp(dir) != NULL);
    struct alb_manifests m = {0};
    write_file("a.json", "{\"kind\":\"List\",\"items\":[" SLICE(80) "," INGRESS("/") "]}");
    CHECK_EQ_INT(reload(&m), ALB_MANIFEST_CHANGED_ENDPOINTS | ALB_MANIFEST_CHANGED_OTHER);
    /* rewritten with the same objects (in another order): nothing changed */
    write_file("a.json", "{\"kind\":\"List\",\"items\":[" INGRESS("/") "," SLICE(80) "]}");
    CHECK_EQ_INT(reload(&m), 0);
    write_file("a.json", "{\"kind\":\"List\",\"items\":[" INGRESS("/") "," SLICE(81) "]}");
    CHECK_EQ_INT(reload(&m), ALB_MANIFEST_CHANGED_ENDPOINTS);
    write_file("a.json", "{\"kind\":\"List\",\"items\":[" INGRESS("/x") "," SLICE(81) "]}");
    CHECK_EQ_INT(reload(&m), ALB_MANIFEST_CHANGED_OTHER);
    /* a file that stops parsing keeps its objects: no change */
    write_file("a.json", "{\"kind\":");
    CHECK_EQ_INT(reload(&m), 0);
    /* a new file with a slice, then its removal */
    write_file("b.yaml", "kind: EndpointSlice\nmetadata: {name: s2}\n");
    CHECK_EQ_INT(reload(&m), ALB_MANIFEST_CHANGED_ENDPOINTS);
    remove_file("b.yaml");
    CHECK_EQ_INT(reload(&m), ALB_MANIFEST_CHANGED_ENDPOINTS);
    remove_file("a.json");
    CHECK_EQ_INT(reload(&m), ALB_MANIFEST_CHANGED_ENDPOINTS | ALB_MANIFEST_CHANGED_OTHER);
    alb_manifests_deinit(&m);
    rmdir(dir);
}

TEST_MAIN(TEST_ENTRY(test_change_kinds))
