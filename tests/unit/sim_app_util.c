#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sim_app_util.h"
#include "tma_test.h"

static uint64_t now;
const struct sim_sec *sa_sec;

void sa_set_time(uint64_t now_us)
{
    now = now_us;
}

struct sim_app *sa_open(uint64_t seed, const char *state_path)
{
    struct sim_app *app = NULL;
    struct sim_app_config cfg = {state_path, seed, 3};
    tma_status st = sim_app_open(&app, &cfg);
    if (st != TMA_OK) {
        fprintf(stderr, "sim_app_open: %s\n", tma_status_str(st));
    }
    assert_int_equal(st, TMA_OK);
    assert_non_null(app);
    return app;
}

struct sim_app *sa_open_ready(uint64_t seed)
{
    struct sim_app *app = sa_open(seed, NULL);
    uint8_t rsp[64];
    sa_ok(app, "F0 00 00 10 D2 76 00 00 04 47 65 6E 41 75 74 68 41 70 70 6C", rsp);
    return app;
}

size_t sa_exec(struct sim_app *app, const uint8_t *apdu, size_t n, uint8_t *rsp, uint32_t *busy)
{
    size_t len = 0;
    uint32_t b = 0;
    tma_status st = sim_app_execute(app, sa_sec, now, apdu, n, rsp, SIM_APDU_MAX, &len, &b);
    assert_int_equal(st, TMA_OK);
    assert_true(len >= 4);
    assert_int_equal((size_t)((rsp[2] << 8) | rsp[3]) + 4, len);
    now += b;
    if (busy) {
        *busy = b;
    }
    return len;
}

size_t sa_exec_hex(struct sim_app *app, const char *hex, uint8_t *rsp)
{
    uint8_t apdu[SIM_APDU_MAX + 64];
    long n = tma_test_hex(hex, apdu, sizeof apdu);
    assert_true(n >= 0);
    return sa_exec(app, apdu, (size_t)n, rsp, NULL);
}

size_t sa_ok_bin(struct sim_app *app, const uint8_t *apdu, size_t n, uint8_t *rsp)
{
    size_t len = sa_exec(app, apdu, n, rsp, NULL);
    if (rsp[0] != 0x00) {
        uint8_t r2[SIM_APDU_MAX];
        static const uint8_t rd[] = {0x01, 0x00, 0x00, 0x06, 0xF1, 0xC2, 0x00, 0x00, 0x00, 0x01};
        sa_exec(app, rd, sizeof rd, r2, NULL);
        fprintf(stderr, "command %02X %02X failed, last error 0x%02X\n", apdu[0],
                n > 1 ? apdu[1] : 0, r2[4]);
    }
    assert_int_equal(rsp[0], 0x00);
    return len - 4;
}

size_t sa_ok(struct sim_app *app, const char *hex, uint8_t *rsp)
{
    uint8_t apdu[SIM_APDU_MAX + 64];
    long n = tma_test_hex(hex, apdu, sizeof apdu);
    assert_true(n >= 0);
    return sa_ok_bin(app, apdu, (size_t)n, rsp);
}

uint8_t sa_last_error(struct sim_app *app)
{
    uint8_t rsp[SIM_APDU_MAX];
    static const uint8_t rd[] = {0x01, 0x00, 0x00, 0x06, 0xF1, 0xC2, 0x00, 0x00, 0x00, 0x01};
    size_t n = sa_exec(app, rd, sizeof rd, rsp, NULL);
    assert_int_equal(n, 5);
    assert_int_equal(rsp[0], 0x00);
    return rsp[4];
}

void sa_err_bin(struct sim_app *app, const uint8_t *apdu, size_t n, uint8_t code)
{
    uint8_t rsp[SIM_APDU_MAX];
    size_t len = sa_exec(app, apdu, n, rsp, NULL);
    static const uint8_t want[4] = {0xFF, 0x00, 0x00, 0x00};
    assert_int_equal(tma_test_memcmp("error response", rsp, len, want, 4), 0);
    uint8_t got = sa_last_error(app);
    if (got != code) {
        fprintf(stderr, "command %02X %02X: want error 0x%02X, got 0x%02X\n", apdu[0],
                n > 1 ? apdu[1] : 0, code, got);
    }
    assert_int_equal(got, code);
}

void sa_err(struct sim_app *app, const char *hex, uint8_t code)
{
    uint8_t apdu[SIM_APDU_MAX + 64];
    long n = tma_test_hex(hex, apdu, sizeof apdu);
    assert_true(n >= 0);
    sa_err_bin(app, apdu, (size_t)n, code);
}

void sa_err_closed(struct sim_app *app, const char *hex, uint8_t code)
{
    uint8_t apdu[SIM_APDU_MAX + 64], rsp[SIM_APDU_MAX];
    long n = tma_test_hex(hex, apdu, sizeof apdu);
    assert_true(n >= 0);
    size_t len = sa_exec(app, apdu, (size_t)n, rsp, NULL);
    static const uint8_t want[4] = {0xFF, 0x00, 0x00, 0x00};
    assert_int_equal(tma_test_memcmp("error response", rsp, len, want, 4), 0);
    sa_ok(app, "70 00 00 10 D2 76 00 00 04 47 65 6E 41 75 74 68 41 70 70 6C", rsp);
    assert_int_equal(sa_last_error(app), code);
    sa_ok(app, "F1 00 00 00", rsp);
}
