/* sim_app: chip state file (NVM) - survives restarts, atomic, refuses corruption. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "app_int.h"
#include "sim_app_util.h"
#include "tma_test.h"

#define OPEN "F0 00 00 10 D2 76 00 00 04 47 65 6E 41 75 74 68 41 70 70 6C"

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/sim_app_nvXXXXXX");
    if (!mkdtemp(dir)) {
        return -1;
    }
    snprintf(path, sizeof path, "%s/chip.nv", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct sim_app *open_file(void)
{
    struct sim_app *app = sa_open(77, path);
    uint8_t rsp[SIM_APDU_MAX];
    sa_ok(app, OPEN, rsp);
    return app;
}

static long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void personalization_survives_restart(void **state)
{
    (void)state;
    uint8_t rsp[SIM_APDU_MAX], pub[80], cert[600];
    struct sim_app *app = open_file();
    size_t cl = sa_ok(app, "81 00 00 06 E0 E0 00 00 06 11", rsp);
    memcpy(cert, rsp + 4, cl);
    sa_ok(app, "82 40 00 08 F1 D3 00 00 CA FE BA BE", rsp);
    sa_ok(app, "82 01 00 09 E0 E1 00 00 20 03 C0 01 07", rsp);
    sa_ok(app, "82 02 00 05 E1 20 00 00 05", rsp);
    size_t n = sa_ok(app, "B8 03 00 09 01 00 02 E0 F1 02 00 01 10", rsp);
    memcpy(pub, rsp + 4 + n - 65, 65);
    sim_app_close(app);
    assert_true(file_size(path) > 0);

    app = open_file();
    assert_int_equal(sa_ok(app, "81 00 00 02 F1 D3", rsp), 4);
    assert_int_equal(rsp[4], 0xCA);
    sa_ok(app, "81 01 00 02 E0 E1", rsp);
    assert_int_equal(rsp[4 + 4], 0x07); /* LcsO operational */
    sa_ok(app, "81 00 00 02 E1 20", rsp);
    assert_int_equal(rsp[7], 5);
    /* same factory identity, not re-provisioned */
    assert_int_equal(sa_ok(app, "81 00 00 06 E0 E0 00 00 06 11", rsp), cl);
    assert_int_equal(memcmp(rsp + 4, cert, cl), 0);
    /* the generated key in E0F1 is still the same: ECDH of E0F1 with itself is impossible
     * (usage Sign), so sign and check with VerifySign using the old public key */
    const char *dg = "BA 78 16 BF 8F 01 CF EA 41 41 40 DE 5D AE 22 23 B0 03 61 A3 96 17 7A 9C B4 "
                     "10 FF 61 F2 00 15 AD";
    char buf[512];
    snprintf(buf, sizeof buf, "B1 11 00 28 01 00 20 %s 03 00 02 E0 F1", dg);
    size_t sl = sa_ok(app, buf, rsp);
    uint8_t v[300] = {0xB2, 0x11};
    size_t i = 4;
    i += (size_t)tma_test_hex("01 00 20", v + i, 8);
    i += (size_t)tma_test_hex(dg, v + i, 40);
    v[i++] = 0x02, v[i++] = 0, v[i++] = (uint8_t)sl;
    memcpy(v + i, rsp + 4, sl);
    i += sl;
    i += (size_t)tma_test_hex("05 00 01 03 06 00 44 03 42 00", v + i, 16);
    memcpy(v + i, pub, 65);
    i += 65;
    v[2] = 0, v[3] = (uint8_t)(i - 4);
    sa_ok_bin(app, v, i, rsp);
    sim_app_close(app);
}

static void corrupt_or_truncated_file_is_refused(void **state)
{
    (void)state;
    struct sim_app *app = open_file();
    sim_app_close(app);
    long size = file_size(path);
    assert_true(size > 100);
    FILE *f = fopen(path, "rb");
    uint8_t *orig = malloc((size_t)size);
    assert_int_equal(fread(orig, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    struct sim_app_config cfg = {path, 77, 3};
    struct sim_app *bad = NULL;
    /* truncated */
    f = fopen(path, "wb");
    fwrite(orig, 1, (size_t)size / 2, f);
    fclose(f);
    assert_int_equal(sim_app_open(&bad, &cfg), TMA_ERR(TMA_LAYER_STORE, TMA_C_MALFORMED));
    assert_null(bad);
    /* the refused file is left as it was (never silently reset) */
    assert_int_equal(file_size(path), size / 2);
    /* one flipped bit */
    orig[size / 2] ^= 0x10;
    f = fopen(path, "wb");
    fwrite(orig, 1, (size_t)size, f);
    fclose(f);
    assert_int_equal(sim_app_open(&bad, &cfg), TMA_ERR(TMA_LAYER_STORE, TMA_C_INTEGRITY));
    /* wrong magic / empty file */
    orig[size / 2] ^= 0x10;
    orig[0] = 'X';
    f = fopen(path, "wb");
    fwrite(orig, 1, (size_t)size, f);
    fclose(f);
    assert_int_equal(sim_app_open(&bad, &cfg), TMA_ERR(TMA_LAYER_STORE, TMA_C_MALFORMED));
    f = fopen(path, "wb");
    fclose(f);
    assert_int_equal(sim_app_open(&bad, &cfg), TMA_ERR(TMA_LAYER_STORE, TMA_C_MALFORMED));
    assert_string_equal(
        tma_layer_name(TMA_LAYER_STORE),
        tma_layer_name(TMA_STATUS_LAYER(TMA_ERR(TMA_LAYER_STORE, TMA_C_MALFORMED))));
    free(orig);
    unlink(path);
}

static void crash_before_rename_keeps_old_state(void **state)
{
    (void)state;
    struct sim_app *app = open_file();
    uint8_t rsp[SIM_APDU_MAX];
    sa_ok(app, "82 40 00 05 F1 D4 00 00 11", rsp);
    sim_app_close(app);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sim_app *child = NULL;
        struct sim_app_config cfg = {path, 77, 3};
        if (sim_app_open(&child, &cfg) != TMA_OK) {
            _exit(3);
        }
        static const uint8_t open_apdu[] = {0xF0, 0,    0,    0x10, 0xD2, 0x76, 0,
                                            0,    4,    0x47, 0x65, 0x6E, 0x41, 0x75,
                                            0x74, 0x68, 0x41, 0x70, 0x70, 0x6C};
        static const uint8_t write[] = {0x82, 0x40, 0x00, 0x05, 0xF1, 0xD4, 0x00, 0x00, 0x22};
        uint8_t r[64];
        size_t rl;
        uint32_t b;
        sim_app_execute(child, NULL, 0, open_apdu, sizeof open_apdu, r, sizeof r, &rl, &b);
        sim_persist_crash_point = 1; /* the next save dies between temp write and rename */
        sim_app_execute(child, NULL, 0, write, sizeof write, r, sizeof r, &rl, &b);
        _exit(4); /* not reached */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0); /* died at the crash point */
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_true(file_size(tmp) > 0); /* the new state was written to the temp file only */
    app = open_file();
    assert_int_equal(sa_ok(app, "81 00 00 02 F1 D4", rsp), 1);
    assert_int_equal(rsp[4], 0x11);                /* old state intact */
    sa_ok(app, "82 40 00 05 F1 D4 00 00 33", rsp); /* a later save replaces the temp file */
    sim_app_close(app);
    assert_int_equal(file_size(tmp), -1);
    app = open_file();
    sa_ok(app, "81 00 00 02 F1 D4", rsp);
    assert_int_equal(rsp[4], 0x33);
    sim_app_close(app);
}

static void hibernate_survives_restart(void **state)
{
    (void)state;
    struct sim_app *app = open_file();
    uint8_t rsp[SIM_APDU_MAX], handle[8];
    sa_ok(app, "B8 03 00 09 01 00 02 E1 02 02 00 01 20", rsp);
    assert_int_equal(sa_ok(app, "F1 01 00 00", rsp), 8);
    memcpy(handle, rsp + 4, 8);
    uint8_t ctx[3] = {1, 2, 3};
    assert_int_equal(sim_app_set_prl_context(app, ctx, 3), TMA_OK);
    sim_app_close(app); /* power off */
    app = sa_open(77, path);
    assert_true(sim_app_hibernated(app));
    uint8_t got[16];
    size_t gl = 0;
    assert_int_equal(sim_app_get_prl_context(app, got, sizeof got, &gl), TMA_OK);
    assert_int_equal(gl, 3);
    uint8_t a[64];
    size_t al = (size_t)tma_test_hex("F0 01 00 18 D2 76 00 00 04 47 65 6E 41 75 74 68 41 70 70 6C",
                                     a, sizeof a);
    memcpy(a + al, handle, 8);
    sa_ok_bin(app, a, al + 8, rsp);
    /* the session key came back: it can be used for key agreement */
    assert_int_equal(sa_ok(app,
                           "B3 01 00 53 01 00 02 E1 02 05 00 01 03 06 00 44 03 42 00 04 6B 17 D1 "
                           "F2 E1 2C 42 47 F8 BC E6 E5 63 A4 40 F2 77 03 7D 81 2D EB 33 A0 F4 A1 "
                           "39 45 D8 98 C2 96 4F E3 42 E2 FE 1A 7F 9B 8E E7 EB 4A 7C 0F 9E 16 2B "
                           "CE 33 57 6B 31 5E CE CB B6 40 68 37 BF 51 F5 07 00 00",
                           rsp),
                     32);
    sim_app_close(app);
}

static void failed_nvm_write_rolls_back(void **state)
{
    (void)state;
    struct sim_app *app = open_file();
    uint8_t rsp[SIM_APDU_MAX];
    sa_ok(app, "82 40 00 05 F1 D6 00 00 11", rsp);
    sa_ok(app, "82 02 00 05 E1 23 00 00 01", rsp);
    sim_persist_crash_point = 2; /* every save fails from now on */
    static const uint8_t w1[] = {0x82, 0x40, 0x00, 0x05, 0xF1, 0xD6, 0x00, 0x00, 0x22};
    static const uint8_t w2[] = {0x82, 0x02, 0x00, 0x05, 0xE1, 0x23, 0x00, 0x00, 0x01};
    const uint8_t *cmds[2] = {w1, w2};
    for (int i = 0; i < 2; i++) {
        size_t rl = 0;
        uint32_t busy = 0;
        /* the caller learns about the store failure; the chip answers 0x06 */
        assert_int_equal(sim_app_execute(app, NULL, 0, cmds[i], 9, rsp, sizeof rsp, &rl, &busy),
                         TMA_ERR(TMA_LAYER_STORE, TMA_C_IO));
        assert_int_equal(rl, 4);
        assert_int_equal(rsp[0], 0xFF);
    }
    sim_persist_crash_point = 0;
    assert_int_equal(sa_last_error(app), 0x06);
    /* memory agrees with the file: the failed commands left no trace */
    sa_ok(app, "81 00 00 02 F1 D6", rsp);
    assert_int_equal(rsp[4], 0x11);
    sa_ok(app, "81 00 00 02 E1 23", rsp);
    assert_int_equal(rsp[7], 1);
    sim_app_close(app);
    app = open_file();
    sa_ok(app, "81 00 00 02 F1 D6", rsp);
    assert_int_equal(rsp[4], 0x11);
    sim_app_close(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(personalization_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_or_truncated_file_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_before_rename_keeps_old_state, setup, teardown),
        cmocka_unit_test_setup_teardown(hibernate_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_nvm_write_rolls_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
