/* tests/unit/source/statefile_test.c : the saved state is the array put,
 * whole, however much of it was encoded before; what is pending is
 * written when the writer stops; and it reads back. */
#include "source/statefile.h"
#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Version <rv> of Ingress <name> (uid "u-<name>"); rv NULL: an object
 * without uid and resourceVersion. */
static json_t *objv(const char *name, const char *host, const char *rv)
{
    json_t *o = json_pack("{s:s,s:{s:s,s:s},s:{s:[{s:s}]}}", "kind", "Ingress", "metadata", "name", name, "namespace",
                          "d", "spec", "rules", "host", host);
    if (rv) {
        char uid[64];
        snprintf(uid, sizeof(uid), "u-%s", name);
        json_t *md = json_object_get(o, "metadata");
        json_object_set_new(md, "uid", json_string(uid));
        json_object_set_new(md, "resourceVersion", json_string(rv));
    }
    return o;
}

static json_t *obj(const char *name, const char *host) { return objv(name, host, "1"); }

/* <objects> encoded whole and handed to the writer thread. */
static void save(struct alb_state_writer *w, json_t *objects)
{
    alb_state_writer_put(w, objects);
    CHECK(!alb_state_writer_step(w, 0));
}

/* Waits (5 s at most) until writer <w> has written <saves> files, or failed. */
static void wait_written(struct alb_state_writer *w, uint64_t saves)
{
    struct alb_state_stats st;
    for (int i = 0; i < 500; i++) {
        alb_state_writer_stats(w, &st);
        if (st.saves >= saves || st.failures)
            return;
        usleep(10000);
    }
}

static json_t *load(const char *dir)
{
    char err[512];
    return alb_state_load(dir, err, sizeof(err));
}

static void test_saves_what_was_put(void)
{
    char dir[] = "/tmp/alb-statefile-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char err[512];
    CHECK(alb_state_load(dir, err, sizeof(err)) == NULL && err[0] == '\0'); /* nothing saved: no error */
    struct alb_state_writer *w = alb_state_writer_start(dir);
    CHECK(w != NULL);
    json_t *a = obj("a", "a.example.com"), *b = obj("b", "b.example.com"), *c = obj("c", "c.example.com");
    json_t *first = json_pack("[O,O]", a, b), *second = json_pack("[O,O]", c, a), *none = json_array();
    save(w, first);
    wait_written(w, 1);
    json_t *back = load(dir);
    CHECK(back && json_equal(back, first));
    json_decref(back);
    /* a's text is reused, b goes, c comes: the file is exactly the new array */
    save(w, second);
    wait_written(w, 2);
    back = load(dir);
    CHECK(back && json_equal(back, second));
    json_decref(back);
    save(w, none);
    wait_written(w, 3);
    back = load(dir);
    CHECK(back && json_array_size(back) == 0);
    json_decref(back);
    struct alb_state_stats st;
    alb_state_writer_stats(w, &st);
    CHECK(st.saves == 3 && st.failures == 0 && st.bytes == 2);
    /* a new version of a (its text is new), and objects without uid and resourceVersion */
    json_t *third = json_pack("[o,o,o,O]", objv("a", "changed.example.com", "2"), objv("x", "x.example.com", NULL),
                              objv("y", "y.example.com", NULL), c);
    save(w, third);
    wait_written(w, 4);
    back = load(dir);
    CHECK(back && json_equal(back, third));
    json_decref(back);
    json_decref(third); /* x and y freed */
    json_t *fourth = json_pack("[o,O]", objv("z", "z.example.com", NULL), c); /* maybe where x or y was */
    save(w, fourth);
    wait_written(w, 5);
    back = load(dir);
    CHECK(back && json_equal(back, fourth));
    json_decref(back);
    json_decref(fourth);
    /* what is pending when the writer stops is written */
    save(w, first);
    save(w, second); /* replaces the first, if not written yet */
    alb_state_writer_stop(w);
    back = load(dir);
    CHECK(back && json_equal(back, second));
    json_decref(back);
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, ALB_STATE_FILE);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600); /* Secrets are in it */
    unlink(path);
    rmdir(dir);
    json_decref(first), json_decref(second), json_decref(none);
    json_decref(a), json_decref(b), json_decref(c);
}

/* A large state is encoded over steps; a newer version put meanwhile
 * replaces it, keeping what was encoded; the file is the newest, whole. */
static void test_encodes_in_steps(void)
{
    char dir[] = "/tmp/alb-statefile-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    struct alb_state_writer *w = alb_state_writer_start(dir);
    json_t *older = json_array(), *newer = json_array();
    char name[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(name, sizeof(name), "ing%d", i);
        json_t *o = obj(name, "a.example.com");
        json_array_append(older, o);
        if (i % 3)
            json_array_append(newer, o); /* a third goes */
        json_decref(o);
    }
    json_array_append_new(newer, obj("new", "new.example.com"));
    alb_state_writer_put(w, older);
    int steps = 1;
    while (alb_state_writer_step(w, 0.0001) && steps < 100000) {
        if (++steps == 3)
            alb_state_writer_put(w, newer);
    }
    CHECK(steps > 3); /* not all at once */
    CHECK(!alb_state_writer_step(w, 0.0001)); /* nothing put since: nothing to do */
    alb_state_writer_stop(w);
    json_t *back = load(dir);
    CHECK(back && json_equal(back, newer));
    json_decref(back);
    json_decref(older), json_decref(newer);
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, ALB_STATE_FILE);
    unlink(path);
    rmdir(dir);
}

static void test_unwritable_dir_is_counted(void)
{
    struct alb_state_writer *w = alb_state_writer_start("/nonexistent-alb-dir");
    json_t *objects = json_pack("[o]", obj("a", "a.example.com"));
    save(w, objects);
    wait_written(w, 1);
    struct alb_state_stats st;
    alb_state_writer_stats(w, &st);
    CHECK(st.failures == 1 && st.saves == 0);
    alb_state_writer_stop(w);
    json_decref(objects);
}

static void test_broken_file_is_an_error(void)
{
    char dir[] = "/tmp/alb-statefile-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[600], err[512];
    snprintf(path, sizeof(path), "%s/%s", dir, ALB_STATE_FILE);
    FILE *f = fopen(path, "w");
    fputs("[{\"kind\":", f);
    fclose(f);
    CHECK(alb_state_load(dir, err, sizeof(err)) == NULL && strstr(err, ALB_STATE_FILE));
    unlink(path);
    rmdir(dir);
}

TEST_MAIN(TEST_ENTRY(test_saves_what_was_put), TEST_ENTRY(test_encodes_in_steps),
          TEST_ENTRY(test_unwritable_dir_is_counted), TEST_ENTRY(test_broken_file_is_an_error))
