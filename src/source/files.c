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
