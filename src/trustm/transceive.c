/* The blocking driver: context life cycle, and one loop that moves a message
 * through network and data link layers and the answer back (spec 2-4). */
#include <stddef.h>
#include <string.h>

#include "stack.h"

/* The presentation layer is on: only the shielded layer turns it on, so
 * a build without it knows the answer. */
#if TRUSTM_CFG_SHIELD
#define PRL(t) ((t)->prl)
#else
#define PRL(t) 0u
#endif

static uint32_t now(const struct trustm *t)
{
    return t->port->now_ms(t->port->ctx);
}

static tma_status send_ctrl(struct trustm *t, uint8_t fctr)
{
    uint8_t f[6];
    f[0] = TRUSTM_REG_DATA;
    trustm_frame_encode(f + 1, fctr, 0);
    return trustm_phys_write(t, f, 6);
}

static void numbers_reset(struct trustm *t)
{
    t->lk.tx_nr = 3;
    t->lk.rx_nr = 3;
}

static tma_status resync(struct trustm *t)
{
    tma_status st;
    numbers_reset(t);
    /* Nothing acknowledges a RESYNC: it goes out twice, so that one frame
     * damaged on the bus does not leave the chip counting on. */
    st = send_ctrl(t, 0xC0);
    return st ? st : send_ctrl(t, 0xC0);
}

/* Carry out the side effects of a link step. */
static tma_status act(struct trustm *t, unsigned a)
{
    tma_status st = TMA_OK;
    if (a & TRUSTM_LK_SEND_NAK) {
        st = send_ctrl(t, (uint8_t)(0xA0u | ((t->lk.rx_nr + 1u) & 3u)));
    }
    if (st == TMA_OK && (a & TRUSTM_LK_SEND_ACK)) {
        st = send_ctrl(t, (uint8_t)(0x80u | t->lk.rx_nr));
    }
    if (st == TMA_OK && (a & TRUSTM_LK_SEND_RESYNC)) {
        st = resync(t);
    }
    return st;
}

/* State of one exchange (the link machine is t->lk): the frame last
 * delivered, the polling schedule, when our last frame was written. */
struct drv {
    struct trustm_frame fr;
    uint32_t deadline;
    uint32_t step;
    uint32_t sent;
};

/* Poll I2C_STATE until a received frame yields one of the actions in want
 * (callers include TRUSTM_LK_RESYNC), or d->deadline passes. The first poll comes after wait ms,
 * then the pauses grow from d->step, doubling, to at most 64 ms. Every frame
 * is acted on (ACK/NAK sent) as it comes. Returns the actions, 0 when the
 * deadline passed, or a negative status. */
static int32_t wait_frame(struct trustm *t, struct drv *d, uint32_t wait, unsigned want)
{
    uint32_t step = d->step;
    for (;;) {
        int32_t r;
        int32_t left = (int32_t)(d->deadline - now(t));
        if (wait && left > 0) {
            trustm_delay_ms(t, wait < (uint32_t)left ? wait : (uint32_t)left);
        }
        r = trustm_phys_poll(t);
        if (r < 0) {
            return r;
        }
        wait = 0;
        if (r > 0) {
            unsigned a = trustm_link_step(&t->lk, t->rx, (size_t)r, &d->fr);
            tma_status st = act(t, a);
            if (st) {
                return st;
            }
            if (a & want) {
                return (int32_t)a;
            }
        } else {
            wait = step;
            step = step >= 32u ? 64u : step * 2u;
        }
        /* checked after every frame too: a chip that keeps sending useless
         * frames cannot hold us past the deadline */
        if ((int32_t)(now(t) - d->deadline) >= 0) {
            return 0;
        }
    }
}

/* Send the packet at t->tx + 4 (plen bytes) as the next data frame and wait
 * for its acknowledgement (TRANS_TIMEOUT per attempt, TRANS_REPEAT
 * retransmissions, then RESYNC and restart). Returns the link actions of the
 * acknowledging frame (TRUSTM_LK_DATA set: the ACK came piggy-backed on a
 * data frame, whose packet is then in d->fr), TRUSTM_RESTART (negative
 * never) or an error (< 0). */
static int32_t link_send(struct trustm *t, struct drv *d, size_t plen, uint32_t first_wait)
{
    unsigned retx = 0;
    size_t len;
    uint32_t busy_end = now(t) + TRUSTM_BUSY_WAIT_MS;

    t->lk.st = TRUSTM_LK_WAIT_ACK;
    t->lk.tx_nr = (uint8_t)((t->lk.tx_nr + 1u) & 3u);
    d->step = 1;
    t->tx[0] = TRUSTM_REG_DATA;
    len = trustm_frame_encode(t->tx + 1, (uint8_t)(t->lk.tx_nr << 2 | t->lk.rx_nr), plen);
    for (;;) {
        int32_t a;
        tma_status st = trustm_phys_write(t, t->tx, len + 1);
        if (st) {
            return st;
        }
        d->sent = now(t);
        d->deadline = d->sent + TRUSTM_TRANS_TIMEOUT_MS;
        if (!first_wait) {
            /* the chip needs a moment to check the frame before it ACKs */
            t->port->delay_us(t->port->ctx, TRUSTM_ACK_WAIT_US);
        }
        /* a short command answers at once, with the ACK piggy-backed: its
         * first poll waits for it (first_wait) */
        a = wait_frame(t, d, first_wait, TRUSTM_LK_ACKED | TRUSTM_LK_RETX | TRUSTM_LK_RESYNC);
        first_wait = 0;
        if (a < 0) {
            return a;
        }
        if ((unsigned)a & TRUSTM_LK_RESYNC) {
            return TRUSTM_RESTART;
        }
        if ((unsigned)a & TRUSTM_LK_ACKED) {
            return a;
        }
        if (t->busy && (int32_t)(now(t) - busy_end) < 0) {
            /* NAKed while the chip is busy: it still executes an earlier
             * command (one we gave up on, after its ACK was lost). Resend
             * once it is done, without counting the attempt. */
            trustm_delay_ms(t, 4);
            continue;
        }
        if (++retx > TRUSTM_TRANS_REPEAT) {
            st = resync(t);
            return st ? st : TRUSTM_RESTART;
        }
    }
}

tma_status trustm_exchange(struct trustm *t, struct trustm_msg_tx *m, struct trustm_rec_rx *r,
                           uint32_t hint_ms, uint32_t rsp_ms, struct trustm_rsp *out_rsp)
{
    struct drv d;
    struct trustm_net_rx nr;
    size_t maxp = (size_t)t->frame_size - 5u; /* PCTR + payload */
    size_t off = 0;
    int32_t a = 0;
    tma_status st, err = TMA_OK;
    uint32_t deadline;
    unsigned last;

    /* The last exchange ended early (bus error, timeout, broken chain): the
     * chip's frame numbers are unknown, an answer may still be on its way
     * that this command would take for its own. Start from a RESYNC. */
    if (t->lk.st != TRUSTM_LK_IDLE) {
        st = resync(t);
        if (st) {
            return st;
        }
    }
    do {
        size_t n = m->total - off;
        if (n > maxp - 1u) {
            n = maxp - 1u;
        }
        last = off + n >= m->total;
        t->tx[4] = trustm_net_pctr(PRL(t), off, n, m->total);
        a = trustm_msg_tx_read(m, t->tx + 5, n);
        if (a == TMA_OK) {
            a = link_send(t, &d, n + 1u, last && hint_ms < TRUSTM_SHORT_CMD_MS ? hint_ms : 0u);
        }
        if (a < 0 || a == TRUSTM_RESTART) {
            return a;
        }
        off += n;
        if (((unsigned)a & TRUSTM_LK_DATA) && !last) {
            /* The chip answers before the chain is complete: only a chaining
             * error makes sense here; send the whole message again. */
            return d.fr.plen == 1 && d.fr.pkt[0] == TRUSTM_CHAIN_ERROR ? TRUSTM_RESTART
                                                                       : TRUSTM_ST(NET, MALFORMED);
        }
    } while (!last);

    nr.st = TRUSTM_NET_FIRST;
    nr.prl = 0;
    nr.npkt = 0;
    deadline = now(t) + rsp_ms;
    for (;;) {
        if (!((unsigned)a & TRUSTM_LK_DATA)) {
            /* Next data frame: the first poll at frame sent + the chip's
             * expected busy time, then back off from 1/8 of that (>= 1 ms),
             * doubling, at most 64 ms between polls. */
            int32_t w = nr.npkt ? 0 : (int32_t)(d.sent + hint_ms - now(t));
            /* (t->lk.st is WAIT_DATA since our last frame was ACKed) */
            d.deadline = deadline;
            d.step = nr.npkt || hint_ms < 8u ? 1u : hint_ms / 8u;
            a = wait_frame(t, &d, w > 0 ? (uint32_t)w : 0u, TRUSTM_LK_DATA | TRUSTM_LK_RESYNC);
            if (a <= 0) {
                return a ? a : TRUSTM_ST(LINK, TIMEOUT);
            }
            if ((unsigned)a & TRUSTM_LK_RESYNC) {
                return TRUSTM_RESTART;
            }
        }
        a = 0;
        st = trustm_net_rx(&nr, d.fr.pkt, d.fr.plen, maxp);
        if (st) {
            if (st == TMA_ERR(TMA_LAYER_NET, TRUSTM_E_CHAIN) && nr.npkt == 0) {
                return TRUSTM_RESTART;
            }
            /* Broken chain from the chip: tell it (PCTR 0x07) and give up. */
            t->tx[4] = TRUSTM_CHAIN_ERROR;
            (void)link_send(t, &d, 1, 0);
            return st;
        }
        /* no message is longer than SCTR + SEQ + 1,557 + tag: a chip that
         * keeps chaining is broken (more than 1 + (1,557 + 13) / payload
         * packets, said without the division) */
        if ((size_t)(nr.npkt - 1u) * (maxp - 1u) > TRUSTM_APDU_MAX + 13u) {
            return TRUSTM_ST(NET, MALFORMED);
        }
        if (err == TMA_OK && nr.prl != PRL(t) * TRUSTM_PCTR_PRL) {
            err = TRUSTM_ST(NET, MALFORMED);
        }
        if (err == TMA_OK) {
            err = trustm_rec_feed(r, d.fr.pkt + 1, d.fr.plen - 1u);
#if TRUSTM_CFG_SHIELD
            /* A used SSEQ shows in a record's first packet: that failure
             * is the answer now, not a timeout, RESYNC or broken chain
             * that may follow (the session fails on it; a reset brings
             * the link back in step). */
            if (err == TRUSTM_ST(SHIELD, INTEGRITY)) {
                return err;
            }
#endif
        }
        if (nr.st == TRUSTM_NET_DONE) {
            break; /* a bad record is drained to its end before failing */
        }
    }
    t->lk.st = TRUSTM_LK_IDLE; /* the whole answer is in: in step */
    return err ? err : trustm_rec_finish(r, out_rsp);
}

/* Expected busy time of a command: base ms (a byte: b, or for b > 250
 * (b - 250) * 600 - 100, i.e. 251 = 500 ms, 255 = 2,900 ms), plus 4 * (per & 63)
 * us for every byte of the length that per >> 6 names: 1 = InLen (the u16
 * at offset 2; the command layer always sets it to the APDU's length - 4), 2 = the
 * u16 at offset 4 (GetRandom), 3 = the u16 at offset 8 (GetDataObject;
 * counted up to 512, a typical certificate). Entries are cmd, param, base
 * and, when bit 7 of cmd is set, per (most commands have no size-dependent
 * part). param 0 matches any. First match wins; cmd 0 ends the table. */
#define H(cmd, param, base) cmd, param, base
#define HP(cmd, param, base, len, per_us) \
    (0x80 | (cmd)), param, base, (uint8_t)((len) << 6 | ((per_us) + 3) / 4)
static const uint8_t hints[] = {
    H(0x01, 0x01, 8),          HP(0x01, 0, 5, 3, 100),    HP(0x02, 0, 5, 1, 195),
    HP(0x0C, 0, 3, 2, 20),     HP(0x30, 0, 2, 1, 67),     H(0x31, 0x11, 65),
    H(0x31, 0, 80),            H(0x32, 0x11, 85),         H(0x32, 0, 20),
    H(0x33, 0, 60),            H(0x34, 0x08, 130),        H(0x34, 0x09, 130),
    H(0x34, 0x0A, 130),        H(0x34, 0, 50),            H(0x38, 0x42, 255),
    H(0x38, 0x41, 251),        H(0x38, 0x04, 127),        H(0x38, 0x15, 127),
    H(0x38, 0x05, 248),        H(0x38, 0x16, 248),        H(0x38, 0, 55),
    H(0x39, 0, 20),            H(0x1E, 0, 20),            H(0x1F, 0, 90),
    HP(0x14, 0x20, 60, 1, 234), HP(0x14, 0x21, 60, 1, 234), HP(0x14, 0x22, 60, 1, 234),
    HP(0x14, 0, 5, 1, 90),     HP(0x15, 0, 5, 1, 115),    H(0x70, 0x01, 15),
    H(0x70, 0, 5),             H(0x71, 0x01, 30),         H(0x71, 0, 3),
    0,
};

/* Expected chip busy time in ms for a command APDU whose first 10 bytes are
 * h (spec section 10: V3 at 400 kHz and 15 mA, plus the size-dependent
 * parts the datasheet gives for data, random, hash and symmetric commands;
 * per-byte figures rounded up to 4 us), rounded up, plus 1 ms. Where the
 * APDU does not tell the key type, the fastest (P-256, RSA-1024) is assumed
 * and the back-off covers the rest. */
uint32_t trustm_hint_ms(const uint8_t *h, uint8_t protect)
{
    const uint8_t *e = hints;
    uint32_t n = 0, us;
    unsigned k, per;
    uint8_t c = (uint8_t)(h[0] & 0x7Fu);
    while ((e[0] & 0x7Fu) != c || (e[1] && e[1] != h[1])) {
        e += 3u + (e[0] >> 7);
        if (!e[0]) {
            return 2;
        }
    }
    per = (e[0] & 0x80u) ? e[3] : 0u;
    k = per >> 6;
    if (k) {
        /* the u16 at offset 2 (InLen), 4 or 8 */
        k = k == 3 ? 8u : k * 2u;
        n = (uint32_t)h[k] << 8 | h[k + 1u];
        if (k == 8 && n > 512u) {
            n = 512u;
        }
    }
    us = (e[2] > 250u ? (e[2] - 250u) * 600u - 100u : e[2]) * 1000u + (per & 63u) * 4u * n +
         ((protect & 3u) ? 7000u : 0u);
    return (us + 999u) / 1000u + 1u;
}

uint32_t trustm_rsp_timeout_ms(const struct trustm *t, uint8_t cmd, uint8_t param)
{
    if (t && t->rsp_timeout_ms) {
        return t->rsp_timeout_ms;
    }
    /* RSA key generation can exceed 50 s; everything else stays below
     * 6 s even with the Security Monitor's 5 s throttling. */
    if ((cmd & 0x7Fu) == 0x38 && param >= 0x41 && param <= 0x42) {
        return 180000u;
    }
    return 6000u;
}

uint32_t trustm_transceive_bound_ms(const struct trustm *t, uint8_t cmd, uint8_t param,
                                    size_t apdu_len)
{
    /* Per packet: the write, then per attempt up to TRANS_TIMEOUT of polling
     * (each poll may wait out NACKs while reading DATA) -> attempt <= 2 NACK
     * windows + TRANS_TIMEOUT + the last back-off step. */
    uint32_t att = 2u * TRUSTM_NACK_TIMEOUT_MS + 2u * TRUSTM_TRANS_TIMEOUT_MS + 10u;
    uint32_t pay = (t ? t->frame_size : TRUSTM_FRAME_MAX) - 6u; /* payload per packet */
    uint32_t pk = (uint32_t)(apdu_len + 14u + pay - 1u) / pay;
    /* per packet: the counted attempts, and resending to a busy chip for up
     * to TRUSTM_BUSY_WAIT_MS (a 4 ms pause and an attempt each) */
    uint32_t one = pk * ((TRUSTM_TRANS_REPEAT + 1u) * att + TRUSTM_BUSY_WAIT_MS + att) +
                   trustm_rsp_timeout_ms(t, cmd, param) + 64u + 7u * (2u * TRUSTM_NACK_TIMEOUT_MS);
#if TRUSTM_CFG_SHIELD
    /* a handshake (two messages) may precede, and after a fatal alert a
     * second handshake and run follow */
    one *= 6u;
#endif
    return (TRUSTM_RESYNC_MAX + 2u) * one;
}

/* One message out ([SCTR [MSEQ]] + the segments, c->len bytes of APDU),
 * the answer into c->out. After a RESYNC or a chaining error the whole
 * exchange starts again (a protected command with a fresh MSEQ, so no nonce
 * is used twice). The shielded layer, where a secret is set, prepares each
 * attempt (prefix, presentation-layer decoding, protection) and sees the
 * end (t->shield_fn); without one the message is a plain APDU. */
#if TRUSTM_CFG_SHIELD
tma_status trustm_run(struct trustm *t, const struct trustm_call *c)
#else
static tma_status run(struct trustm *t, const struct trustm_call *c)
#endif
{
    struct trustm_xchg x;
    uint8_t hdr[10];
    uint8_t protect = c->protect;
    uint8_t level = (uint8_t)(protect & 3u);
    unsigned k;
    uint8_t mode = PRL(t);
    uint32_t hint = 1;
    tma_status st = TRUSTM_ST(LINK, TIMEOUT);

    memset(hdr, 0, sizeof hdr);
    for (k = 0; k <= TRUSTM_RESYNC_MAX + 1u; k++) {
        /* producer and decoder afresh (trustm_msg_tx_init() and
         * trustm_rec_rx_init() in one: one wipe for both) */
        trustm_wipe(&x, offsetof(struct trustm_xchg, st));
        x.m.seg = c->seg;
        x.m.nseg = c->nseg;
        x.m.apdu_len = c->len;
        x.m.total = c->len;
        x.r.mode = mode;
        x.r.ss[0] = (uint8_t)(TRUSTM_SCTR_RECORD | level);
        x.r.out = c->out;
        x.r.cap = c->out ? c->cap : 0;
        if (k == 0) {
            /* the first 10 bytes of the APDU, for the hint and the bound
             * (read through the fresh producer, then put back to the
             * start) */
            (void)trustm_msg_tx_read(&x.m, hdr, c->len < sizeof hdr ? c->len : sizeof hdr);
            x.m.si = 0;
            x.m.so = 0;
#if TRUSTM_CFG_SHIELD
            if (protect & TRUSTM_RUN_RAW) {
                mode = TRUSTM_REC_RAW;
                x.r.mode = mode;
            } else
#endif
            {
                hint = trustm_hint_ms(hdr, protect);
            }
        }
#if TRUSTM_CFG_SHIELD
        if (t->shield_fn) {
            (void)t->shield_fn(t, level, &x);
        }
#endif
        st = trustm_exchange(t, &x.m, &x.r, hint, trustm_rsp_timeout_ms(t, hdr[0], hdr[1]),
                             c->rsp);
        if (st != TRUSTM_RESTART) {
            break;
        }
        /* (a restart is in step: after a RESYNC, ours or the chip's, or
         * the chip's chaining error) */
        t->lk.st = TRUSTM_LK_IDLE;
        /* what the abandoned answer put into out goes (unauthenticated, and
         * maybe longer than the answer that will count) */
        trustm_wipe(c->out, x.r.cap);
    }
#if TRUSTM_CFG_SHIELD
    if (level) { /* (only the shielded layer asks for a level) */
        x.st = st;
        st = t->shield_fn(t, (uint8_t)(level | TRUSTM_SHIELD_DONE), &x);
    }
#endif
    return st == TRUSTM_RESTART ? TRUSTM_ST(LINK, TIMEOUT) : st;
}

#if TRUSTM_CFG_SHIELD
tma_status trustm_prl_msg(struct trustm *t, const uint8_t *msg, size_t n, uint8_t in[49],
                          unsigned want)
{
    struct trustm_rsp rsp;
    struct tma_span sp;
    struct trustm_call c;
    uint8_t sctr = (uint8_t)want;
    tma_status st;
    sp.ptr = msg;
    sp.len = n;
    c.protect = TRUSTM_RUN_RAW;
    c.seg = &sp;
    c.nseg = 1;
    c.len = n;
    c.out = in;
    c.cap = 49;
    c.rsp = &rsp;
    st = trustm_run(t, &c);
    if (st == TMA_OK && (rsp.out_len != want >> 8 ||
                         (in[0] & (sctr == TRUSTM_SCTR_RESTORED ? 0xFCu : 0xFFu)) != sctr)) {
        st = (sctr & 0x60u) ? TRUSTM_ST(SHIELD, MALFORMED)
                            : TMA_ERR(TMA_LAYER_SHIELD, TRUSTM_E_HANDSHAKE);
    }
    return st;
}
#endif

tma_status trustm_transceive(struct trustm *t, uint8_t protect, const struct tma_span *seg,
                             size_t nseg, uint8_t *out, size_t out_cap, struct trustm_rsp *out_rsp)
{
    struct trustm_call c;
    size_t len = 0, i;

    if (!t || !seg || !out_rsp || nseg - 1u >= TRUSTM_MAX_SEGMENTS || (protect & 0x7Cu)) {
        return TRUSTM_ST(GENERIC, BAD_PARAM);
    }
    for (i = 0; i < nseg; i++) {
        if (!seg[i].ptr && seg[i].len) {
            return TRUSTM_ST(GENERIC, BAD_PARAM);
        }
        len += seg[i].len;
    }
    if (len < 4 || len > TRUSTM_APDU_MAX) {
        return TRUSTM_ST(GENERIC, BAD_PARAM);
    }
    if (t->link != TRUSTM_LINK_OPEN) {
        return TRUSTM_ST(LINK, STATE);
    }
    memset(out_rsp, 0, sizeof *out_rsp); /* (out NULL: trustm_rec_rx_init takes cap 0) */
    c.protect = protect;
    c.seg = seg;
    c.nseg = nseg;
    c.len = len;
    c.out = out;
    c.cap = out_cap;
    c.rsp = out_rsp;
#if TRUSTM_CFG_SHIELD
    /* with a secret the shielded layer takes the exchange (failure state,
     * handshake, protection); without one there is no shielded layer */
    if (t->shield_fn) {
        return t->shield_fn(t, TRUSTM_SHIELD_XCV, &c);
    }
    if (protect) {
        return TMA_ERR(TMA_LAYER_SHIELD, TRUSTM_E_NO_SECRET);
    }
    return trustm_run(t, &c);
#else
    if (protect) {
        return TRUSTM_ST(SHIELD, UNSUPPORTED);
    }
    return run(t, &c);
#endif
}

/* ---------------- context life cycle ---------------- */

tma_status trustm_init(struct trustm *t, const struct trustm_port *port,
                       const struct trustm_cfg *cfg)
{
    struct trustm_cfg none;
    uint16_t fs;
    if (!cfg) {
        memset(&none, 0, sizeof none);
        cfg = &none;
    }
    fs = cfg->frame_size ? cfg->frame_size : (uint16_t)TRUSTM_FRAME_MAX;
    if (!t || !port || !port->transfer || !port->delay_us || !port->now_ms ||
        (!port->lock != !port->unlock) || cfg->addr > 0x7F || fs < TRUSTM_FRAME_MIN ||
        fs > TRUSTM_FRAME_MAX) {
        return TRUSTM_ST(GENERIC, BAD_PARAM);
    }
    trustm_wipe(t, sizeof *t);
    t->port = port;
    t->addr = cfg->addr ? cfg->addr : (uint8_t)TRUSTM_DEFAULT_ADDR;
    t->flags = cfg->flags;
    t->want_frame = fs;
    t->frame_size = fs;
    t->rsp_timeout_ms = cfg->rsp_timeout_ms;
    numbers_reset(t);
    return TMA_OK;
}

/* how: 0 = RESYNC only, 1 = soft reset first, 2 = the chip was just reset */
static tma_status restart_link(struct trustm *t, int how)
{
    tma_status st = trustm_phys_start(t, how == 1);
    numbers_reset(t);
    t->lk.st = TRUSTM_LK_IDLE;
    t->prl = 0;
#if TRUSTM_CFG_SHIELD
    /* (without a secret there is no session to drop) */
    if (t->shield_fn) {
        (void)t->shield_fn(t, TRUSTM_SHIELD_RESET, NULL);
    }
#endif
    if (st == TMA_OK && how == 0) {
        st = resync(t);
    }
    return st;
}

tma_status trustm_open(struct trustm *t)
{
    tma_status st;
    if (!t || !t->port) {
        return TRUSTM_ST(GENERIC, BAD_PARAM);
    }
    if (t->link == TRUSTM_LINK_OPEN) {
        return TMA_OK;
    }
    if (t->port->lock && !t->locked) {
        t->port->lock(t->port->ctx);
        t->locked = 1;
    }
    st = restart_link(t, !(t->flags & TRUSTM_F_NO_RESET));
    if (st) {
        trustm_close(t);
        return st;
    }
    t->link = TRUSTM_LINK_OPEN;
    return TMA_OK;
}

tma_status trustm_close(struct trustm *t)
{
    if (!t || !t->port) {
        return TRUSTM_ST(GENERIC, BAD_PARAM);
    }
    t->link = TRUSTM_LINK_CLOSED;
    if (t->locked) {
        t->locked = 0;
        t->port->unlock(t->port->ctx);
    }
    return TMA_OK;
}

tma_status trustm_reset(struct trustm *t, enum trustm_reset_kind kind)
{
    tma_status st;
    if (!t || !t->port || kind > TRUSTM_RESET_WARM) {
        return TRUSTM_ST(GENERIC, BAD_PARAM);
    }
    if (kind != TRUSTM_RESET_SOFT) {
        if (!t->port->reset) {
            return TRUSTM_ST(BUS, UNSUPPORTED);
        }
        st = t->port->reset(t->port->ctx, kind);
        if (st) {
            return st;
        }
        trustm_delay_ms(t, TRUSTM_STARTUP_MS);
    }
    return restart_link(t, kind == TRUSTM_RESET_SOFT ? 1 : 2);
}

void trustm_deinit(struct trustm *t)
{
    if (!t) {
        return;
    }
    (void)trustm_close(t); /* (refuses a context without a port, doing nothing) */
    trustm_wipe(t, sizeof *t);
}
