/* source/files.h : the standalone source, a folder of manifests.
 *
 * Every *.yaml, *.yml and *.json file in the folder (not its subfolders) is
 * read; multi-document YAML and `kind: List` are expanded. A file that no
 * longer parses keeps the objects of its last good version, and the error
 * names the file and line; a deleted file takes its objects with it. The
 * result is every object, in file-name order. Control thread.
 */
#ifndef ALB_SOURCE_FILES_H
#define ALB_SOURCE_FILES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* At most this much per manifest file: larger ones are refused. */
#define ALB_MANIFEST_MAX_BYTES (16u << 20)

struct alb_manifest_file {
    char *name;      /* owned; the file name within the folder */
    json_t *objects; /* one reference; the last good version's objects */
    /* what was read last: a file whose identity, size and modification time
     * are unchanged is not read again */
    unsigned long long dev, ino, size;
    long long mtime_ns;
};

/* What changed in the objects, for consumers that can apply some changes
 * without rebuilding everything. */
#define ALB_MANIFEST_CHANGED_ENDPOINTS 1u /* EndpointSlice or Endpoints objects */
#define ALB_MANIFEST_CHANGED_OTHER 2u     /* objects of any other kind */
#define ALB_MANIFEST_CHANGED_STATUS 4u    /* only the status of objects (from the API; translation never reads it) */

/* alb_manifest_change_of() : the ALB_MANIFEST_CHANGED_* bit a change of
 * object <o> makes. */
unsigned alb_manifest_change_of(json_t *o);

struct alb_manifests {
    struct alb_manifest_file *files; /* owned, sorted by name */
    size_t cnt;
    unsigned changes; /* ALB_MANIFEST_CHANGED_* bits gathered by loads; the consumer clears them */
};

/* alb_manifest_is_file_name() : whether <name> is a manifest file the folder
 * source reads (*.yaml, *.yml, *.json; not hidden editor files). */
bool alb_manifest_is_file_name(const char *name);

/* alb_manifests_load() : reads <dir> again, updating <m> (which keeps each
 * file's last good objects). Problems with single files are reported
 * through <report> (one line each, "FILE: line L column C: what") and do
 * not fail the load. Objects added, removed or changed set bits in
 * m->changes. Returns 0, or -errno when the folder cannot be read. */
typedef void alb_manifest_report_fn(void *ctx, const char *line);
int alb_manifests_load(struct alb_manifests *m, const char *dir, alb_manifest_report_fn *report, void *ctx);

/* alb_manifests_objects() : every object of every file, one new reference
 * to a new array. */
json_t *alb_manifests_objects(const struct alb_manifests *m);

void alb_manifests_deinit(struct alb_manifests *m);

#endif
