/* source/files.c : see files.h. */
#include "source/files.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source/yaml.h"

static bool is_manifest_name(const char *n)
{
    size_t len = strlen(n);
    if (n[0] == '.')
        return false; /* editors' temporary and backup files */
    return (len > 5 && !strcmp(n + len - 5, ".yaml")) || (len > 4 && !strcmp(n + len - 4, ".yml")) ||
           (len > 5 && !strcmp(n + len - 5, ".json"));
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Reads a whole file; NULL with err[] set. */
static char *read_file(const char *path, size_t *len, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "%s", strerror(errno));
        return NULL;
    }
    char *buf = malloc(ALB_MANIFEST_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, ALB_MANIFEST_MAX_BYTES + 1, f) : 0;
    bool bad = !buf || ferror(f) || n > ALB_MANIFEST_MAX_BYTES;
    fclose(f);
    if (bad) {
        snprintf(err, err_len, "%s", !buf ? "out of memory" : n > ALB_MANIFEST_MAX_BYTES ? "larger than 16 MiB" : "read error");
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
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
        if (!is_manifest_name(e->d_name))
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
        size_t len;
        char *text = read_file(path, &len, err, sizeof(err));
        json_t *docs = text ? alb_yaml_load(text, len, err, sizeof(err)) : NULL;
        json_t *objs = docs ? objects_of(docs, err, sizeof(err)) : NULL;
        free(text);
        json_decref(docs);
        if (objs) {
            files[i].objects = objs;
            continue;
        }
        struct alb_manifest_file *prev = find(m, names[i]);
        snprintf(line, sizeof(line), "%s: %s%s", path, err,
                 prev ? "; keeping the objects of its last good version" : "");
        report(ctx, line);
        files[i].objects = prev ? json_incref(prev->objects) : json_array();
    }
    free(names);
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
