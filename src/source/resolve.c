/* source/resolve.c : see resolve.h. */
#include "source/resolve.h"

#include "core/clock.h"
#include "core/loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct alb_resolver {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    /* under lock */
    json_t *wanted;  /* array of names */
    json_t *answers; /* name -> array of addresses */
    bool wake;       /* the wanted names changed: resolve now */
    bool stop;
    /* */
    unsigned refresh_ms;
    int fd; /* eventfd */
};

static int cmp_strings(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The numeric addresses <name> resolves to, sorted and unique ([] when it
 * does not resolve). */
static json_t *lookup(const char *name)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    json_t *out = json_array();
    if (getaddrinfo(name, NULL, &hints, &res) != 0)
        return out;
    char text[64][INET6_ADDRSTRLEN];
    char *sorted[64];
    size_t cnt = 0;
    for (struct addrinfo *ai = res; ai && cnt < 64; ai = ai->ai_next) {
        const void *a = ai->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                                                  : (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
            inet_ntop(ai->ai_family, a, text[cnt], sizeof(text[cnt]))) {
            sorted[cnt] = text[cnt];
            cnt++;
        }
    }
    freeaddrinfo(res);
    qsort(sorted, cnt, sizeof(*sorted), cmp_strings);
    for (size_t i = 0; i < cnt; i++)
        if (i == 0 || strcmp(sorted[i], sorted[i - 1]))
            json_array_append_new(out, json_string(sorted[i]));
    return out;
}

static void *run(void *arg)
{
    struct alb_resolver *r = arg;
    pthread_mutex_lock(&r->lock);
    while (!r->stop) {
        json_t *names = json_deep_copy(r->wanted);
        r->wake = false;
        pthread_mutex_unlock(&r->lock);
        /* outside the lock: lookups take as long as DNS does */
        json_t *found = json_object();
        for (size_t i = 0; i < json_array_size(names); i++) {
            const char *name = json_string_value(json_array_get(names, i));
            json_object_set_new(found, name, lookup(name));
        }
        json_decref(names);
        pthread_mutex_lock(&r->lock);
        bool changed = false;
        const char *name;
        json_t *addrs;
        json_object_foreach(found, name, addrs)
        {
            bool still_wanted = false;
            for (size_t i = 0; i < json_array_size(r->wanted) && !still_wanted; i++)
                still_wanted = !strcmp(json_string_value(json_array_get(r->wanted, i)), name);
            if (still_wanted && !json_equal(json_object_get(r->answers, name), addrs)) {
                json_object_set(r->answers, name, addrs);
                changed = true;
            }
        }
        json_decref(found);
        if (changed)
            alb_eventfd_ring(r->fd);
        if (!r->wake && !r->stop) {
            struct timespec until = alb_clock_deadline(r->refresh_ms);
            while (!r->wake && !r->stop && pthread_cond_timedwait(&r->cond, &r->lock, &until) != ETIMEDOUT)
                ;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* Frees what start made (the thread is not running). */
static void destroy(struct alb_resolver *r)
{
    if (r->fd != -1)
        close(r->fd);
    json_decref(r->wanted);
    json_decref(r->answers);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

struct alb_resolver *alb_resolver_start(unsigned refresh_ms)
{
    struct alb_resolver *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->refresh_ms = refresh_ms ? refresh_ms : ALB_RESOLVE_REFRESH_MS;
    r->wanted = json_array();
    r->answers = json_object();
    r->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    alb_clock_cond_init(&r->cond);
    pthread_mutex_init(&r->lock, NULL);
    if (!r->wanted || !r->answers || r->fd == -1 || pthread_create(&r->thread, NULL, run, r) != 0) {
        destroy(r);
        return NULL;
    }
    return r;
}

void alb_resolver_stop(struct alb_resolver *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    destroy(r);
}

int alb_resolver_fd(const struct alb_resolver *r) { return r->fd; }

void alb_resolver_want(struct alb_resolver *r, json_t *names)
{
    json_t *copy = json_deep_copy(names);
    if (!copy)
        return;
    pthread_mutex_lock(&r->lock);
    if (json_equal(copy, r->wanted)) {
        pthread_mutex_unlock(&r->lock);
        json_decref(copy);
        return;
    }
    json_decref(r->wanted);
    r->wanted = copy;
    /* answers for names no longer wanted go */
    json_t *kept = json_object();
    for (size_t i = 0; kept && i < json_array_size(copy); i++) {
        const char *name = json_string_value(json_array_get(copy, i));
        json_t *a = name ? json_object_get(r->answers, name) : NULL;
        if (a)
            json_object_set(kept, name, a);
    }
    if (kept) {
        json_decref(r->answers);
        r->answers = kept;
    }
    r->wake = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

json_t *alb_resolver_answers(struct alb_resolver *r)
{
    alb_eventfd_drain(r->fd); /* the caller takes what is there now */
    pthread_mutex_lock(&r->lock);
    json_t *copy = json_deep_copy(r->answers);
    pthread_mutex_unlock(&r->lock);
    return copy;
}
