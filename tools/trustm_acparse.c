/* trustm CLI: access conditions in words (the inverse of
 * trustm_ac_render()). Pure: no device, no I/O; fuzzed by
 * tests/fuzz/fuzz_tls_cli_args.c. */
#include "trustm.h"

#include "trustm/metadata.h"

#include <string.h>
#include <strings.h>

/* Words as 'metadata show' prints them: "ALW", "NEV", "LcsO < op",
 * "Conf(0xE140)", "Int(0xE0EF)", "Auto(0xF1D0)", "Luc(0xE120)",
 * "SecStaG(0x20)", "SecStaA(0x20)", joined by "&&" and "||"; or raw hex. */
static char *trim(char *p)
{
    char *e;
    while (*p == ' ') p++;
    e = p + strlen(p);
    while (e > p && e[-1] == ' ') *--e = '\0';
    return p;
}

static int parse_cond(char *w, struct trustm_ac_cond *c)
{
    static const struct { const char *name; uint8_t id; int lcs; } names[] = {
        {"LcsO", TRUSTM_AC_LCSO, 1}, {"LcsA", TRUSTM_AC_LCSA, 1}, {"LcsG", TRUSTM_AC_LCSG, 1},
        {"Conf", TRUSTM_AC_CONF, 0}, {"Int", TRUSTM_AC_INT, 0},   {"Auto", TRUSTM_AC_AUTO, 0},
        {"Luc", TRUSTM_AC_LUC, 0},   {"SecStaG", TRUSTM_AC_SECSTAG, 0},
        {"SecStaA", TRUSTM_AC_SECSTAA, 0}};
    size_t i, n;
    unsigned long v;
    memset(c, 0, sizeof(*c));
    w = trim(w);
    if (!strcasecmp(w, "ALW") || !strcasecmp(w, "NEV")) {
        c->id = !strcasecmp(w, "ALW") ? TRUSTM_AC_ALW : TRUSTM_AC_NEV;
        return 0;
    }
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        n = strlen(names[i].name);
        if (strncasecmp(w, names[i].name, n) != 0) continue;
        c->id = names[i].id;
        w = trim(w + n);
        if (names[i].lcs) {
            static const char *states[] = {"cr", "in", "op", "te"};
            static const uint8_t values[] = {0x01, 0x03, 0x07, 0x0F};
            size_t k;
            if (!strncmp(w, "==", 2)) { c->op = TRUSTM_AC_EQ; w += 2; }
            else if (*w == '<') { c->op = TRUSTM_AC_LT; w++; }
            else if (*w == '>') { c->op = TRUSTM_AC_GT; w++; }
            else return -1;
            w = trim(w);
            for (k = 0; k < 4; k++) {
                if (!strcasecmp(w, states[k])) { c->arg = values[k]; return 0; }
            }
            if (parse_uint(w, 0, 0xFF, &v) != 0) return -1;
            c->arg = (uint16_t)v;
            return 0;
        }
        n = strlen(w);
        if (n < 3 || w[0] != '(' || w[n - 1] != ')') return -1;
        w[n - 1] = '\0';
        if (parse_uint(trim(w + 1), 0, (c->id == TRUSTM_AC_SECSTAG || c->id == TRUSTM_AC_SECSTAA) ? 0xFF : 0xFFFF, &v) != 0) return -1;
        c->arg = (uint16_t)v;
        return 0;
    }
    return -1;
}

int parse_ac_arg(const char *s, uint8_t *out, size_t cap, size_t *out_len)
{
    char buf[1024]; /* the longest rendering of a 44-byte condition fits */
    char *tok;
    struct trustm_ac ac;
    long l;

    if (strlen(s) >= sizeof(buf)) return -1;
    memset(&ac, 0, sizeof(ac));
    strcpy(buf, s);
    tok = buf;
    while (tok != NULL) {
        char *next = strstr(tok, "||");
        char *cond;
        if (next != NULL) { *next = '\0'; next += 2; }
        if (ac.ntok >= TRUSTM_AC_MAX_TOKENS) return -1;
        cond = tok;
        while (cond != NULL) {
            char *and = strstr(cond, "&&");
            if (and != NULL) { *and = '\0'; and += 2; }
            if (ac.ncond[ac.ntok] >= TRUSTM_AC_MAX_CONDS ||
                parse_cond(cond, &ac.cond[ac.ntok][ac.ncond[ac.ntok]]) != 0) {
                goto raw;
            }
            ac.ncond[ac.ntok]++;
            cond = and;
        }
        ac.ntok++;
        tok = next;
    }
    if (trustm_ac_encode(&ac, out, cap, out_len) == TMA_OK) return 0;
    return -1;
raw:
    /* Not words: the condition bytes in hex (checked by the decoder). */
    l = parse_hex(s, out, cap);
    if (l <= 0) return -1;
    *out_len = (size_t)l;
    return trustm_ac_decode(out, *out_len, &ac) == TMA_OK ? 0 : -1;
}

