/* source/statefile.h : the last good objects of a cluster, kept on local
 * disk (--state-dir), so that a replica restarting while the API server is
 * away serves at once what it served before.
 *
 * One file, DIR/objects.json: a JSON array of the objects (Secrets
 * included, so the file is created 0600), replaced atomically (written
 * beside it, synced, renamed). Control thread.
 */
#ifndef ALB_SOURCE_STATEFILE_H
#define ALB_SOURCE_STATEFILE_H

#include <jansson.h>
#include <stddef.h>

#define ALB_STATE_FILE "objects.json"

/* alb_state_save() : writes <objects> (an array) to <dir>. Returns 0, or
 * -1 with err[]. */
int alb_state_save(const char *dir, json_t *objects, char *err, size_t err_len);

/* alb_state_load() : the objects saved in <dir>, one new reference; NULL
 * when there are none (err[] empty) or the file is unreadable (err[] says
 * why). */
json_t *alb_state_load(const char *dir, char *err, size_t err_len);

#endif
