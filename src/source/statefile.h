/* source/statefile.h : the last good objects of a cluster, kept on local
 * disk (--state-dir), so that a replica restarting while the API server is
 * away serves at once what it served before.
 *
 * One file, DIR/objects.json: a JSON array of the objects (Secrets
 * included, so the file is created 0600), replaced atomically (written
 * beside it, synced, renamed). The control thread encodes (the objects are
 * its own, see source/watch.h); a thread of its own writes, so that tens of
 * megabytes and an fsync never hold up the control thread.
 */
#ifndef ALB_SOURCE_STATEFILE_H
#define ALB_SOURCE_STATEFILE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define ALB_STATE_FILE "objects.json"

struct alb_state_writer;

struct alb_state_stats {
    uint64_t saves;    /* files written */
    uint64_t failures; /* writes that failed (logged) */
    double encode_s;   /* the control thread's time encoding, in all */
    double write_s;    /* the writer's time writing and syncing, in all */
    uint64_t bytes;    /* the size of the last file written */
};

/* alb_state_writer_start() : the thread writing to <dir> (borrowed; it must
 * outlive the writer). NULL when it cannot start. */
struct alb_state_writer *alb_state_writer_start(const char *dir);

/* alb_state_writer_put() : encodes <objects> (an array of objects that
 * never change; borrowed) on the caller's thread and has the writer write
 * it; a version not written yet is replaced by this one. Each object's
 * text is kept until an array without it is put, so only new objects are
 * encoded. One thread puts (the objects are its own). */
void alb_state_writer_put(struct alb_state_writer *w, json_t *objects);

void alb_state_writer_stats(struct alb_state_writer *w, struct alb_state_stats *out);

/* alb_state_writer_stop() : writes what is pending, stops the thread and
 * frees it. NULL is allowed. */
void alb_state_writer_stop(struct alb_state_writer *w);

/* alb_state_load() : the objects saved in <dir>, one new reference; NULL
 * when there are none (err[] empty) or the file is unreadable (err[] says
 * why). */
json_t *alb_state_load(const char *dir, char *err, size_t err_len);

#endif
