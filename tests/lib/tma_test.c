#include "tma_test.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int nibble(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

long tma_test_hex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (; *hex; hex++) {
        if (*hex == ' ' || *hex == ':' || *hex == '\n' || *hex == '\t' || *hex == '\r') {
            continue;
        }
        int v = nibble((unsigned char)*hex);
        if (v < 0) {
            return -1;
        }
        if (hi < 0) {
            hi = v;
        } else {
            if (n >= cap) {
                return -1;
            }
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    return hi < 0 ? (long)n : -1;
}

void tma_test_dump(const char *label, const uint8_t *p, size_t n)
{
    fprintf(stderr, "%s (%zu):", label, n);
    for (size_t i = 0; i < n; i++) {
        fprintf(stderr, "%s%02X", (i % 32) ? " " : "\n  ", p[i]);
    }
    fprintf(stderr, "\n");
}

int tma_test_memcmp(const char *label, const uint8_t *got, size_t got_len,
                    const uint8_t *want, size_t want_len)
{
    if (got_len == want_len && memcmp(got, want, got_len) == 0) {
        return 0;
    }
    fprintf(stderr, "MISMATCH %s\n", label);
    tma_test_dump("  got ", got, got_len);
    tma_test_dump("  want", want, want_len);
    return 1;
}

unsigned char *tma_test_read_source_file(const char *rel_path, size_t *out_len)
{
    char path[1024];
    const char *src = getenv("TMA_SOURCE_DIR");
    unsigned char *buf;
    long n;
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", src ? src : ".", rel_path);
    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    *out_len = (size_t)n;
    return buf;
}
