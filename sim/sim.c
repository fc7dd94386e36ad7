/*
 * The simulated chip: glue between bus, link, network and presentation layers
 * and the application; time model; fault injection points; statistics; the
 * public API of include/trustm_sim/sim.h and its in-process I2C port.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_int.h"

#define STAT_CHAIN_ERROR 260
#define STAT_LINK 261

static const char *const extra_names[SIM_STAT_EXTRA] = {
    "prl_hello", "prl_finished", "prl_control", "empty_apdu", "chain_error", "link_only",
};

void trustm_sim_config_default(struct trustm_sim_config *cfg)
{
    if (!cfg) {
        return;
    }
    memset(cfg, 0, sizeof(*cfg));
    cfg->i2c_addr = TRUSTM_SIM_DEFAULT_ADDR;
    cfg->seed = 1;
    cfg->version = 3;
}

void sim_tracef(struct trustm_sim *s, const char *fmt, ...)
{
    if (!s->cfg.trace) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->trace_line, sizeof(s->trace_line), fmt, ap);
    va_end(ap);
    s->cfg.trace(s->cfg.trace_ctx, s->trace_line);
}

static void hexstr(const uint8_t *p, size_t n, char *out, size_t cap)
{
    static const char hx[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < cap; i++) {
        out[o++] = hx[p[i] >> 4];
        out[o++] = hx[p[i] & 15u];
        out[o++] = ' ';
    }
    if (o > 0) {
        o--;
    }
    out[o] = 0;
}

static void trace_txn(struct trustm_sim *s, uint64_t t, char dir, uint8_t addr, const uint8_t *d,
                      size_t n, enum trustm_sim_ack ack)
{
    if (!s->cfg.trace) {
        return;
    }
    static const char *const acks[] = {"ACK", "ADDR-NACK", "DATA-NACK"};
    char hex[3 * 300 + 1];
    char dec[256];
    dec[0] = 0;
    hexstr(d, n, hex, sizeof(hex));
    if (ack == TRUSTM_SIM_ACK || ack == TRUSTM_SIM_DATA_NACK) {
        if (dir == 'W' && n > 1 && d[0] == 0x80) {
            sim_trace_describe(d + 1, n - 1, true, dec, sizeof(dec));
        } else if (dir == 'R' && s->reg == 0x80 && n >= 5) {
            size_t flen = (((size_t)d[1] << 8) | d[2]) + SIM_DL_OVERHEAD;
            sim_trace_describe(d, flen <= n ? flen : n, false, dec, sizeof(dec));
        }
    }
    sim_tracef(s, "t=%llu %c %02X [%s]%s%s%s%s", (unsigned long long)t, dir, addr, acks[ack],
               n ? " " : "", hex, dec[0] ? " ; " : "", dec);
}

/* ---- statistics attribution ---------------------------------------------- */
static void stat_bytes(struct trustm_sim *s, size_t n)
{
    s->stats.bus_bytes += n;
    if (s->stats.current >= 0) {
        s->stats.cmd[s->stats.current].bus_bytes += n;
    } else {
        s->stats.pend_bytes += n;
    }
}

void sim_stat_poll(struct trustm_sim *s)
{
    if (s->stats.current >= 0) {
        s->stats.cmd[s->stats.current].polls++;
    } else {
        s->stats.pend_polls++;
    }
}

static void stat_command(struct trustm_sim *s, int idx, uint32_t busy)
{
    if (idx < 0 || idx >= 256 + SIM_STAT_EXTRA) {
        idx = STAT_LINK;
    }
    struct sim_cmd_stat *c = &s->stats.cmd[idx];
    c->count++;
    c->chip_us += busy;
    c->bus_bytes += s->stats.pend_bytes;
    c->polls += s->stats.pend_polls;
    s->stats.pend_bytes = 0;
    s->stats.pend_polls = 0;
    s->stats.current = idx;
}

/* ---- engine -------------------------------------------------------------- */
/* A frame on the wire (n bytes at p): count its bytes, let the byte fault k
 * damage them, and count the damaged frames that still decode (CRC-16 did
 * not see the damage). */
static void wire_faults(struct trustm_sim *s, enum sim_fault k, uint8_t *p, size_t n,
                        uint64_t *bytes, uint64_t *escapes)
{
    struct sim_frame f;
    size_t hit = sim_fault_bytes(&s->faults, k, p, n);
    *bytes += n;
    if (hit) {
        bool esc = sim_frame_decode(p, n, &f) == SIM_FE_OK;
        *escapes += esc;
        sim_tracef(s, "FAULT %s %zu byte(s)%s", sim_fault_name(k), hit,
                   esc ? ", still decodes (CRC escape)" : "");
    }
}

static void fault_outframe(struct trustm_sim *s, struct sim_outframe *o)
{
    if (!o->valid || o->len < SIM_DL_OVERHEAD) {
        return;
    }
    if (sim_fault_hit(&s->faults, SIM_FAULT_BITFLIP_TX)) {
        uint32_t bit = sim_fault_rand(&s->faults, (uint32_t)o->len * 8u);
        o->buf[bit / 8u] ^= (uint8_t)(1u << (bit % 8u));
        sim_tracef(s, "FAULT bitflip_tx bit %u", bit);
    }
    if (sim_fault_hit(&s->faults, SIM_FAULT_TRUNCATE)) {
        uint16_t cut = (uint16_t)(1u + sim_fault_rand(&s->faults, 3));
        o->len = (uint16_t)(o->len > cut + 1u ? (unsigned)o->len - cut : 1u);
        sim_tracef(s, "FAULT truncate -%u", cut);
    }
    /* junk only up to DATA_REG_LEN: a chip never announces a longer frame, and a
     * host that reads only 0 < len <= its frame size (Infineon's library) would
     * poll a longer one forever; a frame that fills DATA_REG_LEN is left as it is */
    size_t room = s->dreg_len > o->len ? (size_t)s->dreg_len - o->len : 0;
    if (room > 8u) {
        room = 8u;
    }
    if (room && o->len + room <= sizeof(o->buf) && sim_fault_hit(&s->faults, SIM_FAULT_OVERSIZE)) {
        uint16_t add = (uint16_t)(1u + sim_fault_rand(&s->faults, (uint32_t)room));
        for (uint16_t i = 0; i < add; i++) {
            o->buf[o->len + i] = (uint8_t)sim_fault_rand(&s->faults, 256);
        }
        o->len = (uint16_t)(o->len + add);
        sim_tracef(s, "FAULT oversize +%u", add);
    }
}

static void queue_ack(struct trustm_sim *s, uint64_t at)
{
    if (sim_fault_hit(&s->faults, SIM_FAULT_LOST_ACK)) {
        sim_tracef(s, "FAULT lost_ack");
        return;
    }
    sim_link_queue_ack(&s->link, at);
    fault_outframe(s, &s->link.ctrl);
}

static void queue_packet(struct trustm_sim *s, const uint8_t *pkt, size_t len, uint64_t at)
{
    sim_link_queue_data(&s->link, pkt, len, at);
    s->stats.frames_tx++;
    fault_outframe(s, &s->link.data);
}

static void send_next_packet(struct trustm_sim *s, uint64_t at)
{
    uint8_t pkt[SIM_DREG_MAX];
    size_t n = 0;
    if (sim_net_tx_next(&s->net, (size_t)s->dreg_len - SIM_DL_OVERHEAD, pkt, sizeof(pkt), &n)) {
        queue_packet(s, pkt, n, at);
    }
}

static void execute(struct trustm_sim *s, uint64_t now)
{
    struct sim_shield_out *out = malloc(sizeof(*out));
    if (!out) {
        queue_ack(s, now + SIM_LINK_US);
        return;
    }
    s->shield.corrupt_next_mac = sim_fault_hit(&s->faults, SIM_FAULT_CORRUPT_MAC);
    sim_shield_handle(&s->shield, s->app, now, s->net.rx_presence, s->net.rx, s->net.rx_len, out);
    if (sim_faults_seen_read(&s->faults, out->read_oid)) {
        sim_tracef(s, "FAULT armed: GetDataObject 0x%04X", (unsigned)out->read_oid);
        /* corrupt_mac applies from the armed read's own response already, so
         * a test can fail exactly that read over the shielded connection
         * (a protected response: SCTR bit 1, header 5 bytes, MAC 8 bytes) */
        if (out->presence && out->len > 13u && (out->msg[0] & 0xC2u) == 0x02u &&
            sim_fault_hit(&s->faults, SIM_FAULT_CORRUPT_MAC)) {
            out->msg[out->len - 8u] ^= 0x01u;
            sim_tracef(s, "FAULT corrupt_mac (the armed read's response)");
        }
    }
    if (s->shield.corrupt_next_mac) {
        s->shield.corrupt_next_mac = false; /* response was not protected: nothing corrupted */
        s->faults.count[SIM_FAULT_CORRUPT_MAC]--;
        s->faults.injected--;
        s->faults.since_config--;
    } else if (s->faults.prob[SIM_FAULT_CORRUPT_MAC]) {
        sim_tracef(s, "FAULT corrupt_mac (if the response is protected)");
    }
    memset(s->net.rx, 0, s->net.rx_len); /* plaintext APDUs do not linger */
    s->net.rx_len = 0;
    stat_command(s, out->cmd, out->busy_us);
    if (out->len && out->msg[0] >= 0x40 && out->presence && out->len <= 5 &&
        (out->msg[0] == 0x40 || out->msg[0] == 0x44)) {
        s->stats.alerts_sent++;
    }
    if (out->status != TMA_OK) {
        sim_tracef(s, "application failure: %s", tma_status_str(out->status));
    }
    uint32_t busy = out->busy_us;
    if (out->len == 0) {
        queue_ack(s, now + SIM_LINK_US);
        free(out);
        return;
    }
    sim_net_tx_start(&s->net, out->msg, out->len, out->presence);
    memset(out, 0, sizeof(*out));
    free(out);
    s->executing = true;
    s->busy_until = now + (busy > SIM_LINK_US ? busy : SIM_LINK_US);
    if (busy >= SIM_ACK_SEPARATE_US) {
        /* long command: acknowledge within the 10 ms rule, answer later */
        queue_ack(s, now + SIM_LINK_US);
        s->nack_until = now + SIM_LINK_US;
    } else {
        s->nack_until = s->busy_until; /* short command: not addressable until done */
    }
    send_next_packet(s, s->busy_until);
    if (sim_fault_hit(&s->faults, SIM_FAULT_RESET_MID_COMMAND)) {
        s->reset_pending = true;
        s->reset_at = now + (s->busy_until - now) / 2u;
        sim_tracef(s, "FAULT reset_mid_command");
    }
}

void sim_engine_update(struct trustm_sim *s)
{
    uint64_t now = sim_clock_now(&s->clock);
    if (s->executing && s->reset_pending && now >= s->reset_at) {
        s->reset_pending = false;
        sim_engine_reset(s, TRUSTM_RESET_WARM);
        return;
    }
    if (s->executing && now >= s->busy_until) {
        s->executing = false;
        s->reset_pending = false;
    }
}

void sim_engine_data_write(struct trustm_sim *s, const uint8_t *frame, size_t n, bool overflow)
{
    uint64_t now = sim_clock_now(&s->clock);
    uint8_t buf[SIM_DREG_MAX];
    struct sim_link_rx rx;
    size_t max_pkt = (size_t)s->dreg_len - SIM_DL_OVERHEAD;

    sim_engine_update(s);
    s->stats.frames_rx++;
    if (n > sizeof(buf)) {
        n = sizeof(buf);
    }
    memcpy(buf, frame, n);
    wire_faults(s, SIM_FAULT_BYTE_RX, buf, n, &s->stats.bytes_rx, &s->stats.crc_escapes_rx);
    if (n && sim_fault_hit(&s->faults, SIM_FAULT_BITFLIP_RX)) {
        uint32_t bit = sim_fault_rand(&s->faults, (uint32_t)n * 8u);
        buf[bit / 8u] ^= (uint8_t)(1u << (bit % 8u));
        sim_tracef(s, "FAULT bitflip_rx bit %u", bit);
    }
    if (s->faults.storm_left || sim_fault_hit(&s->faults, SIM_FAULT_NAK_STORM)) {
        s->faults.storm_left = s->faults.storm_left ? s->faults.storm_left - 1u
                                                    : s->faults.nak_storm_len - 1u;
        sim_link_queue_ctrl(&s->link, (uint8_t)(0xA0u | ((s->link.rx_nr + 1u) & 3u)),
                            now + SIM_LINK_US);
        s->stats.naks_sent++;
        sim_tracef(s, "FAULT nak_storm (%u left)", s->faults.storm_left);
        return;
    }
    sim_link_rx(&s->link, now, buf, overflow ? s->dreg_len + 1u : n, s->dreg_len, !s->executing, &rx);
    if (rx.naked) {
        s->stats.naks_sent++;
        s->stats.bad_frames += rx.err != SIM_FE_OK;
    }
    s->stats.duplicates += rx.duplicate;
    s->stats.retransmits += rx.retransmit;
    if (rx.retransmit) {
        s->stats.naks_rx++;
    }
    switch (rx.ev) {
    case SIM_LE_NONE:
        return;
    case SIM_LE_RESYNC:
        s->stats.resyncs_rx++;
        return;
    case SIM_LE_ACKED:
        send_next_packet(s, now + SIM_LINK_US);
        if (!s->net.tx_active && sim_link_idle(&s->link)) {
            s->stats.current = -1; /* exchange complete */
        }
        return;
    case SIM_LE_PACKET:
        break;
    }
    if (sim_fault_hit(&s->faults, SIM_FAULT_SPURIOUS_RESYNC)) {
        /* drop the frame, reset our counters and tell the host so */
        s->link.tx_nr = 3;
        s->link.rx_nr = 3;
        s->link.awaiting_ack = false;
        s->link.renumber = false;
        s->link.data.valid = false;
        sim_link_queue_ctrl(&s->link, 0xC0, now + SIM_LINK_US);
        sim_tracef(s, "FAULT spurious_resync");
        return;
    }
    if (rx.acked || s->net.tx_active) {
        /* a new packet while our response was still being sent: it is abandoned */
        s->net.tx_active = false;
    }
    s->stats.current = -1;
    switch (sim_net_rx(&s->net, rx.pkt, rx.pkt_len, max_pkt)) {
    case SIM_NE_MORE:
    case SIM_NE_HOST_ABORT:
        queue_ack(s, now + SIM_LINK_US);
        return;
    case SIM_NE_CHAIN_ERROR: {
        static const uint8_t chain_err = 0x07;
        s->stats.chain_errors++;
        stat_command(s, STAT_CHAIN_ERROR, 0);
        queue_packet(s, &chain_err, 1, now + SIM_LINK_US);
        return;
    }
    case SIM_NE_MESSAGE:
        execute(s, now);
        return;
    }
}

uint16_t sim_engine_ready_len(struct trustm_sim *s)
{
    sim_engine_update(s);
    return sim_link_ready(&s->link, sim_clock_now(&s->clock));
}

void sim_engine_data_read(struct trustm_sim *s, uint8_t *buf, size_t len)
{
    sim_engine_update(s);
    uint8_t tmp[SIM_DREG_MAX + 16];
    uint16_t n = sim_link_pop(&s->link, sim_clock_now(&s->clock), tmp, sizeof(tmp));
    if (n > sizeof(tmp)) {
        n = (uint16_t)sizeof(tmp);
    }
    /* on the wire: every transmission, retransmissions included */
    wire_faults(s, SIM_FAULT_BYTE_TX, tmp, n, &s->stats.bytes_tx, &s->stats.crc_escapes_tx);
    memset(buf, 0xFF, len); /* nothing pending, or reading past the frame */
    memcpy(buf, tmp, n < len ? n : len);
}

void sim_engine_reset(struct trustm_sim *s, enum trustm_reset_kind kind)
{
    uint64_t now = sim_clock_now(&s->clock);
    sim_app_reset(s->app, kind == TRUSTM_RESET_COLD);
    sim_link_reset(&s->link);
    sim_net_reset(&s->net);
    sim_shield_reset(&s->shield);
    sim_bus_reset_registers(s, kind == TRUSTM_RESET_COLD);
    s->executing = false;
    s->reset_pending = false;
    s->soft_reset_req = false;
    s->busy_until = 0;
    s->nack_until = now + SIM_STARTUP_US;
    s->stats.current = -1;
    if (kind == TRUSTM_RESET_COLD) {
        s->stats.resets_cold++;
    } else if (kind == TRUSTM_RESET_WARM) {
        s->stats.resets_warm++;
    } else {
        s->stats.resets_soft++;
    }
    sim_tracef(s, "t=%llu RESET %s", (unsigned long long)now,
               kind == TRUSTM_RESET_COLD ? "cold" : kind == TRUSTM_RESET_WARM ? "warm" : "soft");
}

/* ---- transactions -------------------------------------------------------- */
/* Address phase: returns true when the chip acknowledges its address. */
static bool address_phase(struct trustm_sim *s, uint8_t addr, size_t n, uint64_t *t0)
{
    uint64_t now = sim_clock_now(&s->clock);
    *t0 = now;
    s->stats.transactions++;
    if (s->stats.transactions > 1 && now < s->last_end + SIM_GUARD_US) {
        s->stats.early_polls++;
    }
    /* bus time of the whole transaction (the master clocks it out even when NACKed
     * only for the address byte) */
    if (s->dreg_change) {
        s->dreg_len = s->dreg_pending;
        s->dreg_change = false;
    }
    if (s->addr_change) {
        s->addr = s->pending_addr;
        s->addr_change = false;
    }
    sim_engine_update(s);
    bool ack = addr == s->addr && now >= s->nack_until;
    if (ack && sim_fault_hit(&s->faults, SIM_FAULT_BUSY_NACK)) {
        sim_tracef(s, "FAULT busy_nack");
        ack = false;
    }
    uint32_t bt = sim_bus_time_us(ack ? n : 0, sim_bus_scl_khz(s));
    s->stats.bus_us += bt;
    sim_clock_advance(&s->clock, s->clock.realtime ? 0 : bt);
    if (!ack) {
        s->stats.addr_nacks++;
        if (addr == s->addr) {
            s->stats.busy_polls++;
            sim_stat_poll(s);
        }
    }
    return ack;
}

enum trustm_sim_ack trustm_sim_i2c_write(struct trustm_sim *s, uint8_t addr, const uint8_t *data,
                                         size_t len)
{
    uint64_t t0;
    if (!s || (len && !data)) {
        return TRUSTM_SIM_ADDR_NACK;
    }
    enum trustm_sim_ack r = TRUSTM_SIM_ADDR_NACK;
    if (address_phase(s, addr, len, &t0)) {
        s->stats.writes++;
        stat_bytes(s, len + 1);
        r = sim_bus_write(s, data, len);
        if (r == TRUSTM_SIM_DATA_NACK) {
            s->stats.data_nacks++;
        }
    }
    trace_txn(s, t0, 'W', addr, data, len, r);
    if (s->soft_reset_req) {
        s->soft_reset_req = false;
        sim_engine_reset(s, TRUSTM_RESET_SOFT);
    }
    s->last_end = sim_clock_now(&s->clock);
    return r;
}

enum trustm_sim_ack trustm_sim_i2c_read(struct trustm_sim *s, uint8_t addr, uint8_t *buf, size_t len)
{
    uint64_t t0;
    if (!s || (len && !buf)) {
        return TRUSTM_SIM_ADDR_NACK;
    }
    enum trustm_sim_ack r = TRUSTM_SIM_ADDR_NACK;
    if (address_phase(s, addr, len, &t0)) {
        s->stats.reads++;
        stat_bytes(s, len + 1);
        sim_bus_read(s, buf, len);
        r = TRUSTM_SIM_ACK;
    }
    trace_txn(s, t0, 'R', addr, r == TRUSTM_SIM_ACK ? buf : NULL, r == TRUSTM_SIM_ACK ? len : 0, r);
    s->last_end = sim_clock_now(&s->clock);
    return r;
}

/* ---- public API ---------------------------------------------------------- */
tma_status trustm_sim_create(const struct trustm_sim_config *cfg, struct trustm_sim **out_sim)
{
    if (!cfg || !out_sim || cfg->i2c_addr > 0x7F || (cfg->version != 1 && cfg->version != 3)) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
    }
    *out_sim = NULL;
    struct trustm_sim *s = calloc(1, sizeof(*s));
    if (!s) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_INTERNAL);
    }
    s->cfg = *cfg;
    struct sim_app_config ac = {cfg->state_path, cfg->seed, cfg->version};
    tma_status st = sim_app_open(&s->app, &ac);
    if (st != TMA_OK) {
        free(s);
        return st;
    }
    sim_clock_init(&s->clock, cfg->realtime);
    sim_link_reset(&s->link);
    sim_net_reset(&s->net);
    sim_shield_init(&s->shield, cfg->seed);
    sim_faults_init(&s->faults);
    s->addr_default = cfg->i2c_addr ? cfg->i2c_addr : TRUSTM_SIM_DEFAULT_ADDR;
    s->i2c_mode_default = 3; /* Sm&Fm */
    sim_bus_reset_registers(s, true);
    s->stats.current = -1;
    s->nack_until = 0; /* powered long before the host's first access */
    *out_sim = s;
    return TMA_OK;
}

void trustm_sim_destroy(struct trustm_sim *s)
{
    if (!s) {
        return;
    }
    sim_app_close(s->app);
    sim_shield_wipe(&s->shield);
    memset(s->net.rx, 0, sizeof(s->net.rx));
    memset(s->net.tx, 0, sizeof(s->net.tx));
    free(s);
}

tma_status trustm_sim_reset(struct trustm_sim *s, enum trustm_reset_kind kind)
{
    if (!s || (kind != TRUSTM_RESET_COLD && kind != TRUSTM_RESET_WARM && kind != TRUSTM_RESET_SOFT)) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
    }
    sim_engine_reset(s, kind);
    return TMA_OK;
}

uint64_t trustm_sim_now_us(const struct trustm_sim *s)
{
    return s ? sim_clock_now(&s->clock) : 0;
}

void trustm_sim_sleep_us(struct trustm_sim *s, uint64_t us)
{
    if (!s) {
        return;
    }
    s->stats.sleep_us += us;
    sim_clock_advance(&s->clock, us);
}

uint8_t trustm_sim_address(const struct trustm_sim *s)
{
    return s ? s->addr : 0;
}

tma_status trustm_sim_faults_json(struct trustm_sim *s, const char *json, size_t len)
{
    if (!s || !json) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
    }
    tma_status st = sim_faults_config(&s->faults, json, len);
    sim_tracef(s, "fault configuration %s", st == TMA_OK ? "accepted" : "rejected");
    return st;
}

tma_status trustm_sim_export_ca(struct trustm_sim *s, const char *dir)
{
    if (!s || !dir) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
    }
    return sim_app_export_factory_ca(s->app, dir);
}

void trustm_sim_stats_clear(struct trustm_sim *s)
{
    if (s) {
        memset(&s->stats, 0, sizeof(s->stats));
        s->stats.current = -1;
    }
}

/* JSON writer into a caller buffer that keeps counting past its end. */
struct jw {
    char *out;
    size_t cap;
    size_t len;
};

static void jprintf(struct jw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jprintf(struct jw *w, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    for (int i = 0; i < n && (size_t)i < sizeof(tmp) - 1; i++) {
        if (w->len + 1 < w->cap) {
            w->out[w->len] = tmp[i];
        }
        w->len++;
    }
}

tma_status trustm_sim_stats_json(struct trustm_sim *s, char *out, size_t cap, size_t *out_len)
{
    if (!s || !out_len || (cap && !out)) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM);
    }
    struct jw w = {out, cap, 0};
    const struct sim_stats *st = &s->stats;
    jprintf(&w, "{\"virtual\":%s,\"now_us\":%llu,\"address\":%u,\"scl_khz\":%u,\"data_reg_len\":%u,",
            s->clock.realtime ? "false" : "true", (unsigned long long)sim_clock_now(&s->clock),
            s->addr, sim_bus_scl_khz(s), s->dreg_len);
    jprintf(&w, "\"bus\":{\"transactions\":%llu,\"writes\":%llu,\"reads\":%llu,\"bytes\":%llu,"
                "\"bus_us\":%llu,\"host_sleep_us\":%llu,\"addr_nacks\":%llu,\"data_nacks\":%llu,",
            (unsigned long long)st->transactions, (unsigned long long)st->writes,
            (unsigned long long)st->reads, (unsigned long long)st->bus_bytes,
            (unsigned long long)st->bus_us, (unsigned long long)st->sleep_us,
            (unsigned long long)st->addr_nacks, (unsigned long long)st->data_nacks);
    jprintf(&w, "\"busy_polls\":%llu,\"guard_violations\":%llu},", (unsigned long long)st->busy_polls,
            (unsigned long long)st->early_polls);
    jprintf(&w, "\"link\":{\"bytes_rx\":%llu,\"bytes_tx\":%llu,\"crc_escapes_rx\":%llu,"
                "\"crc_escapes_tx\":%llu,",
            (unsigned long long)st->bytes_rx, (unsigned long long)st->bytes_tx,
            (unsigned long long)st->crc_escapes_rx, (unsigned long long)st->crc_escapes_tx);
    jprintf(&w, "\"frames_rx\":%llu,\"frames_tx\":%llu,\"naks_sent\":%llu,\"naks_rx\":%llu,"
                "\"retransmits\":%llu,\"duplicates\":%llu,\"resyncs_rx\":%llu,\"bad_frames\":%llu},",
            (unsigned long long)st->frames_rx, (unsigned long long)st->frames_tx,
            (unsigned long long)st->naks_sent, (unsigned long long)st->naks_rx,
            (unsigned long long)st->retransmits, (unsigned long long)st->duplicates,
            (unsigned long long)st->resyncs_rx, (unsigned long long)st->bad_frames);
    jprintf(&w, "\"net\":{\"chain_errors\":%llu},\"shield\":{\"alerts_sent\":%llu,\"session\":%s},",
            (unsigned long long)st->chain_errors, (unsigned long long)st->alerts_sent,
            s->shield.hs == SIM_HS_OPEN ? "true" : "false");
    jprintf(&w, "\"resets\":{\"cold\":%llu,\"warm\":%llu,\"soft\":%llu},",
            (unsigned long long)st->resets_cold, (unsigned long long)st->resets_warm,
            (unsigned long long)st->resets_soft);
    jprintf(&w, "\"faults\":{\"injected\":%llu", (unsigned long long)s->faults.injected);
    for (int k = 0; k < SIM_FAULT_COUNT; k++) {
        jprintf(&w, ",\"%s\":%llu", sim_fault_name((enum sim_fault)k),
                (unsigned long long)s->faults.count[k]);
    }
    jprintf(&w, "},\"commands\":[");
    bool first = true;
    for (int i = 0; i < 256 + SIM_STAT_EXTRA; i++) {
        const struct sim_cmd_stat *c = &st->cmd[i];
        if (!c->count) {
            continue;
        }
        if (i < 256) {
            jprintf(&w, "%s{\"code\":\"0x%02X\",\"name\":\"%s\"", first ? "" : ",", i,
                    sim_cmd_name((uint8_t)i));
        } else {
            jprintf(&w, "%s{\"code\":null,\"name\":\"%s\"", first ? "" : ",", extra_names[i - 256]);
        }
        jprintf(&w, ",\"count\":%llu,\"chip_us\":%llu,\"bus_bytes\":%llu,\"polls\":%llu}",
                (unsigned long long)c->count, (unsigned long long)c->chip_us,
                (unsigned long long)c->bus_bytes, (unsigned long long)c->polls);
        first = false;
    }
    jprintf(&w, "]}");
    *out_len = w.len;
    if (w.len + 1 > cap) {
        if (cap) {
            out[0] = 0;
        }
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_TOO_SMALL);
    }
    out[w.len] = 0;
    return TMA_OK;
}

/* ---- in-process I2C port ------------------------------------------------- */
static tma_status port_transfer(void *ctx, struct trustm_i2c_msg *msgs, size_t n)
{
    struct trustm_sim *s = ctx;
    if (!s || !msgs || n != 1 || (msgs[0].len && !msgs[0].buf) || msgs[0].addr > 0x7F) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
    }
    enum trustm_sim_ack r;
    if (msgs[0].flags & TRUSTM_I2C_READ) {
        r = trustm_sim_i2c_read(s, (uint8_t)msgs[0].addr, msgs[0].buf, msgs[0].len);
    } else {
        r = trustm_sim_i2c_write(s, (uint8_t)msgs[0].addr, msgs[0].buf, msgs[0].len);
    }
    switch (r) {
    case TRUSTM_SIM_ACK: return TMA_OK;
    case TRUSTM_SIM_ADDR_NACK: return TMA_ERR(TMA_LAYER_BUS, TMA_C_NACK);
    default: return TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
    }
}

static void port_delay(void *ctx, uint32_t us)
{
    trustm_sim_sleep_us(ctx, us);
}

static uint32_t port_now_ms(void *ctx)
{
    return (uint32_t)(trustm_sim_now_us(ctx) / 1000u);
}

static tma_status port_reset(void *ctx, enum trustm_reset_kind kind)
{
    return trustm_sim_reset(ctx, kind);
}

void trustm_sim_port(struct trustm_sim *s, struct trustm_port *out_port)
{
    if (!out_port) {
        return;
    }
    memset(out_port, 0, sizeof(*out_port));
    out_port->ctx = s;
    out_port->transfer = port_transfer;
    out_port->delay_us = port_delay;
    out_port->now_ms = port_now_ms;
    out_port->reset = port_reset;
}
