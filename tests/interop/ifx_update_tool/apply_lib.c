/* A protected-update data set from two files sent by Infineon's own host
 * library: optiga_util_protected_update_start / continue / final, as
 * example_optiga_util_protected_update.c sends its sets (manifest version 1,
 * every 640-byte fragment but the last through continue, the last through
 * final; a failed sequence ended with final(NULL)). Used by
 * tests/interop/ifx_update_tool.sh to apply the data sets of Infineon's tool
 * and of 'trustm update build' to trustm-sim through the library
 * (tests/interop/infineon_host/ glue: pal_glue.c, ../common/pal_sim.c, driver.h, the i2c-dev shim).
 *
 * usage: apply_lib MANIFEST FRAGMENTS
 * Prints "ok final: ..." or "FAIL <step>: 0xSSSS ..."; exit 0 / 1.
 * No Infineon code in this file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optiga_util.h"

#include "driver.h"

#define FRAG 640u

static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n;
    if (f == NULL) return 0;
    n = fread(buf, 1, cap, f);
    if (!feof(f)) n = 0; /* larger than cap */
    fclose(f);
    return n;
}

int main(int argc, char **argv)
{
    static uint8_t man[2048], frags[8192];
    size_t ml, fl, at = 0;
    unsigned nf = 0;
    const char *step = "open_application";
    optiga_lib_status_t s;
    optiga_util_t *u;

    if (argc != 3) {
        fprintf(stderr, "usage: apply_lib MANIFEST FRAGMENTS\n");
        return 2;
    }
    ml = slurp(argv[1], man, sizeof man);
    fl = slurp(argv[2], frags, sizeof frags);
    if (ml == 0 || fl == 0 || ml > 0xFFFF) {
        fprintf(stderr, "apply_lib: cannot read '%s' or '%s'\n", argv[1], argv[2]);
        return 2;
    }
    u = optiga_util_create(0, cb, NULL);
    if (u == NULL) {
        report(0, "optiga_util_create", "NULL");
        return 1;
    }
    s = RUN(optiga_util_open_application(u, 0));
    if (s == 0) {
        step = "start";
        s = RUN(optiga_util_protected_update_start(u, 0x01, man, (uint16_t)ml));
    }
    while (s == 0 && fl - at > FRAG) {
        step = "continue";
        s = RUN(optiga_util_protected_update_continue(u, frags + at, FRAG));
        at += FRAG;
        nf++;
    }
    if (s == 0) {
        step = "final";
        s = RUN(optiga_util_protected_update_final(u, frags + at, (uint16_t)(fl - at)));
        nf++;
    }
    if (s != 0 && strcmp(step, "open_application") != 0) {
        (void)RUN(optiga_util_protected_update_final(u, NULL, 0));
    }
    report(s == 0, step, s == 0 ? "0x%04X, %u fragment(s) applied" : "0x%04X after %u fragment(s)",
           s, nf);
    (void)RUN(optiga_util_close_application(u, 0));
    optiga_util_destroy(u);
    return s == 0 ? 0 : 1;
}
