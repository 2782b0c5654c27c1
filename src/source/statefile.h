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
#include <stdbool.h>
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

/* alb_state_writer_put() : <objects> (an array; borrowed) is the version
 * to save next, replacing one being encoded. alb_state_writer_step()
 * encodes it. One thread puts and steps (the objects are its own). */
void alb_state_writer_put(struct alb_state_writer *w, json_t *objects);

/* alb_state_writer_step() : encodes, for about <budget_s> seconds (0: to
 * the end), the version put, on the caller's thread; once it is whole the
 * writer thread writes it (a text not written yet is replaced). The text
 * of each object version (metadata.uid and resourceVersion) is kept until
 * a version of the state without it is saved, so only new objects are
 * encoded (no reference is kept: objects are freed when their owner lets
 * go); a large state is encoded over several steps instead of holding up
 * the caller. Returns true when more remains. */
bool alb_state_writer_step(struct alb_state_writer *w, double budget_s);

void alb_state_writer_stats(struct alb_state_writer *w, struct alb_state_stats *out);

/* alb_state_writer_stop() : writes the text pending (a version put but
 * not stepped to its end is not), stops the thread and frees it. NULL is
 * allowed. */
void alb_state_writer_stop(struct alb_state_writer *w);

/* alb_state_load() : the objects saved in <dir>, one new reference; NULL
 * when there are none (err[] empty) or the file is unreadable (err[] says
 * why). */
json_t *alb_state_load(const char *dir, char *err, size_t err_len);

#endif
