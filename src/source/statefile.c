/* source/statefile.c : see statefile.h. */
#include "source/statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

struct alb_state_writer {
    const char *dir;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* the putting thread's own */
    json_t *encoded;  /* "uid@resourceVersion" -> the text of that version of an object */
    json_t *transient; /* "%p" -> the text of an object without them, in the version being put */
    json_t *putting;  /* the version being encoded, or NULL */
    size_t next;      /* its first object not looked at yet */
    /* under lock */
    char *pending; /* the text to write next, or NULL */
    size_t pending_len;
    bool stop;
    struct alb_state_stats stats;
};

static void count(struct alb_state_writer *w, int saves, int failures, size_t bytes)
{
    pthread_mutex_lock(&w->lock);
    w->stats.saves += (uint64_t)saves; /* -1: a save counted and then not made */
    w->stats.failures += (uint64_t)failures;
    if (saves > 0)
        w->stats.bytes = bytes;
    pthread_mutex_unlock(&w->lock);
}

/* Writes <len> bytes of <text> as the state file: beside it, synced, then
 * renamed over it. The save is counted before the rename makes it
 * visible, so that whoever sees the file sees it counted. Returns 0, or
 * -1 with err[]. */
static int write_state(struct alb_state_writer *w, const char *text, size_t len, char *err, size_t err_len)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", w->dir, ALB_STATE_FILE);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", w->dir, ALB_STATE_FILE);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 || write_all(fd, text, len) < 0 || fsync(fd) < 0 ? -1 : 0;
    int saved = errno;
    if (fd >= 0 && close(fd) < 0)
        rc = -1;
    if (rc == 0) {
        count(w, 1, 0, len);
        if (rename(tmp, path) < 0) {
            saved = errno;
            rc = -1;
            count(w, -1, 0, 0);
        }
    }
    if (rc < 0) {
        count(w, 0, 1, 0);
        snprintf(err, err_len, "%s: %s", tmp, strerror(saved));
        unlink(tmp);
    }
    return rc;
}

static void *writer_thread(void *p)
{
    struct alb_state_writer *w = p;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->pending && !w->stop)
            pthread_cond_wait(&w->cond, &w->lock);
        if (!w->pending)
            break; /* stopped, and everything written */
        char *text = w->pending;
        size_t len = w->pending_len;
        w->pending = NULL;
        pthread_mutex_unlock(&w->lock);
        char err[PATH_MAX + 256];
        double t0 = alb_clock_now_s();
        if (write_state(w, text, len, err, sizeof(err)) < 0)
            alb_log_warn("action=\"saving the state\" %s", err);
        double took = alb_clock_now_s() - t0;
        free(text);
        pthread_mutex_lock(&w->lock);
        w->stats.write_s += took;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Frees <w> once its thread is gone (or never started). */
static void destroy(struct alb_state_writer *w)
{
    free(w->pending);
    json_decref(w->encoded);
    json_decref(w->transient);
    json_decref(w->putting);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

struct alb_state_writer *alb_state_writer_start(const char *dir)
{
    struct alb_state_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->dir = dir;
    w->encoded = json_object();
    w->transient = json_object();
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (!w->encoded || !w->transient || pthread_create(&w->thread, NULL, writer_thread, w) != 0) {
        destroy(w);
        return NULL;
    }
    return w;
}

/* The map and key under which <o>'s text is kept: "<uid>@<resourceVersion>"
 * in <w>->encoded (the API server gives each version of an object its own,
 * so that text never changes), or, for an object without them, its
 * address in <w>->transient (valid while the version being put holds it). */
static json_t *text_slot(struct alb_state_writer *w, json_t *o, char *key, size_t len)
{
    json_t *md = json_object_get(o, "metadata");
    const char *uid = json_string_value(json_object_get(md, "uid"));
    const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
    if (uid && rv && uid[0] && rv[0] && (size_t)snprintf(key, len, "%s@%s", uid, rv) < len)
        return w->encoded;
    snprintf(key, len, "%p", (void *)o);
    return w->transient;
}

/* Encodes, within <budget_s> seconds, objects of the version being put
 * that have no text yet. Returns true when every one has. */
static bool encode_some(struct alb_state_writer *w, double budget_s)
{
    double start = alb_clock_now_s();
    char key[256];
    size_t n = json_array_size(w->putting);
    for (; w->next < n; w->next++) {
        json_t *o = json_array_get(w->putting, w->next);
        json_t *slot = text_slot(w, o, key, sizeof(key));
        if (json_object_get(slot, key))
            continue;
        if (budget_s > 0 && alb_clock_now_s() - start > budget_s)
            return false; /* a clock read is ~1/1000 of encoding an object */
        char *t = json_dumps(o, JSON_COMPACT);
        json_t *text = t ? json_stringn_nocheck(t, strlen(t)) : NULL; /* UTF-8 already */
        free(t);
        if (!text || json_object_set_new(slot, key, text) < 0)
            return true; /* out of memory: assemble() finds the text missing */
    }
    return true;
}

/* The version being put as one JSON array, from its objects' texts, into
 * *len bytes; NULL when one is missing (out of memory). Texts of objects
 * no longer in it are dropped. */
static char *assemble(struct alb_state_writer *w, size_t *len)
{
    size_t n = json_array_size(w->putting), i, total = 2;
    json_t *kept = json_object(), *o;
    json_t **texts = malloc((n ? n : 1) * sizeof(*texts)); /* borrowed from the maps, in order */
    char key[256];
    bool ok = kept && texts;
    json_array_foreach(w->putting, i, o)
    {
        if (!ok)
            break;
        json_t *slot = text_slot(w, o, key, sizeof(key));
        texts[i] = json_object_get(slot, key);
        ok = texts[i] && (slot != w->encoded || json_object_set(kept, key, texts[i]) == 0);
        total += json_string_length(texts[i]) + 1;
    }
    char *out = ok ? malloc(total) : NULL;
    if (out) {
        size_t at = 0;
        out[at++] = '[';
        for (i = 0; i < n; i++) {
            if (i)
                out[at++] = ',';
            memcpy(out + at, json_string_value(texts[i]), json_string_length(texts[i]));
            at += json_string_length(texts[i]);
        }
        out[at++] = ']';
        *len = at;
        json_decref(w->encoded); /* versions gone since: their texts go too */
        w->encoded = kept;
        kept = NULL;
    }
    free(texts);
    json_decref(kept);
    json_object_clear(w->transient);
    return out;
}

void alb_state_writer_put(struct alb_state_writer *w, json_t *objects)
{
    json_decref(w->putting); /* a newer version: the texts encoded so far stay */
    json_object_clear(w->transient); /* addresses no longer held */
    w->putting = json_incref(objects);
    w->next = 0;
}

bool alb_state_writer_step(struct alb_state_writer *w, double budget_s)
{
    if (!w->putting)
        return false;
    double t0 = alb_clock_now_s();
    bool all = encode_some(w, budget_s);
    size_t len = 0;
    char *text = all ? assemble(w, &len) : NULL;
    double took = alb_clock_now_s() - t0;
    if (all) {
        json_decref(w->putting);
        w->putting = NULL;
    }
    pthread_mutex_lock(&w->lock);
    w->stats.encode_s += took;
    if (text) {
        free(w->pending); /* not written yet, and older */
        w->pending = text;
        w->pending_len = len;
        pthread_cond_signal(&w->cond);
    } else if (all) {
        w->stats.failures++;
    }
    pthread_mutex_unlock(&w->lock);
    if (all && !text)
        alb_log_warn("action=\"saving the state\" out of memory");
    return !all;
}

void alb_state_writer_stats(struct alb_state_writer *w, struct alb_state_stats *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->stats;
    pthread_mutex_unlock(&w->lock);
}

void alb_state_writer_stop(struct alb_state_writer *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    destroy(w);
}

json_t *alb_state_load(const char *dir, char *err, size_t err_len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, ALB_STATE_FILE);
    err[0] = '\0';
    json_error_t je;
    json_t *v = json_load_file(path, 0, &je);
    if (!v) {
        if (access(path, F_OK) == 0)
            snprintf(err, err_len, "%s: line %d: %s", path, je.line, je.text);
        return NULL;
    }
    if (!json_is_array(v)) {
        snprintf(err, err_len, "%s: not an array of objects", path);
        json_decref(v);
        return NULL;
    }
    return v;
}
