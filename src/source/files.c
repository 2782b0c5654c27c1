/* source/files.c : see files.h. */
#include "source/files.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "source/yaml.h"

bool alb_manifest_is_file_name(const char *n)
{
    size_t len = strlen(n);
    if (n[0] == '.')
        return false; /* editors' temporary and backup files */
    return (len > 5 && !strcmp(n + len - 5, ".yaml")) || (len > 4 && !strcmp(n + len - 4, ".yml")) ||
           (len > 5 && !strcmp(n + len - 5, ".json"));
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A buffer reused across the files of one load: one large allocation per
 * file made the allocator consolidate its heap over and over. */
struct readbuf {
    char *p;
    size_t cap;
};

/* Reads a whole file (at most ALB_MANIFEST_MAX_BYTES) into <rb>; NULL with
 * err[] set. *st receives what was read. */
static char *read_file(struct readbuf *rb, const char *path, size_t *len, struct stat *st, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "%s", strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), st) == -1 || st->st_size < 0 || (unsigned long long)st->st_size > ALB_MANIFEST_MAX_BYTES) {
        snprintf(err, err_len, "%s", st->st_size > 0 ? "larger than 16 MiB" : "cannot stat");
        fclose(f);
        return NULL;
    }
    size_t want = (size_t)st->st_size;
    if (want + 1 > rb->cap) {
        size_t cap = rb->cap ? rb->cap : 65536;
        while (cap < want + 1)
            cap *= 2;
        char *p = realloc(rb->p, cap);
        if (!p) {
            snprintf(err, err_len, "out of memory");
            fclose(f);
            return NULL;
        }
        rb->p = p;
        rb->cap = cap;
    }
    size_t n = fread(rb->p, 1, want + 1, f);
    bool bad = ferror(f) || n > want; /* grew while read: read it next time */
    fclose(f);
    if (bad) {
        snprintf(err, err_len, "changed while being read");
        return NULL;
    }
    *len = n;
    return rb->p;
}

/* Parses a manifest file: JSON files by the JSON parser (faster, and its
 * errors name the line), others as YAML. Returns every document. */
static json_t *parse_manifest(const char *name, const char *text, size_t len, char *err, size_t err_len)
{
    size_t n = strlen(name);
    if (n > 5 && !strcmp(name + n - 5, ".json")) {
        json_error_t je;
        json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
        if (!v) {
            snprintf(err, err_len, "line %d column %d: %s", je.line, je.column, je.text);
            return NULL;
        }
        json_t *docs = json_array();
        json_array_append_new(docs, v);
        return docs;
    }
    return alb_yaml_load(text, len, err, err_len);
}

/* The objects of one parsed file: each document, `kind: List` expanded. */
static json_t *objects_of(json_t *docs, char *err, size_t err_len)
{
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(docs); i++) {
        json_t *d = json_array_get(docs, i);
        if (!json_is_object(d)) {
            snprintf(err, err_len, "document %zu is not an object", i + 1);
            json_decref(out);
            return NULL;
        }
        json_t *kind = json_object_get(d, "kind");
        if (json_is_string(kind) && !strcmp(json_string_value(kind), "List")) {
            json_t *items = json_object_get(d, "items");
            for (size_t k = 0; json_is_array(items) && k < json_array_size(items); k++)
                if (json_is_object(json_array_get(items, k)))
                    json_array_append(out, json_array_get(items, k));
        } else {
            json_array_append(out, d);
        }
    }
    return out;
}

unsigned alb_manifest_change_of(json_t *o)
{
    const char *kind = json_string_value(json_object_get(o, "kind"));
    return kind && (!strcmp(kind, "EndpointSlice") || !strcmp(kind, "Endpoints")) ? ALB_MANIFEST_CHANGED_ENDPOINTS
                                                                                  : ALB_MANIFEST_CHANGED_OTHER;
}

/* The identity of an object: kind, namespace and name. */
static void identity_of(json_t *o, char *out, size_t len)
{
    json_t *md = json_object_get(o, "metadata");
    const char *kind = json_string_value(json_object_get(o, "kind"));
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    const char *name = json_string_value(json_object_get(md, "name"));
    snprintf(out, len, "%s/%s/%s", kind ? kind : "", ns ? ns : "", name ? name : "");
}

/* The ALB_MANIFEST_CHANGED_* bits for a file whose objects went from <old>
 * to <now> (either may be NULL: the file is new, or gone). Objects are
 * matched by identity; an object whose identity repeats counts as changed. */
static unsigned changes_between(json_t *old, json_t *now)
{
    unsigned bits = 0;
    json_t *by_id = json_object();
    char id[1024];
    for (size_t i = 0; i < json_array_size(old); i++) {
        json_t *o = json_array_get(old, i);
        identity_of(o, id, sizeof(id));
        if (!by_id || json_object_get(by_id, id))
            bits |= alb_manifest_change_of(o);
        else
            json_object_set(by_id, id, o);
    }
    for (size_t i = 0; i < json_array_size(now); i++) {
        json_t *o = json_array_get(now, i);
        identity_of(o, id, sizeof(id));
        json_t *was = by_id ? json_object_get(by_id, id) : NULL;
        if (!was || !json_equal(was, o))
            bits |= alb_manifest_change_of(o) | (was ? alb_manifest_change_of(was) : 0);
        if (was)
            json_object_del(by_id, id);
        else if (by_id)
            json_object_set(by_id, id, json_null()); /* seen: a second one is a change */
    }
    const char *key;
    json_t *o;
    json_object_foreach(by_id, key, o)
    {
        if (!json_is_null(o))
            bits |= alb_manifest_change_of(o); /* removed */
    }
    json_decref(by_id);
    return bits;
}

static struct alb_manifest_file *find(struct alb_manifests *m, const char *name)
{
    for (size_t i = 0; i < m->cnt; i++)
        if (!strcmp(m->files[i].name, name))
            return &m->files[i];
    return NULL;
}

int alb_manifests_load(struct alb_manifests *m, const char *dir, alb_manifest_report_fn *report, void *ctx)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    char **names = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!alb_manifest_is_file_name(e->d_name))
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            char **n2 = realloc(names, cap * sizeof(*n2));
            if (!n2)
                break;
            names = n2;
        }
        if ((names[cnt] = strdup(e->d_name)))
            cnt++;
    }
    closedir(d);
    if (cnt)
        qsort(names, cnt, sizeof(*names), cmp_names);

    struct readbuf rb = {NULL, 0};
    struct alb_manifest_file *files = calloc(cnt ? cnt : 1, sizeof(*files));
    if (!files) {
        for (size_t i = 0; i < cnt; i++)
            free(names[i]);
        free(names);
        return -ENOMEM;
    }
    for (size_t i = 0; i < cnt; i++) {
        char path[4096], err[512], line[4700];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        files[i].name = names[i];
        struct alb_manifest_file *prev = find(m, names[i]);
        struct stat st;
        /* Timestamps have clock-tick granularity: two writes of the same
         * size within one tick look alike. A file changed in the last two
         * seconds is therefore always read again. */
        if (prev && stat(path, &st) == 0 && time(NULL) - st.st_mtim.tv_sec > 2 &&
            (unsigned long long)st.st_dev == prev->dev &&
            (unsigned long long)st.st_ino == prev->ino && (unsigned long long)st.st_size == prev->size &&
            (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec == prev->mtime_ns) {
            files[i] = *prev; /* unchanged: keep what was read */
            files[i].name = names[i];
            files[i].objects = json_incref(prev->objects);
            continue;
        }
        size_t len;
        char *text = read_file(&rb, path, &len, &st, err, sizeof(err));
        json_t *docs = text ? parse_manifest(names[i], text, len, err, sizeof(err)) : NULL;
        json_t *objs = docs ? objects_of(docs, err, sizeof(err)) : NULL;
        json_decref(docs);
        if (objs) {
            m->changes |= changes_between(prev ? prev->objects : NULL, objs);
            files[i].objects = objs;
            files[i].dev = (unsigned long long)st.st_dev;
            files[i].ino = (unsigned long long)st.st_ino;
            files[i].size = (unsigned long long)st.st_size;
            files[i].mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
            continue;
        }
        snprintf(line, sizeof(line), "%s: %s%s", path, err,
                 prev ? "; keeping the objects of its last good version" : "");
        report(ctx, line);
        files[i].objects = prev ? json_incref(prev->objects) : json_array();
    }
    free(names);
    free(rb.p);
    /* files gone: both lists are sorted by name */
    for (size_t i = 0, k = 0; i < m->cnt; i++) {
        while (k < cnt && strcmp(files[k].name, m->files[i].name) < 0)
            k++;
        if (k == cnt || strcmp(files[k].name, m->files[i].name))
            m->changes |= changes_between(m->files[i].objects, NULL);
    }
    alb_manifests_deinit(m);
    m->files = files;
    m->cnt = cnt;
    return 0;
}

json_t *alb_manifests_objects(const struct alb_manifests *m)
{
    json_t *all = json_array();
    for (size_t i = 0; i < m->cnt; i++)
        json_array_extend(all, m->files[i].objects);
    return all;
}

void alb_manifests_deinit(struct alb_manifests *m)
{
    for (size_t i = 0; i < m->cnt; i++) {
        free(m->files[i].name);
        json_decref(m->files[i].objects);
    }
    free(m->files);
    m->files = NULL;
    m->cnt = 0;
}
