/* sim_app: run tests/vectors/sim_app/apdu.txt (format described in the file)
 * against a fresh volatile chip and compare every response. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_app.h"
#include "tma_test.h"

static int fails;

static void dump(const char *label, const uint8_t *p, size_t n)
{
    fprintf(stderr, "  %s (%zu):", label, n);
    for (size_t i = 0; i < n; i++) {
        fprintf(stderr, " %02X", p[i]);
    }
    fprintf(stderr, "\n");
}

/* Match rsp against pattern; returns 1 on match. *want_err = -1 or code. */
static int match(const char *pat, const uint8_t *rsp, size_t n, int *want_err)
{
    size_t i = 0;
    *want_err = -1;
    const char *p = pat;
    while (*p) {
        while (*p && isspace((unsigned char)*p)) {
            p++;
        }
        if (!*p) {
            break;
        }
        if (*p == '*') {
            return 1;
        }
        if (*p == '!') {
            *want_err = (int)strtol(p + 1, NULL, 16);
            break;
        }
        if (p[0] == '.' && p[1] == '.') {
            size_t k = 1;
            p += 2;
            if (*p == 'x') {
                k = strtoul(p + 1, (char **)&p, 10);
            }
            if (n - i < k || i > n) {
                return 0;
            }
            i += k;
            continue;
        }
        char hex[3] = {p[0], p[1], 0};
        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1])) {
            fprintf(stderr, "bad pattern near '%s'\n", p);
            return 0;
        }
        p += 2;
        if (i >= n || rsp[i] != (uint8_t)strtoul(hex, NULL, 16)) {
            return 0;
        }
        i++;
    }
    return i == n;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <vector dir>\n", argv[0]);
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/apdu.txt", argv[1]);
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 2;
    }
    struct sim_app *app = NULL;
    struct sim_app_config cfg = {NULL, 1, 3};
    if (sim_app_open(&app, &cfg) != TMA_OK) {
        fprintf(stderr, "sim_app_open failed\n");
        return 1;
    }
    static char line[16384];
    static uint8_t apdu[SIM_APDU_MAX + 16], rsp[SIM_APDU_MAX];
    size_t alen = 0, rlen = 0;
    int lineno = 0, count = 0;
    uint64_t now = 0;
    char label[256] = "";
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#') {
            size_t l = strcspn(line, "\n");
            if (l >= sizeof label) {
                l = sizeof label - 1;
            }
            memcpy(label, line, l);
            label[l] = 0;
            continue;
        }
        if (line[0] == '>') {
            long n = tma_test_hex(line + 1, apdu, sizeof apdu);
            if (n < 0) {
                fprintf(stderr, "line %d: bad hex\n", lineno);
                return 2;
            }
            alen = (size_t)n;
            uint32_t busy = 0;
            if (sim_app_execute(app, NULL, now, apdu, alen, rsp, sizeof rsp, &rlen, &busy) !=
                TMA_OK) {
                fprintf(stderr, "line %d: execute failed\n", lineno);
                fails++;
            }
            now += busy;
        } else if (line[0] == '<') {
            int want_err;
            count++;
            if (!match(line + 1, rsp, rlen, &want_err)) {
                fprintf(stderr, "FAIL line %d %s\n", lineno, label);
                dump("request", apdu, alen);
                dump("response", rsp, rlen);
                fprintf(stderr, "  expected:%s", line + 1);
                fails++;
                continue;
            }
            if (want_err >= 0) {
                static const uint8_t rd[] = {0x01, 0x00, 0x00, 0x06, 0xF1,
                                             0xC2, 0x00, 0x00, 0x00, 0x01};
                uint8_t r2[16];
                size_t l2 = 0;
                uint32_t busy = 0;
                sim_app_execute(app, NULL, now, rd, sizeof rd, r2, sizeof r2, &l2, &busy);
                if (l2 != 5 || r2[0] != 0 || r2[4] != want_err) {
                    fprintf(stderr, "FAIL line %d %s: last error 0x%02X, want 0x%02X\n", lineno,
                            label, l2 == 5 ? r2[4] : 0xFFFF, want_err);
                    fails++;
                }
            }
        }
    }
    fclose(f);
    sim_app_close(app);
    printf("%d vectors, %d failures\n", count, fails);
    return fails ? 1 : (count > 0 ? 0 : 1);
}
