/* source/yaml.c : see yaml.h. A recursive descent over libyaml's events. */
#include "source/yaml.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 100 /* nesting; Kubernetes objects are far shallower */

struct anchor {
    char *name;   /* owned */
    json_t *value; /* one reference */
};

struct ctx {
    yaml_parser_t parser;
    char *err;
    size_t err_len;
    size_t nodes;
    struct anchor *anchors; /* owned */
    size_t anchor_cnt, anchor_cap;
};

static int fail_at(struct ctx *c, const yaml_mark_t *m, const char *what)
{
    snprintf(c->err, c->err_len, "line %zu column %zu: %s", m->line + 1, m->column + 1, what);
    return -1;
}

static bool next(struct ctx *c, yaml_event_t *ev)
{
    if (yaml_parser_parse(&c->parser, ev))
        return true;
    snprintf(c->err, c->err_len, "line %zu column %zu: %s", c->parser.problem_mark.line + 1,
             c->parser.problem_mark.column + 1, c->parser.problem ? c->parser.problem : "invalid YAML");
    return false;
}

/* Counts values against the budget (aliases count every time). */
static bool spend(struct ctx *c, size_t n, const yaml_mark_t *m)
{
    c->nodes += n;
    if (c->nodes > ALB_YAML_MAX_NODES) {
        fail_at(c, m, "too many values (aliases expanded): refusing a YAML bomb");
        return false;
    }
    return true;
}

static size_t count_nodes(json_t *v)
{
    size_t n = 1;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            n += count_nodes(json_array_get(v, i));
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) n += count_nodes(x);
    }
    return n;
}

static void remember(struct ctx *c, const yaml_char_t *anchor, json_t *v)
{
    if (!anchor)
        return;
    if (c->anchor_cnt == c->anchor_cap) {
        size_t cap = c->anchor_cap ? c->anchor_cap * 2 : 8;
        struct anchor *a = realloc(c->anchors, cap * sizeof(*a));
        if (!a)
            return;
        c->anchors = a;
        c->anchor_cap = cap;
    }
    c->anchors[c->anchor_cnt].name = strdup((const char *)anchor);
    c->anchors[c->anchor_cnt].value = json_incref(v);
    if (c->anchors[c->anchor_cnt].name)
        c->anchor_cnt++;
    else
        json_decref(v);
}

/* YAML 1.2 core schema for plain scalars. */
static json_t *plain_scalar(const char *s, size_t n)
{
    if (n == 0 || (n == 1 && s[0] == '~') || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL"))
        return json_null();
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
        return json_true();
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))
        return json_false();
    char *end;
    errno = 0;
    if ((s[0] >= '0' && s[0] <= '9') || ((s[0] == '-' || s[0] == '+') && n > 1)) {
        int base = 10;
        const char *p = s;
        if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
            base = s[1] == 'x' ? 16 : 8;
            p = s + 2;
        }
        long long v = strtoll(p, &end, base);
        if (*end == '\0' && errno == 0 && end != p)
            return json_integer(v);
        errno = 0;
        double d = strtod(s, &end);
        if (*end == '\0' && errno == 0 && isfinite(d) && strpbrk(s, ".eE"))
            return json_real(d);
    }
    return json_stringn(s, n);
}

static json_t *parse_node(struct ctx *c, yaml_event_t *ev, int depth);

static json_t *parse_mapping(struct ctx *c, yaml_event_t *start, int depth)
{
    json_t *obj = json_object();
    json_t *merged = json_object(); /* "<<" keys: under the mapping's own keys, whatever the order */
    yaml_mark_t mark = start->start_mark;
    const yaml_char_t *anchor_copy = start->data.mapping_start.anchor;
    char *anchor = anchor_copy ? strdup((const char *)anchor_copy) : NULL;
    for (;;) {
        yaml_event_t k;
        if (!next(c, &k))
            goto fail;
        if (k.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&k);
            break;
        }
        if (k.type != YAML_SCALAR_EVENT) {
            fail_at(c, &k.start_mark, "a mapping key must be a scalar");
            yaml_event_delete(&k);
            goto fail;
        }
        char *key = strndup((const char *)k.data.scalar.value, k.data.scalar.length);
        yaml_mark_t kmark = k.start_mark;
        yaml_event_delete(&k);
        yaml_event_t v;
        if (!key || !next(c, &v)) {
            free(key);
            goto fail;
        }
        json_t *val = parse_node(c, &v, depth + 1);
        if (!val) {
            free(key);
            goto fail;
        }
        if (strcmp(key, "<<") == 0 && (json_is_object(val) || json_is_array(val))) {
            if (json_is_object(val))
                json_object_update_missing(merged, val);
            for (size_t i = 0; json_is_array(val) && i < json_array_size(val); i++)
                if (json_is_object(json_array_get(val, i)))
                    json_object_update_missing(merged, json_array_get(val, i));
            json_decref(val);
        } else {
            if (json_object_get(obj, key)) {
                free(key);
                json_decref(val);
                fail_at(c, &kmark, "duplicate mapping key");
                goto fail;
            }
            json_object_set_new(obj, key, val);
        }
        free(key);
    }
    (void)mark;
    json_object_update_missing(obj, merged);
    json_decref(merged);
    if (anchor) {
        remember(c, (const yaml_char_t *)anchor, obj);
        free(anchor);
    }
    return obj;
fail:
    free(anchor);
    json_decref(merged);
    json_decref(obj);
    return NULL;
}

static json_t *parse_sequence(struct ctx *c, yaml_event_t *start, int depth)
{
    json_t *arr = json_array();
    char *anchor = start->data.sequence_start.anchor ? strdup((const char *)start->data.sequence_start.anchor) : NULL;
    for (;;) {
        yaml_event_t v;
        if (!next(c, &v))
            goto fail;
        if (v.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&v);
            break;
        }
        json_t *val = parse_node(c, &v, depth + 1);
        if (!val)
            goto fail;
        json_array_append_new(arr, val);
    }
    if (anchor) {
        remember(c, (const yaml_char_t *)anchor, arr);
        free(anchor);
    }
    return arr;
fail:
    free(anchor);
    json_decref(arr);
    return NULL;
}

/* Parses the node that starts with <ev> (which this consumes). */
static json_t *parse_node(struct ctx *c, yaml_event_t *ev, int depth)
{
    json_t *out = NULL;
    if (depth > MAX_DEPTH) {
        fail_at(c, &ev->start_mark, "nested too deeply");
        yaml_event_delete(ev);
        return NULL;
    }
    if (!spend(c, 1, &ev->start_mark)) {
        yaml_event_delete(ev);
        return NULL;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        const char *s = (const char *)ev->data.scalar.value;
        size_t n = ev->data.scalar.length;
        const char *tag = (const char *)ev->data.scalar.tag;
        if (strlen(s) != n)
            out = NULL, fail_at(c, &ev->start_mark, "NUL byte in a scalar");
        else if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || (tag && !strcmp(tag, YAML_STR_TAG)))
            out = json_stringn(s, n);
        else
            out = plain_scalar(s, n);
        if (out)
            remember(c, ev->data.scalar.anchor, out);
        break;
    }
    case YAML_MAPPING_START_EVENT:
        out = parse_mapping(c, ev, depth);
        break;
    case YAML_SEQUENCE_START_EVENT:
        out = parse_sequence(c, ev, depth);
        break;
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        for (size_t i = c->anchor_cnt; i-- > 0;) {
            if (!strcmp(c->anchors[i].name, name)) {
                if (spend(c, count_nodes(c->anchors[i].value), &ev->start_mark))
                    out = json_deep_copy(c->anchors[i].value);
                break;
            }
        }
        if (!out && c->nodes <= ALB_YAML_MAX_NODES)
            fail_at(c, &ev->start_mark, "unknown alias");
        break;
    }
    default:
        fail_at(c, &ev->start_mark, "unexpected YAML event");
        break;
    }
    yaml_event_delete(ev);
    return out;
}

json_t *alb_yaml_load(const char *text, size_t len, char *err, size_t err_len)
{
    struct ctx c = {.err = err, .err_len = err_len};
    err[0] = '\0';
    if (!yaml_parser_initialize(&c.parser)) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&c.parser, (const unsigned char *)text, len);
    json_t *docs = json_array();
    bool ok = false;
    for (;;) {
        yaml_event_t ev;
        if (!next(&c, &ev))
            break;
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            ok = true;
            break;
        }
        if (ev.type != YAML_DOCUMENT_START_EVENT) {
            yaml_event_delete(&ev);
            continue; /* stream start */
        }
        yaml_event_delete(&ev);
        yaml_event_t root;
        if (!next(&c, &root))
            break;
        if (root.type == YAML_DOCUMENT_END_EVENT) {
            yaml_event_delete(&root);
            continue; /* empty document */
        }
        json_t *v = parse_node(&c, &root, 0);
        if (!v)
            break;
        if (!json_is_null(v))
            json_array_append_new(docs, v);
        else
            json_decref(v);
        yaml_event_t end;
        if (!next(&c, &end))
            break;
        yaml_event_delete(&end);
    }
    for (size_t i = 0; i < c.anchor_cnt; i++) {
        free(c.anchors[i].name);
        json_decref(c.anchors[i].value);
    }
    free(c.anchors);
    yaml_parser_delete(&c.parser);
    if (!ok) {
        json_decref(docs);
        if (!err[0])
            snprintf(err, err_len, "invalid YAML");
        return NULL;
    }
    return docs;
}
