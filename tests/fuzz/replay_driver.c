/*
 * Replay driver for fuzz targets built without libFuzzer (gcc builds).
 * Runs every file of the given corpus directories (or files) through
 * LLVMFuzzerTestOneInput, then a fixed number of deterministic mutations of
 * each (bit flips, byte sets, truncations, insertions), plus random inputs.
 * Under ASan/UBSan any finding aborts the process, failing the test.
 *
 * Env TMA_REPLAY_MUTATIONS overrides the mutations per seed (default 300).
 */
#define _DEFAULT_SOURCE /* scandir, alphasort */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tma_testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT 8192

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
    return tma_test_xorshift64(&rng_state);
}

static unsigned long runs;

static void run(const uint8_t *d, size_t n)
{
    /* Copy into an exact-size heap block so ASan sees overreads. */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) {
        abort();
    }
    if (n) {
        memcpy(copy, d, n);
    }
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    runs++;
}

static void mutate_and_run(const uint8_t *seed, size_t n, unsigned count)
{
    static uint8_t buf[REPLAY_MAX_INPUT];
    for (unsigned i = 0; i < count; i++) {
        size_t len = n;
        memcpy(buf, seed, n);
        unsigned ops = 1 + (unsigned)(rng() % 4);
        for (unsigned k = 0; k < ops; k++) {
            switch (rng() % 5) {
            case 0: /* bit flip */
                if (len) {
                    buf[rng() % len] ^= (uint8_t)(1u << (rng() % 8));
                }
                break;
            case 1: /* interesting byte */
                if (len) {
                    static const uint8_t vals[] = {0x00, 0xFF, 0x7F, 0x80, 0x01, 0x10, 0x20};
                    buf[rng() % len] = vals[rng() % sizeof(vals)];
                }
                break;
            case 2: /* truncate */
                if (len) {
                    len = (size_t)(rng() % len);
                }
                break;
            case 3: /* insert random bytes */
                if (len < REPLAY_MAX_INPUT - 16) {
                    size_t at = len ? (size_t)(rng() % (len + 1)) : 0;
                    size_t add = 1 + (size_t)(rng() % 8);
                    memmove(buf + at + add, buf + at, len - at);
                    for (size_t j = 0; j < add; j++) {
                        buf[at + j] = (uint8_t)rng();
                    }
                    len += add;
                }
                break;
            default: /* random byte */
                if (len) {
                    buf[rng() % len] = (uint8_t)rng();
                }
                break;
            }
        }
        run(buf, len);
    }
}

static void handle_file(const char *path, unsigned mutations)
{
    static uint8_t buf[REPLAY_MAX_INPUT];
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        exit(2);
    }
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    run(buf, n);
    mutate_and_run(buf, n, mutations);
}

static void handle_path(const char *path, unsigned mutations, unsigned *files)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: no such corpus %s\n", path);
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        handle_file(path, mutations);
        (*files)++;
        return;
    }
    struct dirent **list;
    int n = scandir(path, &list, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        exit(2);
    }
    for (int i = 0; i < n; i++) {
        if (list[i]->d_name[0] != '.') {
            char p[4096];
            snprintf(p, sizeof(p), "%s/%s", path, list[i]->d_name);
            handle_path(p, mutations, files);
        }
        free(list[i]);
    }
    free(list);
}

int main(int argc, char **argv)
{
    unsigned mutations = 300;
    unsigned files = 0;
    const char *env = getenv("TMA_REPLAY_MUTATIONS");
    if (env) {
        mutations = (unsigned)strtoul(env, NULL, 10);
    }
    for (int i = 1; i < argc; i++) {
        handle_path(argv[i], mutations, &files);
    }
    /* Pure random inputs as well, to cover what the seeds do not. */
    static uint8_t buf[512];
    for (unsigned i = 0; i < 2000; i++) {
        size_t len = (size_t)(rng() % sizeof(buf));
        for (size_t j = 0; j < len; j++) {
            buf[j] = (uint8_t)rng();
        }
        run(buf, len);
    }
    if (files == 0) {
        fprintf(stderr, "replay: no seed files found\n");
        return 1;
    }
    printf("replay: %u seed files, %lu inputs, no finding\n", files, runs);
    return 0;
}
