/* sim_app: dispatcher, error reporting, OpenApplication/CloseApplication. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "sim_app_util.h"
#include "tma_test.h"

#define OPEN "F0 00 00 10 D2 76 00 00 04 47 65 6E 41 75 74 68 41 70 70 6C"
#define AID "D2 76 00 00 04 47 65 6E 41 75 74 68 41 70 70 6C"

static void closed_app_accepts_only_open(void **state)
{
    (void)state;
    struct sim_app *app = sa_open(1, NULL);
    uint8_t rsp[SIM_APDU_MAX];
    sa_err_closed(app, "8C 00 00 02 00 20", 0x0C);
    sa_err_closed(app, "81 00 00 06 E0 C2 00 00 00 1B", 0x0C);
    sa_ok(app, OPEN, rsp);
    assert_int_equal(sa_ok(app, "8C 00 00 02 00 20", rsp), 32);
    sa_ok(app, "F1 00 00 00", rsp);
    sa_err_closed(app, "8C 00 00 02 00 20", 0x0C);
    sim_app_close(app);
}

static void open_needs_exact_aid(void **state)
{
    (void)state;
    struct sim_app *app = sa_open(1, NULL);
    sa_err_closed(app, "F0 00 00 10 D2 76 00 00 04 47 65 6E 41 75 74 68 41 70 70 6D", 0x05);
    sa_err_closed(app, "F0 00 00 0F D2 76 00 00 04 47 65 6E 41 75 74 68 41 70 70", 0x04);
    sa_err_closed(app, "F0 02 00 10 " AID, 0x03);
    /* restore without a saved context */
    sa_err_closed(app, "F0 01 00 18 " AID " 01 02 03 04 05 06 07 08", 0x0B);
    sim_app_close(app);
}

static void unknown_command_and_bad_length(void **state)
{
    (void)state;
    struct sim_app *app = sa_open_ready(1);
    sa_err(app, "A5 00 00 00", 0x0A);
    sa_err(app, "8C 00 00 03 00 20", 0x04); /* InLen larger than the data */
    sa_err(app, "8C 00", 0x04);
    uint8_t big[1600] = {0x8C, 0x00, 0x06, 0x20};
    sa_err_bin(app, big, 4 + 0x620, 0x04); /* InData > 1553 */
    sim_app_close(app);
}

static void last_error_highest_wins_and_clears(void **state)
{
    (void)state;
    struct sim_app *app = sa_open_ready(1);
    uint8_t rsp[SIM_APDU_MAX], apdu[32];
    /* two failures with code 0x01 commands (no flush): highest code is kept */
    size_t n = (size_t)tma_test_hex("01 00 00 06 E0 F0 00 00 00 10", apdu, sizeof apdu); /* 0x07 */
    sa_exec(app, apdu, n, rsp, NULL);
    assert_int_equal(rsp[0], 0xFF);
    n = (size_t)tma_test_hex("01 00 00 06 E0 99 00 00 00 10", apdu, sizeof apdu); /* 0x01 */
    sa_exec(app, apdu, n, rsp, NULL);
    assert_int_equal(rsp[0], 0xFF);
    /* read with code 0x01, spec 6.1 vector */
    n = sa_exec_hex(app, "01 00 00 06 F1 C2 00 00 00 01", rsp);
    uint8_t want[] = {0x00, 0x00, 0x00, 0x01, 0x07};
    assert_int_equal(tma_test_memcmp("F1C2", rsp, n, want, sizeof want), 0);
    /* cleared on read */
    assert_int_equal(sa_last_error(app), 0x00);
    /* a command with bit 7 set clears it before running */
    n = (size_t)tma_test_hex("01 00 00 06 E0 F0 00 00 00 10", apdu, sizeof apdu);
    sa_exec(app, apdu, n, rsp, NULL);
    sa_ok(app, "8C 00 00 02 00 08", rsp);
    assert_int_equal(sa_last_error(app), 0x00);
    /* reading F1C2 with 0x81 clears first: reads 0 */
    n = (size_t)tma_test_hex("01 00 00 06 E0 F0 00 00 00 10", apdu, sizeof apdu);
    sa_exec(app, apdu, n, rsp, NULL);
    assert_int_equal(sa_ok(app, "81 00 00 06 F1 C2 00 00 00 01", rsp), 1);
    assert_int_equal(rsp[4], 0x00);
    sim_app_close(app);
}

static void hibernate_and_restore(void **state)
{
    (void)state;
    struct sim_app *app = sa_open_ready(7);
    uint8_t rsp[SIM_APDU_MAX], pub[80];
    /* a session key survives hibernate */
    size_t n = sa_ok(app, "B8 03 00 09 01 00 02 E1 00 02 00 01 20", rsp);
    assert_int_equal(n, 0x47);
    memcpy(pub, rsp + 4, n);
    n = sa_ok(app, "F1 01 00 00", rsp);
    assert_int_equal(n, 8);
    assert_true(sim_app_hibernated(app));
    uint8_t handle[8];
    memcpy(handle, rsp + 4, 8);
    sim_app_reset(app, true); /* power off and on */
    assert_true(sim_app_hibernated(app));
    uint8_t apdu[64];
    size_t al = (size_t)tma_test_hex("F0 01 00 18 " AID, apdu, sizeof apdu);
    memcpy(apdu + al, handle, 8);
    sa_ok_bin(app, apdu, al + 8, rsp);
    assert_false(sim_app_hibernated(app));
    /* the restored session key still agrees with its public key: ECDH with itself */
    uint8_t ecdh[128];
    size_t el =
        (size_t)tma_test_hex("B3 01 00 53 01 00 02 E1 00 05 00 01 03 06 00 44", ecdh, sizeof ecdh);
    memcpy(ecdh + el, pub + 3, 0x44);
    el += 0x44;
    ecdh[el++] = 0x07, ecdh[el++] = 0, ecdh[el++] = 0;
    assert_int_equal(sa_ok_bin(app, ecdh, el, rsp), 32);
    /* the handle is single-use */
    sa_ok(app, "F1 00 00 00", rsp);
    sa_exec(app, apdu, al + 8, rsp, NULL);
    assert_int_equal(rsp[0], 0xFF);
    sim_app_close(app);
}

static void restore_with_bad_handle_flushes(void **state)
{
    (void)state;
    struct sim_app *app = sa_open_ready(7);
    uint8_t rsp[SIM_APDU_MAX];
    sa_ok(app, "F1 01 00 00", rsp);
    uint8_t handle[8];
    memcpy(handle, rsp + 4, 8);
    uint8_t apdu[64];
    size_t al = (size_t)tma_test_hex("F0 01 00 18 " AID, apdu, sizeof apdu);
    memcpy(apdu + al, handle, 8);
    apdu[al] ^= 1;
    sa_exec(app, apdu, al + 8, rsp, NULL);
    assert_int_equal(rsp[0], 0xFF);
    assert_false(sim_app_hibernated(app));
    apdu[al] ^= 1; /* the right handle no longer works: context was flushed */
    sa_exec(app, apdu, al + 8, rsp, NULL);
    assert_int_equal(rsp[0], 0xFF);
    sa_ok(app, "70 00 00 10 " AID, rsp);
    assert_int_equal(sa_last_error(app), 0x0B); /* highest of 0x05 and 0x0B */
    sim_app_close(app);
}

/* A clean OpenApplication (Param 0x00) while a context is saved drops it:
 * the handle no longer restores and the saved session key is gone. */
static void clean_open_drops_saved_context(void **state)
{
    (void)state;
    struct sim_app *app = sa_open_ready(8);
    uint8_t rsp[SIM_APDU_MAX];
    size_t n = sa_ok(app, "B8 03 00 09 01 00 02 E1 00 02 00 01 20", rsp);
    assert_int_equal(n, 0x47);
    uint8_t pub[0x47];
    memcpy(pub, rsp + 4, n);
    sa_ok(app, "F1 01 00 00", rsp);
    uint8_t handle[8];
    memcpy(handle, rsp + 4, 8);
    sim_app_reset(app, true);
    assert_true(sim_app_hibernated(app));
    sa_ok(app, "F0 00 00 10 " AID, rsp);
    assert_false(sim_app_hibernated(app));
    /* the saved session key is not there: ECDH with it is refused */
    uint8_t ecdh[128];
    size_t el =
        (size_t)tma_test_hex("B3 01 00 53 01 00 02 E1 00 05 00 01 03 06 00 44", ecdh, sizeof ecdh);
    memcpy(ecdh + el, pub + 3, 0x44);
    el += 0x44;
    ecdh[el++] = 0x07, ecdh[el++] = 0, ecdh[el++] = 0;
    sa_exec(app, ecdh, el, rsp, NULL);
    assert_int_equal(rsp[0], 0xFF);
    /* and the handle restores nothing, also after another power cycle */
    sim_app_reset(app, true);
    assert_false(sim_app_hibernated(app));
    uint8_t apdu[64];
    size_t al = (size_t)tma_test_hex("F0 01 00 18 " AID, apdu, sizeof apdu);
    memcpy(apdu + al, handle, 8);
    sa_exec(app, apdu, al + 8, rsp, NULL);
    assert_int_equal(rsp[0], 0xFF);
    sa_ok(app, "F0 00 00 10 " AID, rsp);
    sa_exec(app, ecdh, el, rsp, NULL);
    assert_int_equal(rsp[0], 0xFF);
    sim_app_close(app);
}

static void hibernate_refused_while_sec_nonzero(void **state)
{
    (void)state;
    sa_set_time(1000000);
    struct sim_app *app = sa_open_ready(9);
    uint8_t rsp[SIM_APDU_MAX];
    /* signing with the factory key is a security event; credit starts empty */
    sa_ok(app,
          "B1 11 00 28 01 00 20 BA 78 16 BF 8F 01 CF EA 41 41 40 DE 5D AE 22 23 B0 03 61 A3 96 17 "
          "7A 9C B4 10 FF 61 F2 00 15 AD 03 00 02 E0 F0",
          rsp);
    assert_int_equal(sa_ok(app, "81 00 00 06 E0 C5 00 00 00 01", rsp), 1);
    assert_int_equal(rsp[4], 1);
    sa_err(app, "F1 01 00 00", 0x0B);
    /* after t_max (5 s) without events SEC decrements */
    sa_set_time(1000000 + 6000000);
    assert_int_equal(sa_ok(app, "81 00 00 06 E0 C5 00 00 00 01", rsp), 1);
    assert_int_equal(rsp[4], 0);
    assert_int_equal(sa_ok(app, "F1 01 00 00", rsp), 8);
    sim_app_close(app);
}

static void busy_time_follows_datasheet(void **state)
{
    (void)state;
    struct sim_app *app = sa_open_ready(3);
    uint8_t rsp[SIM_APDU_MAX], apdu[64];
    uint32_t busy = 0;
    size_t n = (size_t)tma_test_hex("B8 03 00 09 01 00 02 E0 F1 02 00 01 10", apdu, sizeof apdu);
    sa_exec(app, apdu, n, rsp, &busy);
    assert_int_equal(rsp[0], 0);
    assert_int_equal(busy, 55000);
    n = (size_t)tma_test_hex("B1 11 00 28 01 00 20 BA 78 16 BF 8F 01 CF EA 41 41 40 DE 5D AE 22 23 "
                             "B0 03 61 A3 96 17 7A 9C B4 10 FF 61 F2 00 15 AD 03 00 02 E0 F1",
                             apdu, sizeof apdu);
    sa_exec(app, apdu, n, rsp, &busy);
    assert_int_equal(rsp[0], 0);
    assert_int_equal(busy, 65000);
    sim_app_close(app);
}

static void bad_arguments_rejected(void **state)
{
    (void)state;
    struct sim_app *app = NULL;
    assert_int_equal(sim_app_open(&app, NULL), TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM));
    struct sim_app_config cfg = {NULL, 1, 2};
    assert_int_equal(sim_app_open(&app, &cfg), TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM));
    app = sa_open(1, NULL);
    uint8_t rsp[8];
    size_t len;
    uint32_t busy;
    uint8_t apdu[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
    assert_int_equal(sim_app_execute(app, NULL, 0, apdu, sizeof apdu, rsp, 3, &len, &busy),
                     TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM));
    sim_app_close(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(closed_app_accepts_only_open),
        cmocka_unit_test(open_needs_exact_aid),
        cmocka_unit_test(unknown_command_and_bad_length),
        cmocka_unit_test(last_error_highest_wins_and_clears),
        cmocka_unit_test(hibernate_and_restore),
        cmocka_unit_test(restore_with_bad_handle_flushes),
        cmocka_unit_test(clean_open_drops_saved_context),
        cmocka_unit_test(hibernate_refused_while_sec_nonzero),
        cmocka_unit_test(busy_time_follows_datasheet),
        cmocka_unit_test(bad_arguments_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
