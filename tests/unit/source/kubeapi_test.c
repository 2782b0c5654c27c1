/* tests/unit/source/kubeapi_test.c : kubeconfig files as kubectl reads
 * them (the current context's cluster and user), each kind of mistake a
 * clear error naming the file, and query escaping. Requests themselves are
 * tested against the stand-in API server (tests/integration/test_cluster.py). */
#include <stdlib.h>
#include <unistd.h>

#include "source/kubeapi.h"
#include "test.h"

static char dir[] = "/tmp/alb-kubeapi-test-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

#define CONFIG(ctx, cluster_extra, user)                                                                     \
    "apiVersion: v1\nkind: Config\ncurrent-context: " ctx "\n"                                              \
    "clusters:\n- name: c1\n  cluster:\n    server: https://127.0.0.1:6443/\n" cluster_extra               \
    "contexts:\n- name: other\n  context: {cluster: none, user: u1}\n- name: main\n  context: {cluster: c1, user: u1}\n" \
    "users:\n- name: u1\n  user:\n" user

static struct alb_kube *load(const char *text, char *err, size_t len)
{
    err[0] = '\0';
    return alb_kube_from_kubeconfig(write_file("config", text), err, len);
}

static void test_current_context(void)
{
    char err[512];
    struct alb_kube *k = load(CONFIG("main", "    certificate-authority-data: LS0tLS1CRUdJTg==\n", "    token: abc\n"),
                              err, sizeof(err));
    CHECK(k != NULL);
    if (k)
        CHECK_EQ_STR(alb_kube_server(k), strlen(alb_kube_server(k)), "https://127.0.0.1:6443"); /* no trailing / */
    alb_kube_free(k);
    k = load(CONFIG("main", "    certificate-authority: ca.crt\n", "    client-certificate: c.crt\n    client-key: c.key\n"),
             err, sizeof(err));
    CHECK(k != NULL);
    alb_kube_free(k);
}

static void test_mistakes_are_named(void)
{
    char err[512];
    CHECK(load(CONFIG("missing", "", "    token: abc\n"), err, sizeof(err)) == NULL);
    CHECK(strstr(err, "missing") != NULL && strstr(err, dir) != NULL);
    CHECK(load(CONFIG("other", "", "    token: abc\n"), err, sizeof(err)) == NULL);
    CHECK(strstr(err, "no http(s) server") != NULL);
    CHECK(load(CONFIG("main", "    certificate-authority-data: '***'\n", "    token: abc\n"), err, sizeof(err)) == NULL);
    CHECK(strstr(err, "certificate-authority-data is not base64") != NULL);
    CHECK(load(CONFIG("main", "", "    exec: {command: aws}\n"), err, sizeof(err)) == NULL);
    CHECK(strstr(err, "exec") != NULL);
    CHECK(load("clusters: [unclosed\n", err, sizeof(err)) == NULL);
    CHECK(strstr(err, "line") != NULL);
    CHECK(alb_kube_from_kubeconfig("/nonexistent/kubeconfig", err, sizeof(err)) == NULL);
    CHECK(strstr(err, "/nonexistent/kubeconfig") != NULL);
}

static void test_in_cluster_needs_the_environment(void)
{
    char err[512];
    unsetenv("KUBERNETES_SERVICE_HOST");
    CHECK(alb_kube_in_cluster(dir, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "KUBERNETES_SERVICE_HOST") != NULL);
    setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
    CHECK(alb_kube_in_cluster(dir, err, sizeof(err)) == NULL); /* no token file there */
    CHECK(strstr(err, "token") != NULL);
    write_file("token", "abc\n");
    struct alb_kube *k = alb_kube_in_cluster(dir, err, sizeof(err));
    CHECK(k != NULL);
    if (k)
        CHECK_EQ_STR(alb_kube_server(k), strlen(alb_kube_server(k)), "https://10.0.0.1:443");
    alb_kube_free(k);
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
    k = alb_kube_in_cluster(dir, err, sizeof(err));
    if (k)
        CHECK_EQ_STR(alb_kube_server(k), strlen(alb_kube_server(k)), "https://[fd00::1]:6443");
    alb_kube_free(k);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

static void test_escape(void)
{
    char out[64];
    CHECK(alb_kube_escape("type=kubernetes.io/tls", out, sizeof(out)));
    CHECK_EQ_STR(out, strlen(out), "type%3Dkubernetes.io%2Ftls");
    CHECK(!alb_kube_escape("a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v", out, 20)); /* does not fit */
}

static void setup(void) { CHECK(mkdtemp(dir) != NULL); }

static void cleanup(void)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/config", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/token", dir);
    unlink(path);
    rmdir(dir);
}

TEST_MAIN(TEST_ENTRY(setup), TEST_ENTRY(test_current_context), TEST_ENTRY(test_mistakes_are_named),
          TEST_ENTRY(test_in_cluster_needs_the_environment), TEST_ENTRY(test_escape), TEST_ENTRY(cleanup))
