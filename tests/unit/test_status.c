/* Status encoding: layer and code survive the round trip, chip codes are
 * carried through untouched, and names are never NULL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tma/status.h"

static void chip_error_carries_code_and_layer(void **state)
{
    (void)state;
    tma_status s = TMA_CHIP_ERROR(0x07);
    assert_true(s < 0);
    assert_int_equal(TMA_STATUS_LAYER(s), TMA_LAYER_CHIP);
    assert_int_equal(TMA_STATUS_CODE(s), 0x07);
    assert_true(TMA_IS_CHIP_ERROR(s));
    assert_string_equal(tma_status_str(s), "chip: access conditions not satisfied");
}

static void every_layer_and_code_round_trips(void **state)
{
    (void)state;
    for (unsigned layer = 0; layer < 0x10; layer++) {
        for (unsigned code = 1; code < 0x100; code++) {
            tma_status s = TMA_ERR(layer, code);
            assert_true(s < 0);
            assert_int_equal(TMA_STATUS_LAYER(s), layer);
            assert_int_equal(TMA_STATUS_CODE(s), code);
            assert_non_null(tma_status_str(s));
        }
    }
}

static void flow_codes_are_not_errors(void **state)
{
    (void)state;
    assert_int_equal(TMA_STATUS_LAYER(TMA_WANT_READ), 0);
    assert_false(TMA_IS_CHIP_ERROR(TMA_OK));
    assert_string_equal(tma_status_str(TMA_OK), "ok");
    assert_string_equal(tma_status_str(TMA_ERR(TMA_LAYER_LINK, TMA_C_TIMEOUT)), "timeout");
    assert_string_equal(tma_layer_name(TMA_LAYER_SHIELD), "shield");
    assert_string_equal(tma_status_str(TMA_CHIP_ERROR(0x77)), "chip: unknown error code");
    /* the stack's own codes have names (trustm.h TRUSTM_E_*) */
    assert_string_equal(tma_status_str(TMA_ERR(TMA_LAYER_SHIELD, 0x41)),
                        "shield: the chip ended the session with an alert");
    assert_string_equal(tma_status_str(TMA_ERR(TMA_LAYER_NET, 0x40)),
                        "network: the chip reported a chaining error twice");
}

/* The names nobody printed before (coverage run): flow codes, an unknown
 * positive code, a layer beyond the table, a generic code of an unknown layer. */
static void flow_codes_and_unknowns_have_names(void **state)
{
    (void)state;
    assert_string_equal(tma_status_str(TMA_WANT_READ), "want read");
    assert_string_equal(tma_status_str(TMA_WANT_WRITE), "want write");
    assert_string_equal(tma_status_str(TMA_IN_PROGRESS), "in progress");
    assert_string_equal(tma_status_str(4), "unknown flow code");
    assert_string_equal(tma_status_str(0x7FFFFFFF), "unknown flow code");
    assert_string_equal(tma_layer_name(TMA_LAYER_TRANSPORT), "transport");
    assert_string_equal(tma_layer_name(TMA_LAYER_TRANSPORT + 1), "unknown");
    assert_string_equal(tma_layer_name(0xFF), "unknown");
    /* a layer-specific name does not leak into another layer */
    assert_string_equal(tma_status_str(TMA_ERR(TMA_LAYER_MQTT, 0x46)), "unknown error");
    assert_string_equal(tma_status_str(TMA_ERR(TMA_LAYER_TLS, 0x46)),
                        "tls: certificate does not match the key");
    /* generic codes name the same in any non-chip layer, but not in the chip's */
    assert_string_equal(tma_status_str(TMA_ERR(TMA_LAYER_TRANSPORT + 1, TMA_C_CLOSED)),
                        "connection closed by peer");
    assert_string_equal(tma_status_str(TMA_CHIP_ERROR(TMA_C_CLOSED)),
                        "chip: insufficient buffer/memory");
    assert_string_equal(tma_status_str(TMA_ERR(TMA_LAYER_SHIELD, 0x40)), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chip_error_carries_code_and_layer),
        cmocka_unit_test(every_layer_and_code_round_trips),
        cmocka_unit_test(flow_codes_are_not_errors),
        cmocka_unit_test(flow_codes_and_unknowns_have_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
