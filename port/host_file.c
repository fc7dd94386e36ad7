/* Host-only file helpers for the CLI and the samples (include/tma/host_file.h). */
#define _DEFAULT_SOURCE
#include "tma/host_file.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The canonical folder of path (realpath of its directory part) plus its
 * last component; 0, or -1 when the folder does not resolve. */
static int canon(const char *path, char *out, size_t cap)
{
    char dir[PATH_MAX], real[PATH_MAX];
    const char *slash = strrchr(path, '/'), *base = slash != NULL ? slash + 1 : path;
    if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
    } else if (slash == path) {
        snprintf(dir, sizeof(dir), "/");
    } else {
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    }
    if (realpath(dir, real) == NULL) {
        return -1;
    }
    return snprintf(out, cap, "%s/%s", real, base) < (int)cap ? 0 : -1;
}

bool tma_host_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    char ca[2 * PATH_MAX], cb[2 * PATH_MAX];
    bool ea, eb;
    if (a == NULL || b == NULL) {
        return false;
    }
    ea = stat(a, &sa) == 0;
    eb = stat(b, &sb) == 0;
    if (ea && eb) {
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    }
    if (ea != eb) {
        return false;
    }
    return canon(a, ca, sizeof(ca)) == 0 && canon(b, cb, sizeof(cb)) == 0 && strcmp(ca, cb) == 0;
}
