/* The trustm CLI's read_file() (tools/trustm_util.c) reads files that may be
 * secrets (binding file, CA key): no block it gives back to the allocator
 * may still hold what it read. Linked with -Wl,--wrap=free,--wrap=realloc:
 * every block released by free() or handed to realloc() (which may free it
 * as it is) is searched for the file's marker. Cases: a file over the first
 * 4 KB buffer (the buffer grows twice), a file refused as too large, stdin.
 * Before: the buffer grew with realloc(), which could leave the first 4 KB
 * of a longer file in freed memory (SEC15, docs/security.md). */
#include <fcntl.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tma_check.h"
#include "trustm.h"

static int failures;
static const char marker[] = "FIX15-SECRET-";
static int unwiped; /* blocks released with the marker in them */
static bool armed;

void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static void scan(const void *p, const char *how)
{
    size_t n, m = sizeof(marker) - 1, i;
    const char *b = p;
    if (!armed || p == NULL) {
        return;
    }
    n = malloc_usable_size((void *)p);
    for (i = 0; i + m <= n; i++) {
        if (memcmp(b + i, marker, m) == 0) {
            fprintf(stderr, "a %zu-byte block %s still holds the file at offset %zu\n", n, how, i);
            unwiped++;
            return;
        }
    }
}

void *__wrap_realloc(void *p, size_t n)
{
    scan(p, "given to realloc()");
    return __real_realloc(p, n);
}

void __wrap_free(void *p)
{
    scan(p, "freed");
    __real_free(p);
}

/* A file of n bytes: the marker and a counter, over and over. */
static void make_file(const char *path, size_t n)
{
    FILE *f = fopen(path, "wb");
    size_t i = 0;
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    while (i < n) {
        char line[32];
        int l = snprintf(line, sizeof(line), "%s%08zu\n", marker, i);
        fwrite(line, 1, (size_t)l <= n - i ? (size_t)l : n - i, f);
        i += (size_t)l;
    }
    fclose(f);
}

/* Reads path and checks length, content and that nothing was left behind;
 * the caller's copy is wiped before it is freed, as load_binding() does. */
static void read_ok(const char *path, size_t want)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    unwiped = 0;
    armed = true;
    EXPECT(read_file(path, &buf, &n, 1u << 20) == 0, "read_file(%s) failed", path);
    EXPECT(n == want, "%s: read %zu bytes, want %zu", path, n, want);
    EXPECT(buf != NULL && memcmp(buf, marker, sizeof(marker) - 1) == 0, "%s: content", path);
    if (buf != NULL) {
        memset(buf, 0, n);
        free(buf);
    }
    armed = false;
    EXPECT(unwiped == 0, "%s (%zu bytes): %d released block(s) held the file", path, want, unwiped);
}

int main(void)
{
    char dir[] = "/tmp/tls_cli_readfile.XXXXXX", path[64];
    uint8_t *buf = NULL;
    size_t n = 0;
    int fd;

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/f", dir);

    /* Grows 4 KB -> 8 KB -> 16 KB. */
    make_file(path, 10000);
    read_ok(path, 10000);
    /* Exactly the first buffer, and one byte less. */
    make_file(path, 4096);
    read_ok(path, 4096);
    make_file(path, 4095);
    read_ok(path, 4095);

    /* Refused as too large: what was read is wiped too. */
    make_file(path, 10000);
    unwiped = 0;
    armed = true;
    EXPECT(read_file(path, &buf, &n, 5000) != 0, "a 10000-byte file read with max 5000");
    armed = false;
    EXPECT(unwiped == 0, "too large: %d released block(s) held the file", unwiped);

    /* Standard input ("-"). */
    fd = open(path, 0);
    EXPECT(fd >= 0 && dup2(fd, STDIN_FILENO) == STDIN_FILENO, "stdin");
    read_ok("-", 10000);

    unlink(path);
    rmdir(dir);
    if (failures == 0) {
        printf("PASS\n");
    }
    return failures == 0 ? 0 : 1;
}
