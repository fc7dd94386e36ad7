/* sim data link and network layers through the bus: NAK, duplicates, RESYNC,
 * retransmission, chaining both ways, chaining errors, and the fault injector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sim_fake_app.h"
#include "sim_host.h"
#include "sim_int.h"

static const uint8_t openapp[] = {0x00, 0xF0, 0x00, 0x00, 0x10, 0xD2, 0x76, 0x00, 0x00, 0x04, 0x47,
                                  0x65, 0x6E, 0x41, 0x75, 0x74, 0x68, 0x41, 0x70, 0x70, 0x6C};
static const uint8_t getrandom[] = {0x00, 0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};

static void ack(struct trustm_sim *s, uint8_t nr)
{
    assert_int_equal(host_send(s, (uint8_t)(0x80 | nr), NULL, 0), TRUSTM_SIM_ACK);
}

/* Receive the next data frame (skipping control ACKs); returns its length. */
static size_t recv_data(struct trustm_sim *s, uint8_t *f, size_t cap)
{
    size_t n;
    do {
        n = host_recv(s, f, cap, 1000, 200000);
        assert_true(n >= 5);
    } while (n == 5 && (f[0] & 0xE0) == 0x80);
    return n;
}

static void bad_crc_is_naked_then_retransmission_accepted(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = host_sim_new();
    uint8_t f[64], r[300];
    size_t n = host_frame(0x03, openapp, sizeof(openapp), f);
    f[n - 1] ^= 0xFF;
    assert_int_equal(host_send_raw(s, f, n), TRUSTM_SIM_ACK);
    assert_int_equal(host_recv(s, r, sizeof(r), 1000, 50000), 5);
    assert_memory_equal(r, "\xA0\x00\x00\x0F\xD7", 5); /* NAK 0 = next expected */
    assert_int_equal(fake_app.executes, 0);
    f[n - 1] ^= 0xFF;
    assert_int_equal(host_send_raw(s, f, n), TRUSTM_SIM_ACK);
    n = recv_data(s, r, sizeof(r));
    assert_int_equal(n, 10);
    assert_int_equal(fake_app.executes, 1);
    trustm_sim_destroy(s);
}

static void duplicate_after_lost_ack_is_reacked_not_reexecuted(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = host_sim_new();
    const char *cfg = "{\"lost_ack\":1,\"max_faults\":1}";
    assert_int_equal(trustm_sim_faults_json(s, cfg, strlen(cfg)), TMA_OK);
    uint8_t r[300];
    assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
    /* the control ACK was lost: nothing readable within TRANS_TIMEOUT */
    assert_int_equal(host_recv(s, r, sizeof(r), 1000, 3000), 0);
    assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
    assert_int_equal(host_recv(s, r, sizeof(r), 1000, 50000), 5);
    assert_memory_equal(r, "\x80\x00\x00\x0C\xEC", 5);
    assert_int_equal(recv_data(s, r, sizeof(r)), 10);
    assert_int_equal(fake_app.executes, 1);
    ack(s, 0);
    char json[8192];
    size_t jl;
    assert_int_equal(trustm_sim_stats_json(s, json, sizeof(json), &jl), TMA_OK);
    assert_non_null(strstr(json, "\"duplicates\":1"));
    assert_non_null(strstr(json, "\"lost_ack\":1"));
    /* faults off: the total and its parts still agree (audit F8) */
    assert_int_equal(trustm_sim_faults_json(s, "{}", 2), TMA_OK);
    assert_int_equal(trustm_sim_stats_json(s, json, sizeof(json), &jl), TMA_OK);
    assert_non_null(strstr(json, "\"injected\":1,"));
    assert_non_null(strstr(json, "\"lost_ack\":1"));
    trustm_sim_destroy(s);
}

static void host_nak_gets_identical_retransmission(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = host_sim_new();
    uint8_t r1[300], r2[300];
    assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
    size_t n1 = recv_data(s, r1, sizeof(r1));
    assert_int_equal(host_send(s, 0xA0, NULL, 0), TRUSTM_SIM_ACK); /* NAK 0 */
    size_t n2 = recv_data(s, r2, sizeof(r2));
    assert_int_equal(n1, n2);
    assert_memory_equal(r1, r2, n1);
    ack(s, 0);
    uint8_t st[4];
    assert_int_equal(host_reg_read(s, 0x82, st, 4), TRUSTM_SIM_ACK);
    assert_memory_equal(st, "\x08\x80\x00\x00", 4);
    assert_int_equal(fake_app.executes, 1);
    trustm_sim_destroy(s);
}

static void unacknowledged_response_is_resent_after_trans_timeout(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = host_sim_new();
    uint8_t r1[300], r2[300];
    assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
    size_t n1 = recv_data(s, r1, sizeof(r1));
    uint8_t st[4];
    assert_int_equal(host_reg_read(s, 0x82, st, 4), TRUSTM_SIM_ACK);
    assert_int_equal(st[0] & 0x40, 0);
    trustm_sim_sleep_us(s, 11000);
    size_t n2 = recv_data(s, r2, sizeof(r2));
    assert_int_equal(n1, n2);
    assert_memory_equal(r1, r2, n1);
    trustm_sim_destroy(s);
}

static void resync_resets_frame_numbers(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = host_sim_new();
    uint8_t r[300];
    assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
    recv_data(s, r, sizeof(r));
    ack(s, 0);
    /* wrong frame number: re-ACK of the last good frame */
    assert_int_equal(host_send(s, 0x0C, getrandom, sizeof(getrandom)), TRUSTM_SIM_ACK);
    assert_int_equal(host_recv(s, r, sizeof(r), 1000, 50000), 5);
    assert_memory_equal(r, "\x80\x00\x00\x0C\xEC", 5);
    assert_int_equal(host_send(s, 0xC0, NULL, 0), TRUSTM_SIM_ACK);
    assert_int_equal(host_send(s, 0x03, getrandom, sizeof(getrandom)), TRUSTM_SIM_ACK);
    size_t n = recv_data(s, r, sizeof(r));
    assert_int_equal(n, 5 + 1 + 4 + 32);
    assert_int_equal(r[0], 0x00); /* FRNR 0, ACK 0 */
    assert_int_equal(fake_app.executes, 2);
    trustm_sim_destroy(s);
}

static void first_data_frame_after_resync_is_frame_0(void **state)
{
    /* spec 2.4: after RESYNC both sides restart at 3/3, the next data frame
     * in each direction is number 0, also when a response was unacknowledged */
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = host_sim_new();
    uint8_t r[300];
    assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
    recv_data(s, r, sizeof(r));
    assert_int_equal(r[0], 0x00);
    /* the host never acknowledges it: it resynchronises and sends a new command */
    assert_int_equal(host_send(s, 0xC0, NULL, 0), TRUSTM_SIM_ACK);
    assert_int_equal(host_send(s, 0x03, getrandom, sizeof(getrandom)), TRUSTM_SIM_ACK);
    size_t n = recv_data(s, r, sizeof(r));
    assert_int_equal(n, 5 + 1 + 4 + 32);
    assert_int_equal(r[0], 0x00); /* FRNR 0, ACKNR 0 */
    ack(s, 0);
    assert_int_equal(host_send(s, 0x04, getrandom, sizeof(getrandom)), TRUSTM_SIM_ACK);
    n = recv_data(s, r, sizeof(r));
    assert_int_equal(r[0], 0x05); /* FRNR 1, ACKNR 1 */
    ack(s, 1);
    assert_int_equal(fake_app.executes, 3);
    trustm_sim_destroy(s);
}

/* Send a command as data frame fctr and expect its response; ACK it. */
static void exchange(struct trustm_sim *s, uint8_t fctr, uint8_t want_fctr)
{
    uint8_t r[300];
    assert_int_equal(host_send(s, fctr, getrandom, sizeof(getrandom)), TRUSTM_SIM_ACK);
    size_t n = recv_data(s, r, sizeof(r));
    assert_int_equal(n, 5 + 1 + 4 + 32);
    assert_int_equal(r[0], want_fctr);
    ack(s, (uint8_t)((want_fctr >> 2) & 3u));
}

static void nak_for_unsent_frame_never_wedges_the_link(void **state)
{
    /* spec 2.5 transmitter table: an ACK/NAK with an unexpected number is a
     * hint of desync; it must not wedge the link, RESYNC always recovers */
    (void)state;
    for (uint8_t nr = 0; nr < 4; nr++) {
        for (int when = 0; when < 3; when++) {
            fake_app_clear();
            struct trustm_sim *s = host_sim_new();
            uint8_t r[300];
            if (when == 0) {
                /* before the chip sent anything */
                assert_int_equal(host_send(s, (uint8_t)(0xA0 | nr), NULL, 0), TRUSTM_SIM_ACK);
            } else {
                assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
                recv_data(s, r, sizeof(r));
                if (when == 2) {
                    ack(s, 0);
                }
                assert_int_equal(host_send(s, (uint8_t)(0xA0 | nr), NULL, 0), TRUSTM_SIM_ACK);
            }
            /* whatever the chip makes of it, a RESYNC brings the link back */
            (void)host_recv(s, r, sizeof(r), 1000, 30000);
            assert_int_equal(host_send(s, 0xC0, NULL, 0), TRUSTM_SIM_ACK);
            exchange(s, 0x03, 0x00);
            exchange(s, 0x04, 0x05);
            exchange(s, 0x09, 0x0A);
            trustm_sim_destroy(s);
        }
    }
}

static void ack_or_nak_for_a_response_not_yet_sent_is_ignored(void **state)
{
    /* a long command: control ACK now, response after 60 ms. The host names
     * the response frame (NAK 0 / ACK 0) before the chip has sent it: that is
     * a hint of desync, not a request; the chip neither hands out the response
     * early nor drops it, and the next command is accepted right after it. */
    (void)state;
    for (int kind = 0; kind < 2; kind++) {
        fake_app_clear();
        fake_app.busy_override = 60000;
        struct trustm_sim *s = host_sim_new();
        uint8_t r[300], st[4];
        assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
        assert_int_equal(host_recv(s, r, sizeof(r), 1000, 50000), 5); /* control ACK */
        assert_memory_equal(r, "\x80\x00\x00\x0C\xEC", 5);
        assert_int_equal(host_send(s, kind ? 0x80 : 0xA0, NULL, 0), TRUSTM_SIM_ACK);
        assert_int_equal(host_reg_read(s, 0x82, st, 4), TRUSTM_SIM_ACK);
        assert_memory_equal(st, "\x88\x80\x00\x00", 4); /* still BUSY, nothing to read */
        size_t n = recv_data(s, r, sizeof(r));
        assert_int_equal(n, 10);
        assert_int_equal(r[0], 0x00);
        ack(s, 0);
        /* the next command is taken at once, not NAKed */
        assert_int_equal(host_send(s, 0x04, getrandom, sizeof(getrandom)), TRUSTM_SIM_ACK);
        n = host_recv(s, r, sizeof(r), 1000, 50000);
        assert_int_equal(n, 5);
        assert_int_equal(r[0], 0x81); /* control ACK 1, not a NAK */
        n = recv_data(s, r, sizeof(r));
        assert_int_equal(n, 5 + 1 + 4 + 32);
        assert_int_equal(r[0], 0x05);
        assert_int_equal(fake_app.executes, 2);
        trustm_sim_destroy(s);
    }
}

static void resync_restores_retransmissions_after_nak_limit(void **state)
{
    /* a host that NAKed the response until the chip stopped resending it can
     * still get it after a RESYNC: as frame 0, on its NAK 0 */
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = host_sim_new();
    uint8_t r[300], first[300];
    assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
    size_t n0 = recv_data(s, first, sizeof(first));
    size_t got = 1;
    for (int i = 0; i < 40; i++) {
        assert_int_equal(host_send(s, 0xA0, NULL, 0), TRUSTM_SIM_ACK);
        if (host_recv(s, r, sizeof(r), 1000, 3000) == 0) {
            break;
        }
        got++;
    }
    assert_true(got < 40); /* the chip gives up at some point */
    assert_int_equal(host_send(s, 0xC0, NULL, 0), TRUSTM_SIM_ACK);
    assert_int_equal(host_send(s, 0xA0, NULL, 0), TRUSTM_SIM_ACK); /* NAK 0 */
    size_t n = host_recv(s, r, sizeof(r), 1000, 3000);
    assert_int_equal(n, n0);
    assert_int_equal(r[0], 0x03); /* frame 0, ACKNR 3 (nothing received since the RESYNC) */
    assert_memory_equal(r + 1, first + 1, n0 - 3);
    ack(s, 0);
    exchange(s, 0x00, 0x04); /* host frame 0 acking 0; chip frame 1 acking 0 */
    trustm_sim_destroy(s);
}

static void chained_command_is_reassembled(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = host_sim_new();
    static uint8_t apdu[700];
    uint8_t pkt[272], r[300];
    apdu[0] = 0x82;
    apdu[1] = 0x00;
    apdu[2] = (uint8_t)((sizeof(apdu) - 4) >> 8);
    apdu[3] = (uint8_t)(sizeof(apdu) - 4);
    for (size_t i = 4; i < sizeof(apdu); i++) {
        apdu[i] = (uint8_t)i;
    }
    size_t off = 0;
    uint8_t nr = 0;
    while (off < sizeof(apdu)) {
        size_t left = sizeof(apdu) - off;
        size_t take = left > 271 ? 271 : left;
        pkt[0] = off == 0 ? 0x01 : left > 271 ? 0x02 : 0x04;
        memcpy(pkt + 1, apdu + off, take);
        assert_int_equal(host_send(s, (uint8_t)((nr << 2) | 3), pkt, take + 1), TRUSTM_SIM_ACK);
        off += take;
        if (off < sizeof(apdu)) {
            assert_int_equal(host_recv(s, r, sizeof(r), 1000, 50000), 5);
            assert_int_equal(r[0], 0x80 | nr);
        }
        nr++;
    }
    size_t n = recv_data(s, r, sizeof(r));
    assert_int_equal(n, 10);
    assert_int_equal(r[4], 0xFF); /* the fake rejects SetDataObject */
    assert_int_equal(fake_app.last_apdu_len, sizeof(apdu));
    assert_memory_equal(fake_app.last_apdu, apdu, sizeof(apdu));
    trustm_sim_destroy(s);
}

static void chaining_errors_are_answered_with_0x07(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = host_sim_new();
    uint8_t pkt[100] = {0x01}, r[300];
    assert_int_equal(host_send(s, 0x03, pkt, 100), TRUSTM_SIM_ACK); /* short first packet */
    size_t n = recv_data(s, r, sizeof(r));
    assert_int_equal(n, 6);
    assert_int_equal(r[3], 0x07);
    ack(s, 0);
    pkt[0] = 0x04; /* last without first */
    assert_int_equal(host_send(s, 0x04, pkt, 10), TRUSTM_SIM_ACK);
    n = recv_data(s, r, sizeof(r));
    assert_int_equal(n, 6);
    assert_int_equal(r[3], 0x07);
    assert_int_equal(fake_app.executes, 0);
    trustm_sim_destroy(s);
}

static void host_chaining_error_drops_response(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = host_sim_new();
    uint8_t r[300];
    uint8_t get[] = {0x00, 0x81, 0x00, 0x00, 0x06, 0xE0, 0xE0, 0x00, 0x00, 0x06, 0x11};
    assert_int_equal(host_send(s, 0x03, get, sizeof(get)), TRUSTM_SIM_ACK);
    assert_int_equal(recv_data(s, r, sizeof(r)), 277);
    uint8_t err = 0x07;
    assert_int_equal(host_send(s, 0x04, &err, 1), TRUSTM_SIM_ACK); /* frame 1, ACK 0 */
    assert_int_equal(host_recv(s, r, sizeof(r), 1000, 50000), 5);
    assert_memory_equal(r, "\x81\x00\x00\x56\x30", 5);
    uint8_t st[4];
    trustm_sim_sleep_us(s, 20000);
    assert_int_equal(host_reg_read(s, 0x82, st, 4), TRUSTM_SIM_ACK);
    assert_memory_equal(st, "\x08\x80\x00\x00", 4);
    trustm_sim_destroy(s);
}

static void new_frame_while_executing_is_naked(void **state)
{
    (void)state;
    fake_app_clear();
    fake_app.busy_override = 60000;
    struct trustm_sim *s = host_sim_new();
    uint8_t r[300];
    assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
    assert_int_equal(host_recv(s, r, sizeof(r), 1000, 50000), 5); /* control ACK */
    uint8_t st[4];
    assert_int_equal(host_reg_read(s, 0x82, st, 4), TRUSTM_SIM_ACK);
    assert_memory_equal(st, "\x88\x80\x00\x00", 4); /* BUSY */
    assert_int_equal(host_send(s, 0x04, getrandom, sizeof(getrandom)), TRUSTM_SIM_ACK);
    assert_int_equal(host_recv(s, r, sizeof(r), 1000, 50000), 5);
    assert_memory_equal(r, "\xA1\x00\x00\x55\x0B", 5);
    assert_int_equal(recv_data(s, r, sizeof(r)), 10);
    assert_int_equal(fake_app.executes, 1);
    /* the BUSY polls are the long command's */
    char json[8192];
    size_t jl;
    assert_int_equal(trustm_sim_stats_json(s, json, sizeof(json), &jl), TMA_OK);
    const char *c = strstr(json, "\"name\":\"OpenApplication\"");
    assert_non_null(c);
    assert_non_null(strstr(c, "\"chip_us\":60000,"));
    assert_null(strstr(c, "\"polls\":0}"));
    trustm_sim_destroy(s);
}

static void fault_bitflip_tx_recovers_by_nak(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = host_sim_new();
    const char *cfg = "{\"bitflip_tx\":1,\"max_faults\":1,\"seed\":3}";
    assert_int_equal(trustm_sim_faults_json(s, cfg, strlen(cfg)), TMA_OK);
    uint8_t r[300];
    fake_app.busy_override = 1000;
    assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
    size_t n = host_recv(s, r, sizeof(r), 1000, 50000);
    struct sim_frame fr;
    assert_int_not_equal(sim_frame_decode(r, n, &fr), SIM_FE_OK);
    assert_int_equal(host_send(s, 0xA0, NULL, 0), TRUSTM_SIM_ACK);
    n = host_recv(s, r, sizeof(r), 1000, 50000);
    assert_int_equal(sim_frame_decode(r, n, &fr), SIM_FE_OK);
    assert_int_equal(fr.pkt_len, 5);
    trustm_sim_destroy(s);
}

static void fault_truncate_and_oversize_break_the_frame(void **state)
{
    (void)state;
    const char *cfgs[] = {"{\"truncate\":1,\"max_faults\":1}", "{\"oversize\":1,\"max_faults\":1}"};
    for (int i = 0; i < 2; i++) {
        fake_app_clear();
        fake_app.busy_override = 1000;
        struct trustm_sim *s = host_sim_new();
        assert_int_equal(trustm_sim_faults_json(s, cfgs[i], strlen(cfgs[i])), TMA_OK);
        uint8_t r[300];
        assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
        size_t n = host_recv(s, r, sizeof(r), 1000, 50000);
        assert_true(i == 0 ? n < 10 : n > 10);
        struct sim_frame fr;
        assert_int_not_equal(sim_frame_decode(r, n, &fr), SIM_FE_OK);
        trustm_sim_destroy(s);
    }
}

/* A frame that already fills DATA_REG_LEN cannot grow: a chip never announces
 * more than DATA_REG_LEN in I2C_STATE, and Infineon's host library only reads
 * 0 < len <= its frame size, so a longer announcement wedged it (it polled
 * I2C_STATE until its 180 s timeout; docs/decisions/sim-vendor-interop.md).
 * Shorter frames still grow up to DATA_REG_LEN. */
static void fault_oversize_stays_within_data_reg_len(void **state)
{
    (void)state;
    for (int full = 0; full < 2; full++) {
        fake_app_clear();
        fake_app.busy_override = 1000;
        struct trustm_sim *s = host_sim_new();
        /* GetRandom 32: response frame 5 + 1 + 4 + 32 = 42 bytes */
        uint16_t dlen = full ? 42 : 46;
        uint8_t v[2] = {(uint8_t)(dlen >> 8), (uint8_t)dlen}, st[4], r[300];
        assert_int_equal(host_reg_write(s, 0x81, v, 2), TRUSTM_SIM_ACK);
        const char *cfg = "{\"oversize\":1,\"max_faults\":1,\"seed\":1}";
        assert_int_equal(trustm_sim_faults_json(s, cfg, strlen(cfg)), TMA_OK);
        assert_int_equal(host_send(s, 0x03, getrandom, sizeof(getrandom)), TRUSTM_SIM_ACK);
        int seen = 0;
        for (int i = 0; i < 200 && !seen; i++) {
            trustm_sim_sleep_us(s, 1000);
            assert_int_equal(host_reg_read(s, 0x82, st, 4), TRUSTM_SIM_ACK);
            if ((st[0] & 0x40) && ((st[2] << 8) | st[3]) > 5) {
                seen = (st[2] << 8) | st[3];
            }
        }
        assert_true(seen > 0);
        assert_true(seen <= dlen);
        if (full) {
            assert_int_equal(seen, 42); /* no room: the frame is sent as it is */
        } else {
            assert_true(seen > 42); /* room for up to 4 junk bytes: the fault still breaks the frame */
        }
        assert_int_equal(host_reg_read(s, 0x80, r, (size_t)seen), TRUSTM_SIM_ACK);
        struct sim_frame fr;
        assert_int_equal(sim_frame_decode(r, (size_t)seen, &fr) == SIM_FE_OK, full);
        trustm_sim_destroy(s);
    }
}

static void fault_spurious_resync_and_nak_storm(void **state)
{
    (void)state;
    fake_app_clear();
    struct trustm_sim *s = host_sim_new();
    const char *cfg = "{\"spurious_resync\":1,\"max_faults\":1}";
    assert_int_equal(trustm_sim_faults_json(s, cfg, strlen(cfg)), TMA_OK);
    uint8_t r[300];
    assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
    assert_int_equal(host_recv(s, r, sizeof(r), 1000, 50000), 5);
    assert_memory_equal(r, "\xC0\x00\x00\x0A\x9A", 5);
    assert_int_equal(fake_app.executes, 0);
    assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
    assert_int_equal(recv_data(s, r, sizeof(r)), 10);
    ack(s, 0);

    cfg = "{\"nak_storm\":1,\"max_faults\":1,\"nak_storm_len\":3}";
    assert_int_equal(trustm_sim_faults_json(s, cfg, strlen(cfg)), TMA_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(host_send(s, 0x04, getrandom, sizeof(getrandom)), TRUSTM_SIM_ACK);
        assert_int_equal(host_recv(s, r, sizeof(r), 1000, 50000), 5);
        assert_memory_equal(r, "\xA1\x00\x00\x55\x0B", 5);
    }
    assert_int_equal(host_send(s, 0x04, getrandom, sizeof(getrandom)), TRUSTM_SIM_ACK);
    assert_int_equal(recv_data(s, r, sizeof(r)), 42);
    trustm_sim_destroy(s);
}

static void fault_reset_mid_command_and_busy_nack(void **state)
{
    (void)state;
    fake_app_clear();
    fake_app.busy_override = 40000;
    struct trustm_sim *s = host_sim_new();
    const char *cfg = "{\"reset_mid_command\":1,\"max_faults\":1}";
    assert_int_equal(trustm_sim_faults_json(s, cfg, strlen(cfg)), TMA_OK);
    uint8_t r[300];
    assert_int_equal(host_send(s, 0x03, openapp, sizeof(openapp)), TRUSTM_SIM_ACK);
    assert_int_equal(host_recv(s, r, sizeof(r), 1000, 10000), 5);
    /* the response never comes: the chip reset itself */
    assert_int_equal(host_recv(s, r, sizeof(r), 5000, 100000), 0);
    assert_int_equal(fake_app.resets, 1);

    cfg = "{\"busy_nack\":1,\"max_faults\":2}";
    assert_int_equal(trustm_sim_faults_json(s, cfg, strlen(cfg)), TMA_OK);
    uint8_t reg = 0x82;
    assert_int_equal(trustm_sim_i2c_write(s, 0x30, &reg, 1), TRUSTM_SIM_ADDR_NACK);
    trustm_sim_sleep_us(s, 100);
    assert_int_equal(trustm_sim_i2c_write(s, 0x30, &reg, 1), TRUSTM_SIM_ADDR_NACK);
    trustm_sim_sleep_us(s, 100);
    assert_int_equal(trustm_sim_i2c_write(s, 0x30, &reg, 1), TRUSTM_SIM_ACK);
    trustm_sim_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_crc_is_naked_then_retransmission_accepted),
        cmocka_unit_test(duplicate_after_lost_ack_is_reacked_not_reexecuted),
        cmocka_unit_test(host_nak_gets_identical_retransmission),
        cmocka_unit_test(unacknowledged_response_is_resent_after_trans_timeout),
        cmocka_unit_test(resync_resets_frame_numbers),
        cmocka_unit_test(first_data_frame_after_resync_is_frame_0),
        cmocka_unit_test(nak_for_unsent_frame_never_wedges_the_link),
        cmocka_unit_test(ack_or_nak_for_a_response_not_yet_sent_is_ignored),
        cmocka_unit_test(resync_restores_retransmissions_after_nak_limit),
        cmocka_unit_test(chained_command_is_reassembled),
        cmocka_unit_test(chaining_errors_are_answered_with_0x07),
        cmocka_unit_test(host_chaining_error_drops_response),
        cmocka_unit_test(new_frame_while_executing_is_naked),
        cmocka_unit_test(fault_bitflip_tx_recovers_by_nak),
        cmocka_unit_test(fault_truncate_and_oversize_break_the_frame),
        cmocka_unit_test(fault_oversize_stays_within_data_reg_len),
        cmocka_unit_test(fault_spurious_resync_and_nak_storm),
        cmocka_unit_test(fault_reset_mid_command_and_busy_nack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
