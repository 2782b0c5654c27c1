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

/* Writes <len> bytes of <text> as the state file in <dir>. Returns 0, or
 * -1 with err[]. */
static int write_state(const char *dir, const char *text, size_t len, char *err, size_t err_len)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, ALB_STATE_FILE);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, ALB_STATE_FILE);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 || write_all(fd, text, len) < 0 || fsync(fd) < 0 ? -1 : 0;
    int saved = errno;
    if (fd >= 0 && close(fd) < 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) < 0) {
        saved = errno;
        rc = -1;
    }
    if (rc < 0) {
        snprintf(err, err_len, "%s: %s", tmp, strerror(saved));
        unlink(tmp);
    }
    return rc;
}

struct alb_state_writer {
    const char *dir;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    json_t *encoded; /* the putting thread's own: "%p" -> [object, its text] */
    /* under lock */
    char *pending; /* the text to write next, or NULL */
    size_t pending_len;
    bool stop;
    struct alb_state_stats stats;
};

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
        int rc = write_state(w->dir, text, len, err, sizeof(err));
        double took = alb_clock_now_s() - t0;
        free(text);
        if (rc < 0)
            alb_log_warn("action=\"saving the state\" %s", err);
        pthread_mutex_lock(&w->lock);
        w->stats.write_s += took;
        if (rc < 0) {
            w->stats.failures++;
        } else {
            w->stats.saves++;
            w->stats.bytes = len;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

struct alb_state_writer *alb_state_writer_start(const char *dir)
{
    struct alb_state_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->dir = dir;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (pthread_create(&w->thread, NULL, writer_thread, w) != 0) {
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    return w;
}

/* The text of <objects> (an array) as one JSON array, into *len bytes;
 * NULL when out of memory. Each object's text is kept in <w>->encoded by
 * its address, with a reference that keeps the address from being reused,
 * so only objects new since the last call are encoded (the store's objects
 * never change; see source/informer.h). */
static char *encode(struct alb_state_writer *w, json_t *objects, size_t *len)
{
    json_t *kept = json_object(), *texts = json_array(), *o;
    size_t i, total = 2;
    char key[32];
    bool ok = kept && texts;
    json_array_foreach(objects, i, o)
    {
        if (!ok)
            break;
        snprintf(key, sizeof(key), "%p", (void *)o);
        json_t *entry = json_object_get(w->encoded, key);
        if (entry) {
            json_incref(entry);
        } else {
            char *t = json_dumps(o, JSON_COMPACT);
            entry = t ? json_pack("[O,s]", o, t) : NULL;
            free(t);
        }
        json_t *text = json_array_get(entry, 1);
        ok = text && json_array_append(texts, text) == 0 && json_object_set_new(kept, key, entry) == 0;
        total += json_string_length(text) + 1;
    }
    char *out = ok ? malloc(total) : NULL;
    if (out) {
        size_t at = 0;
        out[at++] = '[';
        json_array_foreach(texts, i, o)
        {
            if (i)
                out[at++] = ',';
            memcpy(out + at, json_string_value(o), json_string_length(o));
            at += json_string_length(o);
        }
        out[at++] = ']';
        *len = at;
        json_decref(w->encoded); /* objects gone since: their texts go too */
        w->encoded = kept;
        kept = NULL;
    }
    json_decref(kept);
    json_decref(texts);
    return out;
}

void alb_state_writer_put(struct alb_state_writer *w, json_t *objects)
{
    double t0 = alb_clock_now_s();
    size_t len = 0;
    char *text = encode(w, objects, &len);
    double took = alb_clock_now_s() - t0;
    pthread_mutex_lock(&w->lock);
    w->stats.encode_s += took;
    if (text) {
        free(w->pending); /* not written yet, and older */
        w->pending = text;
        w->pending_len = len;
        pthread_cond_signal(&w->cond);
    } else {
        w->stats.failures++;
    }
    pthread_mutex_unlock(&w->lock);
    if (!text)
        alb_log_warn("action=\"saving the state\" out of memory");
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
    free(w->pending);
    json_decref(w->encoded);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
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
