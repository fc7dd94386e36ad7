/* sim bus: register map, DATA_REG_LEN negotiation, address handling, resets,
 * busy model (address NACK for short commands, BUSY flag for long ones),
 * statistics and the in-process port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sim_fake_app.h"
#include "sim_host.h"
#include "sim_int.h"

static const uint8_t openapp[] = {0x00, 0xF0, 0x00, 0x00, 0x10, 0xD2, 0x76, 0x00, 0x00, 0x04, 0x47,
                                  0x65, 0x6E, 0x41, 0x75, 0x74, 0x68, 0x41, 0x70, 0x70, 0x6C};

static void registers_have_documented_values(void **state)
{
    (void)state;
    struct trustm_sim *s = host_sim_new();
    uint8_t b[8];
    assert_int_equal(host_reg_read(s, 0x82, b, 4), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\x08\x80\x00\x00", 4);
    assert_int_equal(host_reg_read(s, 0x81, b, 2), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\x01\x15", 2);
    assert_int_equal(host_reg_read(s, 0x84, b, 4), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\x00\x00\x01\x90", 4);
    assert_int_equal(host_reg_read(s, 0x85, b, 4), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\x00\x00\x00\x32", 4);
    assert_int_equal(host_reg_read(s, 0x86, b, 4), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\x00\x00\x00\x0A", 4);
    assert_int_equal(host_reg_read(s, 0x87, b, 4), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\xFF\xFF\xFF\xFF", 4);
    assert_int_equal(host_reg_read(s, 0x89, b, 2), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\x00\x03", 2);
    assert_int_equal(host_reg_read(s, 0x95, b, 4), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\x00\x00\x00\x00", 4);
    /* past the register end and unknown registers read 0xFF */
    assert_int_equal(host_reg_read(s, 0x81, b, 6), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\x01\x15\xFF\xFF\xFF\xFF", 6);
    assert_int_equal(host_reg_read(s, 0x8F, b, 3), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\xFF\xFF\xFF", 3);
    /* nothing pending in DATA */
    assert_int_equal(host_reg_read(s, 0x80, b, 5), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\xFF\xFF\xFF\xFF\xFF", 5);
    /* FOR_IFX_USE is read/write */
    assert_int_equal(host_reg_write(s, 0xA1, (const uint8_t *)"\x01\x02\x03\x04", 4), TRUSTM_SIM_ACK);
    assert_int_equal(host_reg_read(s, 0xA1, b, 4), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\x01\x02\x03\x04", 4);
    /* read-only registers refuse data */
    assert_int_equal(host_reg_write(s, 0x82, (const uint8_t *)"\x00", 1), TRUSTM_SIM_DATA_NACK);
    assert_int_equal(host_reg_write(s, 0x84, (const uint8_t *)"\x00\x00\x00\x01", 4), TRUSTM_SIM_DATA_NACK);
    trustm_sim_destroy(s);
}

static void data_reg_len_negotiation(void **state)
{
    (void)state;
    struct trustm_sim *s = host_sim_new();
    uint8_t b[2];
    assert_int_equal(host_reg_write(s, 0x81, (const uint8_t *)"\x00\x40", 2), TRUSTM_SIM_ACK);
    assert_int_equal(host_reg_read(s, 0x81, b, 2), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\x00\x40", 2);
    /* too large or too small: the chip shows its maximum */
    assert_int_equal(host_reg_write(s, 0x81, (const uint8_t *)"\x02\x00", 2), TRUSTM_SIM_ACK);
    assert_int_equal(host_reg_read(s, 0x81, b, 2), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\x01\x15", 2);
    assert_int_equal(host_reg_write(s, 0x81, (const uint8_t *)"\x00\x0F", 2), TRUSTM_SIM_ACK);
    assert_int_equal(host_reg_read(s, 0x81, b, 2), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\x01\x15", 2);
    assert_int_equal(host_reg_write(s, 0x81, (const uint8_t *)"\x01", 1), TRUSTM_SIM_DATA_NACK);

    /* with a 64-byte DATA register a 600-byte response comes in 59-byte packets */
    fake_app_clear();
    assert_int_equal(host_reg_write(s, 0x81, (const uint8_t *)"\x00\x40", 2), TRUSTM_SIM_ACK);
    assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
    uint8_t f[300];
    assert_int_equal(host_recv(s, f, sizeof(f), 1000, 50000), 5);
    assert_int_equal(host_recv(s, f, sizeof(f), 1000, 50000), 10);
    assert_int_equal(host_send(s, 0x80, NULL, 0), TRUSTM_SIM_ACK);
    uint8_t get[] = {0x00, 0x81, 0x00, 0x00, 0x06, 0xE0, 0xE0, 0x00, 0x00, 0x06, 0x11};
    assert_int_equal(host_send(s, 0x04, get, sizeof(get)), TRUSTM_SIM_ACK);
    size_t total = 0;
    for (int i = 0; i < 20; i++) {
        size_t n = host_recv(s, f, sizeof(f), 1000, 50000);
        assert_true(n > 5 && n <= 64);
        struct sim_frame fr;
        assert_int_equal(sim_frame_decode(f, n, &fr), SIM_FE_OK);
        total += fr.pkt_len - 1;
        uint8_t ack[5];
        host_frame((uint8_t)(0x80 | fr.frnr), NULL, 0, ack);
        assert_int_equal(host_send_raw(s, ack, 5), TRUSTM_SIM_ACK);
        if ((fr.pkt[0] & 7) == 4) {
            break;
        }
        assert_int_equal(n, 64);
    }
    assert_int_equal(total, 519);
    /* a frame longer than DATA_REG_LEN overflows: data NACK and a link NAK */
    uint8_t raw[120];
    size_t rn = host_frame(0x01, openapp, sizeof(openapp), raw);
    uint8_t pad[130] = {0};
    memcpy(pad, raw, rn);
    assert_int_equal(host_send_raw(s, pad, 70), TRUSTM_SIM_DATA_NACK);
    assert_int_equal(host_recv(s, f, sizeof(f), 1000, 50000), 5);
    assert_int_equal(f[0] & 0xE0, 0xA0); /* NAK */
    trustm_sim_destroy(s);
}

static void address_base_addr_and_i2c_mode(void **state)
{
    (void)state;
    struct trustm_sim *s = host_sim_new();
    uint8_t b[4];
    uint8_t reg = 0x82;
    assert_int_equal(trustm_sim_i2c_write(s, 0x31, &reg, 1), TRUSTM_SIM_ADDR_NACK);
    assert_int_equal(trustm_sim_i2c_read(s, 0x20, b, 4), TRUSTM_SIM_ADDR_NACK);
    /* volatile address change, effective at the next access */
    assert_int_equal(host_reg_write(s, 0x83, (const uint8_t *)"\x00\x52", 2), TRUSTM_SIM_ACK);
    trustm_sim_sleep_us(s, 100);
    assert_int_equal(trustm_sim_i2c_write(s, 0x30, &reg, 1), TRUSTM_SIM_ADDR_NACK);
    assert_int_equal(trustm_sim_address(s), 0x52);
    trustm_sim_sleep_us(s, 100);
    assert_int_equal(trustm_sim_i2c_write(s, 0x52, &reg, 1), TRUSTM_SIM_ACK);
    /* a warm reset restores the default address */
    assert_int_equal(trustm_sim_reset(s, TRUSTM_RESET_WARM), TMA_OK);
    trustm_sim_sleep_us(s, 20000);
    assert_int_equal(host_reg_read(s, 0x82, b, 4), TRUSTM_SIM_ACK);
    /* I2C_MODE Fm+ raises MAX_SCL_FREQU; invalid modes are ignored */
    assert_int_equal(host_reg_write(s, 0x89, (const uint8_t *)"\x80\x04", 2), TRUSTM_SIM_ACK);
    assert_int_equal(host_reg_read(s, 0x84, b, 4), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\x00\x00\x03\xE8", 4);
    assert_int_equal(host_reg_write(s, 0x89, (const uint8_t *)"\x00\x07", 2), TRUSTM_SIM_ACK);
    assert_int_equal(host_reg_read(s, 0x89, b, 2), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\x00\x04", 2);
    trustm_sim_destroy(s);
}

static void soft_reset_nacks_for_startup_and_clears_state(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = host_sim_new();
    assert_int_equal(host_reg_write(s, 0x81, (const uint8_t *)"\x00\x40", 2), TRUSTM_SIM_ACK);
    assert_int_equal(host_reg_write(s, 0x88, (const uint8_t *)"\x00\x00", 2), TRUSTM_SIM_ACK);
    assert_int_equal(fake_app.resets, 1);
    uint8_t reg = 0x82, b[4];
    assert_int_equal(trustm_sim_i2c_write(s, 0x30, &reg, 1), TRUSTM_SIM_ADDR_NACK);
    trustm_sim_sleep_us(s, 15000);
    assert_int_equal(host_reg_read(s, 0x81, b, 2), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\x01\x15", 2);
    /* frame counters are back at 3/3: the first frame is number 0 */
    assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
    uint8_t f[32];
    assert_int_equal(host_recv(s, f, sizeof(f), 1000, 50000), 5);
    assert_memory_equal(f, "\x80\x00\x00\x0C\xEC", 5);
    trustm_sim_destroy(s);
}

static void short_command_nacks_address_until_done(void **state)
{
    (void)state;
    fake_app_clear();
    fake_app.busy_override = 3000; /* below the separate-ACK threshold */
    struct trustm_sim *s = host_sim_new();
    uint8_t reg = 0x82, b[4];
    uint8_t f[32];
    size_t n = host_frame(0x03, openapp, sizeof(openapp), f);
    uint8_t w[40];
    w[0] = 0x80;
    memcpy(w + 1, f, n);
    assert_int_equal(trustm_sim_i2c_write(s, 0x30, w, n + 1), TRUSTM_SIM_ACK);
    trustm_sim_sleep_us(s, 50);
    /* polling too early: address NACK, counted */
    assert_int_equal(trustm_sim_i2c_write(s, 0x30, &reg, 1), TRUSTM_SIM_ADDR_NACK);
    trustm_sim_sleep_us(s, 3000);
    assert_int_equal(trustm_sim_i2c_write(s, 0x30, &reg, 1), TRUSTM_SIM_ACK);
    trustm_sim_sleep_us(s, 50);
    assert_int_equal(trustm_sim_i2c_read(s, 0x30, b, 4), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\x48\x80\x00\x0A", 4); /* response with piggy-backed ACK */
    char json[8192];
    size_t jl;
    assert_int_equal(trustm_sim_stats_json(s, json, sizeof(json), &jl), TMA_OK);
    assert_non_null(strstr(json, "\"busy_polls\":1,"));
    assert_non_null(strstr(json, "\"name\":\"OpenApplication\",\"count\":1,\"chip_us\":3000"));
    assert_int_equal(trustm_sim_stats_json(s, json, 10, &jl), TMA_ERR(TMA_LAYER_SIM, TMA_C_TOO_SMALL));
    assert_true(jl > 10);
    trustm_sim_destroy(s);
}

static void guard_time_violations_are_counted(void **state)
{
    (void)state;
    struct trustm_sim *s = host_sim_new();
    uint8_t reg = 0x82, b[4];
    assert_int_equal(trustm_sim_i2c_write(s, 0x30, &reg, 1), TRUSTM_SIM_ACK);
    assert_int_equal(trustm_sim_i2c_read(s, 0x30, b, 4), TRUSTM_SIM_ACK); /* no guard time */
    trustm_sim_sleep_us(s, 50);
    assert_int_equal(trustm_sim_i2c_write(s, 0x30, &reg, 1), TRUSTM_SIM_ACK);
    char json[8192];
    size_t jl;
    assert_int_equal(trustm_sim_stats_json(s, json, sizeof(json), &jl), TMA_OK);
    assert_non_null(strstr(json, "\"guard_violations\":1}"));
    trustm_sim_destroy(s);
}

static void port_drives_the_chip(void **state)
{
    (void)state;
    struct trustm_sim *s = host_sim_new();
    struct trustm_port p;
    trustm_sim_port(s, &p);
    uint8_t reg = 0x82, b[4];
    struct trustm_i2c_msg m = {0x30, 0, 1, &reg};
    assert_int_equal(p.transfer(p.ctx, &m, 1), TMA_OK);
    uint64_t t = trustm_sim_now_us(s);
    p.delay_us(p.ctx, 2000);
    assert_int_equal(trustm_sim_now_us(s), t + 2000);
    assert_int_equal(p.now_ms(p.ctx), (uint32_t)((t + 2000) / 1000));
    struct trustm_i2c_msg r = {0x30, TRUSTM_I2C_READ, 4, b};
    assert_int_equal(p.transfer(p.ctx, &r, 1), TMA_OK);
    assert_memory_equal(b, "\x08\x80\x00\x00", 4);
    struct trustm_i2c_msg x = {0x31, TRUSTM_I2C_READ, 4, b};
    assert_int_equal(p.transfer(p.ctx, &x, 1), TMA_ERR(TMA_LAYER_BUS, TMA_C_NACK));
    assert_int_equal(p.transfer(p.ctx, &m, 2), TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM));
    uint8_t bad[2] = {0x82, 0x00};
    struct trustm_i2c_msg d = {0x30, 0, 2, bad};
    assert_int_equal(p.transfer(p.ctx, &d, 1), TMA_ERR(TMA_LAYER_BUS, TMA_C_IO));
    assert_int_equal(p.reset(p.ctx, TRUSTM_RESET_COLD), TMA_OK);
    assert_int_equal(p.transfer(p.ctx, &m, 1), TMA_ERR(TMA_LAYER_BUS, TMA_C_NACK));
    trustm_sim_destroy(s);
}

static int trace_lines;
static char trace_last[4096];
static void trace_sink(void *ctx, const char *line)
{
    (void)ctx;
    trace_lines++;
    snprintf(trace_last, sizeof(trace_last), "%s", line);
}

static void trace_decodes_frames(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim_config cfg;
    struct trustm_sim *s = NULL;
    trustm_sim_config_default(&cfg);
    cfg.trace = trace_sink;
    assert_int_equal(trustm_sim_create(&cfg, &s), TMA_OK);
    assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
    assert_non_null(strstr(trace_last, "DL data FRNR 0 ACK 3 LEN 21 | NET PCTR 00 single | APDU F0 OpenApplication"));
    uint8_t f[32];
    assert_int_equal(host_recv(s, f, sizeof(f), 1000, 50000), 5);
    assert_non_null(strstr(trace_last, "DL ctrl ACK 0"));
    assert_int_equal(host_recv(s, f, sizeof(f), 1000, 50000), 10);
    assert_non_null(strstr(trace_last, "RSP Sta 00 OutLen 0"));
    assert_true(trace_lines > 6);
    trustm_sim_destroy(s);
}

static char trace_prev[4096];
static void trace_sink2(void *ctx, const char *line)
{
    (void)ctx;
    snprintf(trace_prev, sizeof(trace_prev), "%s", trace_last);
    snprintf(trace_last, sizeof(trace_last), "%s", line);
}

/* The trace is a bus sniffer: the write to SOFT_RESET is on the bus before
 * the chip resets, so its line comes first and the reset is no earlier
 * (seen in Infineon's host library run, docs/decisions/sim-vendor-interop.md). */
static void trace_soft_reset_after_its_write(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim_config cfg;
    struct trustm_sim *s = NULL;
    unsigned long long tw = 0, tr = 0;
    trustm_sim_config_default(&cfg);
    cfg.trace = trace_sink2;
    assert_int_equal(trustm_sim_create(&cfg, &s), TMA_OK);
    trustm_sim_sleep_us(s, 20000);
    assert_int_equal(host_reg_write(s, 0x88, (const uint8_t *)"\x00\x00", 2), TRUSTM_SIM_ACK);
    assert_int_equal(fake_app.resets, 1);
    assert_non_null(strstr(trace_prev, " W 30 [ACK] 88 00 00"));
    assert_non_null(strstr(trace_last, " RESET soft"));
    assert_int_equal(sscanf(trace_prev, "t=%llu", &tw), 1);
    assert_int_equal(sscanf(trace_last, "t=%llu", &tr), 1);
    assert_true(tr >= tw);
    /* the reset still takes effect: start-up NACK, then the default frame size */
    uint8_t reg = 0x82, b[2];
    assert_int_equal(trustm_sim_i2c_write(s, 0x30, &reg, 1), TRUSTM_SIM_ADDR_NACK);
    trustm_sim_sleep_us(s, 15000);
    assert_int_equal(host_reg_read(s, 0x81, b, 2), TRUSTM_SIM_ACK);
    assert_memory_equal(b, "\x01\x15", 2);
    trustm_sim_destroy(s);
}

static void realtime_mode_uses_the_wall_clock(void **state)
{
    (void)state;
    fake_app_clear();
    fake_app.busy_override = 20000;
    struct trustm_sim_config cfg;
    struct trustm_sim *s = NULL;
    trustm_sim_config_default(&cfg);
    cfg.realtime = true;
    assert_int_equal(trustm_sim_create(&cfg, &s), TMA_OK);
    uint64_t t0 = trustm_sim_now_us(s);
    uint8_t f[40], st[4], reg = 0x82;
    size_t n = host_frame(0x03, openapp, sizeof(openapp), f + 1);
    f[0] = 0x80;
    assert_int_equal(trustm_sim_i2c_write(s, 0x30, f, n + 1), TRUSTM_SIM_ACK);
    trustm_sim_sleep_us(s, 1000); /* a real sleep */
    assert_true(trustm_sim_now_us(s) >= t0 + 1000);
    assert_int_equal(trustm_sim_i2c_write(s, 0x30, &reg, 1), TRUSTM_SIM_ACK);
    assert_int_equal(trustm_sim_i2c_read(s, 0x30, st, 4), TRUSTM_SIM_ACK);
    assert_int_equal(st[0], 0xC8); /* control ACK ready, still busy */
    trustm_sim_sleep_us(s, 25000);
    assert_int_equal(trustm_sim_i2c_read(s, 0x30, st, 4), TRUSTM_SIM_ACK);
    assert_int_equal(st[0] & 0x80, 0);
    assert_true(trustm_sim_now_us(s) >= t0 + 26000);
    trustm_sim_destroy(s);
}

static void create_rejects_bad_config(void **state)
{
    (void)state;
    struct trustm_sim_config cfg;
    struct trustm_sim *s = NULL;
    trustm_sim_config_default(&cfg);
    cfg.version = 2;
    assert_int_equal(trustm_sim_create(&cfg, &s), TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM));
    assert_null(s);
    assert_int_equal(trustm_sim_create(NULL, &s), TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM));
    trustm_sim_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(registers_have_documented_values),
        cmocka_unit_test(data_reg_len_negotiation),
        cmocka_unit_test(address_base_addr_and_i2c_mode),
        cmocka_unit_test(soft_reset_nacks_for_startup_and_clears_state),
        cmocka_unit_test(short_command_nacks_address_until_done),
        cmocka_unit_test(guard_time_violations_are_counted),
        cmocka_unit_test(port_drives_the_chip),
        cmocka_unit_test(trace_decodes_frames),
        cmocka_unit_test(trace_soft_reset_after_its_write),
        cmocka_unit_test(realtime_mode_uses_the_wall_clock),
        cmocka_unit_test(create_rejects_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
