/* source/statefile.c : see statefile.h. */
#include "source/statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int alb_state_save(const char *dir, json_t *objects, char *err, size_t err_len)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, ALB_STATE_FILE);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, ALB_STATE_FILE);
    char *text = json_dumps(objects, JSON_COMPACT);
    if (!text) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 || write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0 ? -1 : 0;
    int saved = errno;
    if (fd >= 0 && close(fd) < 0)
        rc = -1;
    free(text);
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
