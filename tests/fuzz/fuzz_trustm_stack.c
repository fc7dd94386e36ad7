/* Fuzz: the whole of libtrustm (physical, data link, network and
 * presentation layers, the driver and the command layer) against a hostile
 * chip at the I2C register level.
 *
 * The port is a chip model written here: registers (I2C_STATE, DATA,
 * DATA_REG_LEN, SOFT_RESET), a data link that ACKs, NAKs, retransmits and
 * resyncs as the spec says, chaining both ways, a shielded connection
 * (Hello, Finished, protected records, context save and restore, with
 * mbedTLS's own CCM and HMAC, not the library's) and an application that
 * answers every command. Left alone it is an honest chip; the fuzz input
 * turns it hostile, transfer by transfer: address NACK storms, bus errors, a
 * port that times out, a reset in the middle, busy periods, lost writes,
 * spurious RESYNCs, chaining errors, bytes flipped in a read, raw register
 * contents, DATA_REG_LEN answers, crafted frames with a good CRC (control
 * frames, data frames with any numbers and packets), and per answer: chip
 * errors, any OutLen, OutLen that lies, broken chaining, records whose MAC or
 * sequence number is wrong, alerts, a wrong SCTR echo.
 *
 * Input: byte 0 configuration (bit 0 shielded, bits 1-3 frame size, bit 4
 * open without soft reset, bit 5 a host secret the chip does not have), byte
 * 1 the length L of the command program, then L bytes of commands (a mix of
 * raw APDUs, read/write data, random, sign, metadata, open/close
 * application, hibernate save and restore, handshake, resets), then the
 * chip's behaviour (0 bytes, or the end of the input: honest).
 *
 * Invariants, checked after every call:
 *  - (time) with the fake clock (it advances on every delay and, by the bus
 *    time, on every transfer) no call runs longer than the bound trustm.h
 *    documents: trustm_transceive_bound_ms() per APDU, the NACK window per
 *    transfer for open and reset;
 *  - (tail) output buffers carry a poisoned guard: nothing beyond cap is
 *    ever written, and on success nothing beyond the length reported holds
 *    data (wiped to zero at most; an error answer's data, Sta != 0, is not
 *    written at all);
 *  - (wellformed) a call that succeeds had a well-formed answer: unless the
 *    chip sent frames the model cannot vouch for (raw bytes that pass the
 *    CRC, crafted data frames: "tainted"), the length and bytes returned are
 *    those of the chip's last answer, which had a true OutLen, a good MAC and
 *    sequence number, proper chaining;
 *  - (shield) after a MAC or sequence failure (one the call returns, or one
 *    in a record whose packet the host took) the session is FAILED, stays
 *    FAILED with no bus traffic until a reset or a new open, and the session
 *    keys in the context are zero whenever no session is active;
 *  - (chipcode) a chip error returned is the code the chip gave for 0xF1C2.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ccm.h>
#include <mbedtls/md.h>

#include "trustm/cmd.h"
#include "trustm/crypto_ops.h"
#include "trustm/trustm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t *cur_in; /* the input under way (for FUZZ_STACK_DUMP) */
static size_t cur_len;

static void fail(int line, const char *what)
{
    const char *dump = getenv("FUZZ_STACK_DUMP"); /* a file to keep the input in */
    fprintf(stderr, "fuzz_trustm_stack: invariant broken at line %d: %s\n", line, what);
    if (dump) {
        FILE *f = fopen(dump, "wb");
        if (f) {
            fwrite(cur_in, 1, cur_len, f);
            fclose(f);
        }
    }
    __builtin_trap();
}
#define CHECK(c, what)                                                                             \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fail(__LINE__, what);                                                                  \
        }                                                                                          \
    } while (0)

#define NACK_ST TMA_ERR(TMA_LAYER_BUS, TMA_C_NACK)
#define IO_ST TMA_ERR(TMA_LAYER_BUS, TMA_C_IO)
#define APDU_MAX TRUSTM_APDU_MAX
#define FRAME_BUF (TRUSTM_FRAME_MAX + 8u)
#define QMAX 6u
#define GUARD 64u
#define POISON 0xA5u

/* ---------------- input streams ---------------- */

struct in {
    const uint8_t *p;
    size_t n;
};

/* exhausted: 0 (the honest choice everywhere) */
static unsigned take(struct in *s)
{
    if (s->n == 0) {
        return 0;
    }
    s->n--;
    return *s->p++;
}

static unsigned take16(struct in *s)
{
    unsigned v = take(s) << 8;
    return v | take(s);
}

/* ---------------- the chip ---------------- */

static int trace; /* FUZZ_STACK_TRACE set: say what happens on stderr */
static struct trustm tm; /* the host's context (the model reads its SSEQ) */

struct qf {
    uint8_t b[FRAME_BUF];
    uint16_t n;
    int8_t nr; /* data frame: its number; control: -1 */
};

struct sess {
    int on;
    uint8_t keys[40]; /* master key, slave key, master nonce, slave nonce */
    uint32_t mseq, sseq;
};

/* the chip's last answer, as the host should see it */
struct last {
    uint8_t cmd; /* APDU command (0x7F bits), 0xFF: a presentation-layer message */
    uint8_t sta;
    int well; /* OutLen true, MAC and sequence good, chaining proper, no alert */
    size_t n; /* OutData bytes */
    uint8_t data[APDU_MAX];
};

struct chip {
    struct in ops;
    uint64_t now_us;
    uint64_t t0, lim_us; /* the call under way: start, bound */
    unsigned run;   /* honest transfers left before the next op byte */
    unsigned nack;  /* transfers still to NACK */
    uint64_t startup_until, busy_until;
    unsigned transfers;
    uint8_t reg;
    uint16_t dreglen;
    /* one-shot changes to the next register read */
    int corrupt, raw;
    uint8_t cpos, cx;
    int drl_lie;
    uint8_t drl[2];
    int chain_err; /* answer the next packet with a chaining error */
    int drop_write;
    int dropped; /* a write was dropped: the chip may join two attempts */
    /* data link */
    uint8_t tx_nr, rx_nr;
    struct qf q[QMAX];
    unsigned qh, qn;
    struct qf fl; /* our data frame in flight (awaiting its ACK) */
    int have_fl;
    unsigned fl_retx; /* times it was sent again */
    uint64_t fl_us;
    /* network: the host's message, our answer */
    uint8_t msg[APDU_MAX + 64];
    size_t msg_len;
    int msg_prl, assembling;
    uint8_t rsp[APDU_MAX + 64];
    size_t rsp_len, rsp_off, rsp_chunk;
    int rsp_on, rsp_prl;
    unsigned rsp_pk; /* packetisation: 0 honest, 1 a short middle, 2 no LAST */
    unsigned rsp_pkt_i;
    int rsp_bad; /* the answer is a record with 1 a bad SSEQ, 2 a bad tag */
    int sec_seen; /* the host got to see such a failure */
    /* presentation layer */
    uint8_t pbs[64];
    struct sess s, saved;
    uint8_t lastrec[APDU_MAX + 64]; /* the last protected command taken */
    size_t lastrec_len;
    uint8_t hs_rnd[32];
    uint32_t hs_sseq;
    uint8_t hs_keys[40];
    int hs_on;
    /* application */
    uint8_t err_code;  /* for the next 0xF1C2 read */
    int code_sent;     /* this call: the chip answered 0xF1C2 with ... */
    uint8_t code;      /* ... this code */
    struct last last;
    int tainted;
    uint32_t rng;
    uint16_t seq_hint; /* varies the chip's randoms between answers */
};

static uint8_t rnd8(struct chip *c)
{
    uint32_t x = c->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c->rng = x;
    return (uint8_t)(x >> 7);
}

/* The frame CRC comes from trustm-sim (sim/codec.c), an implementation
 * apart from the library's under test (src/trustm/link.c). */
uint16_t sim_crc16(const uint8_t *p, size_t n);

static int frame_ok(const uint8_t *b, size_t n)
{
    uint16_t crc;
    if (n < 5 || ((size_t)b[1] << 8 | b[2]) + 5u != n) {
        return 0;
    }
    crc = sim_crc16(b, n - 2);
    return b[n - 2] == (uint8_t)(crc >> 8) && b[n - 1] == (uint8_t)crc;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void queue(struct chip *c, uint8_t fctr, const uint8_t *pkt, size_t n, int nr)
{
    struct qf *f;
    uint16_t crc;
    if (c->qn == QMAX) {
        return; /* a chip with a full queue drops (the host copes) */
    }
    f = &c->q[(c->qh + c->qn++) % QMAX];
    f->b[0] = fctr;
    f->b[1] = (uint8_t)(n >> 8);
    f->b[2] = (uint8_t)n;
    if (n) {
        memcpy(f->b + 3, pkt, n);
    }
    crc = sim_crc16(f->b, n + 3);
    f->b[n + 3] = (uint8_t)(crc >> 8);
    f->b[n + 4] = (uint8_t)crc;
    f->n = (uint16_t)(n + 5);
    f->nr = (int8_t)nr;
}

static void link_reset(struct chip *c)
{
    c->tx_nr = 3;
    c->rx_nr = 3;
    c->qn = 0;
    c->have_fl = 0;
    c->assembling = 0;
    c->rsp_on = 0;
}

static void chip_reset(struct chip *c)
{
    link_reset(c);
    c->dreglen = TRUSTM_FRAME_MAX;
    c->s.on = 0;
    memset(c->s.keys, 0, sizeof c->s.keys);
    c->hs_on = 0;
    c->busy_until = 0;
    c->startup_until = c->now_us + TRUSTM_STARTUP_MS * 1000u;
    c->reg = 0;
}

/* the next packet of the answer as a data frame (piggy-backs the ACK of
 * the host's last frame) */
static void send_packet(struct chip *c)
{
    uint8_t pkt[FRAME_BUF];
    size_t pay = (size_t)c->dreglen - 6u, n = c->rsp_len - c->rsp_off;
    uint8_t ch;
    if (n > pay) {
        n = pay;
    }
    if (c->rsp_pk == 1 && c->rsp_pkt_i == 1 && c->rsp_off + n < c->rsp_len && n > 1) {
        n--; /* a middle packet one byte short */
        c->last.well = 0;
    }
    if (c->rsp_off == 0) {
        ch = c->rsp_off + n >= c->rsp_len ? 0x00 : 0x01;
    } else if (c->rsp_off + n >= c->rsp_len) {
        ch = c->rsp_pk == 2 ? 0x02 : 0x04; /* (2: the chain never ends) */
        if (c->rsp_pk == 2) {
            c->last.well = 0;
        }
    } else {
        ch = 0x02;
    }
    pkt[0] = (uint8_t)(ch | (c->rsp_prl ? 0x08u : 0u));
    memcpy(pkt + 1, c->rsp + c->rsp_off, n);
    c->rsp_chunk = n;
    c->tx_nr = (uint8_t)((c->tx_nr + 1u) & 3u);
    queue(c, (uint8_t)(c->tx_nr << 2 | c->rx_nr), pkt, n + 1, c->tx_nr);
    c->fl = c->q[(c->qh + c->qn - 1) % QMAX];
    c->have_fl = 1;
    c->fl_retx = 0;
    c->fl_us = c->now_us;
}

static void acked(struct chip *c)
{
    c->have_fl = 0;
    if (!c->rsp_on) {
        return;
    }
    /* the host took the packet that shows a record's bad SSEQ (the
     * first) or bad tag (the last) */
    if ((c->rsp_bad == 1 && c->rsp_pkt_i == 0) ||
        (c->rsp_bad == 2 && c->rsp_off + c->rsp_chunk >= c->rsp_len)) {
        c->sec_seen = 1;
    }
    c->rsp_off += c->rsp_chunk;
    c->rsp_pkt_i++;
    if (c->rsp_off >= c->rsp_len) {
        c->rsp_on = 0;
        return;
    }
    send_packet(c);
}

/* ---- presentation layer of the chip (mbedTLS, independent of ccm.c) ---- */

static int hmac(const uint8_t *key, size_t kl, const uint8_t *d, size_t n, uint8_t out[32])
{
    return mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, kl, d, n, out);
}

static void key_block(const struct chip *c, const uint8_t rnd[32], uint8_t out[40])
{
    /* TLS 1.2 PRF-SHA256(PBS, "Platform Binding", rnd), 40 bytes */
    uint8_t seed[48], a[32 + 48], blk[32];
    memcpy(seed, "Platform Binding", 16);
    memcpy(seed + 16, rnd, 32);
    hmac(c->pbs, 64, seed, 48, a);             /* A1 */
    memcpy(a + 32, seed, 48);
    hmac(c->pbs, 64, a, 80, blk);              /* P1 */
    memcpy(out, blk, 32);
    hmac(c->pbs, 64, a, 32, a);                /* A2 */
    hmac(c->pbs, 64, a, 80, blk);              /* P2 */
    memcpy(out + 32, blk, 8);
}

/* CCM-8, nonce = nonce_pre || seq, AD = sctr || seq || 01 || len */
static int ccm(int enc, const uint8_t key[16], const uint8_t npre[4], uint8_t sctr, uint32_t seq,
               const uint8_t *in, size_t n, uint8_t *out, uint8_t tag[8])
{
    mbedtls_ccm_context x;
    uint8_t nonce[8], ad[8];
    int r;
    memcpy(nonce, npre, 4);
    put32(nonce + 4, seq);
    ad[0] = sctr;
    put32(ad + 1, seq);
    ad[5] = 0x01;
    ad[6] = (uint8_t)(n >> 8);
    ad[7] = (uint8_t)n;
    mbedtls_ccm_init(&x);
    r = mbedtls_ccm_setkey(&x, MBEDTLS_CIPHER_ID_AES, key, 128);
    if (r == 0) {
        r = enc ? mbedtls_ccm_encrypt_and_tag(&x, n, nonce, 8, ad, 8, in, out, tag, 8)
                : mbedtls_ccm_auth_decrypt(&x, n, nonce, 8, ad, 8, in, out, tag, 8);
    }
    mbedtls_ccm_free(&x);
    return r;
}

/* ---- application ---- */

/* The answer APDU to apdu (n bytes) into c->rsp + off; records c->last.
 * Returns the answer's length. */
static size_t app(struct chip *c, const uint8_t *apdu, size_t n, uint8_t *out)
{
    unsigned a = take(&c->ops);
    uint8_t cmd = n ? (uint8_t)(apdu[0] & 0x7Fu) : 0u, param = n > 1 ? apdu[1] : 0u;
    size_t len = 0, i, field;
    uint8_t sta = 0;
    int f1c2 = cmd == 0x01 && n >= 10 && apdu[4] == 0xF1 && apdu[5] == 0xC2;

    if (f1c2) {
        len = 1;
    } else if (cmd == 0x01 && param == 0x01) {
        len = 12; /* metadata */
    } else if (cmd == 0x01 && n >= 10) {
        len = (size_t)apdu[8] << 8 | apdu[9];
    } else if (cmd == 0x0C && n >= 6) {
        len = (size_t)apdu[4] << 8 | apdu[5];
    } else if (cmd == 0x71 && param == 1) {
        len = 8;
    } else if (cmd == 0x31) {
        len = 70;
    }
    switch (a >> 6) {
    case 1: /* a chip error (some chips' error answers carry data) */
        sta = 0xFF;
        len = (a & 0x20u) ? take(&c->ops) & 0x1Fu : 0u;
        c->err_code = (uint8_t)((a & 0x1Fu) ? (a & 0x1Fu) : 0x07u);
        break;
    case 2: /* any length */
        len = ((size_t)(a & 0x3Fu) << 5 | (take(&c->ops) & 31u)) % (APDU_MAX - 3u);
        break;
    default:
        break;
    }
    if (len > APDU_MAX - 4u) {
        len = APDU_MAX - 4u;
    }
    field = len;
    if ((a >> 6) == 3) { /* OutLen lies */
        int d = (int8_t)take(&c->ops);
        if (a & 1u) {
            field = 0xFFFFu - (a >> 1 & 0x1Fu);
        } else {
            field = (size_t)((long)len + (d ? d : 1));
            field &= 0xFFFFu;
        }
    }
    out[0] = sta;
    out[1] = 0;
    out[2] = (uint8_t)(field >> 8);
    out[3] = (uint8_t)field;
    for (i = 0; i < len; i++) {
        out[4 + i] = rnd8(c);
    }
    if (f1c2 && sta == 0 && len == 1) {
        out[4] = c->err_code;
    }
    if (cmd == 0x01 && param == 0x01 && sta == 0 && len >= 2) {
        out[4] = 0x20; /* a metadata container */
        out[5] = (uint8_t)(len - 2);
    }
    if (cmd == 0x31 && sta == 0 && len == 70 && field == 70) {
        /* a raw ECDSA signature: 02 20 r 02 20 s, r and s positive */
        out[4] = 0x02;
        out[5] = 0x20;
        out[6] = (uint8_t)((out[6] & 0x7Fu) | 1u);
        out[38] = 0x02;
        out[39] = 0x20;
        out[40] = (uint8_t)((out[40] & 0x7Fu) | 1u);
        len = 68;
        field = 68;
        out[2] = 0;
        out[3] = 68;
    }
    c->last.cmd = cmd;
    c->last.sta = sta;
    c->last.n = len;
    c->last.well = field == len;
    memcpy(c->last.data, out + 4, len);
    if (f1c2 && c->last.well && sta == 0 && len == 1) {
        c->code_sent = 1;
        c->code = out[4];
    } else if (f1c2) {
        c->code_sent = 0;
    }
    return 4 + len;
}

/* A complete message from the host: build the answer and start sending it. */
static void message(struct chip *c)
{
    uint8_t *m = c->msg, *r = c->rsp;
    size_t n = c->msg_len, len = 0;
    unsigned shop = 0;

    c->rsp_pk = take(&c->ops) % 4u == 3 ? (unsigned)(take(&c->ops) % 3u) : 0u;
    c->rsp_bad = 0;
    c->rsp_prl = c->msg_prl;
    if (!c->msg_prl) {
        len = app(c, m, n, r);
    } else if (n == 0) {
        return;
    } else if (m[0] == 0x00) { /* Hello */
        uint32_t sseq;
        shop = take(&c->ops) & 3u;
        c->last.cmd = 0xFF;
        c->last.well = 1;
        r[0] = 0x00;
        r[1] = shop == 1 ? 0x02 : 0x01;
        for (len = 0; len < 32; len++) {
            c->hs_rnd[len] = rnd8(c);
        }
        memcpy(r + 2, c->hs_rnd, 32);
        sseq = shop == 2 ? 0xFFFFFFF0u + (rnd8(c) & 7u) : (uint32_t)rnd8(c) << 16 | c->seq_hint++;
        put32(r + 34, sseq);
        len = 38;
        c->hs_sseq = sseq;
        key_block(c, c->hs_rnd, c->hs_keys);
        c->hs_on = 1;
        c->s.on = 0;
    } else if (m[0] == 0x08) { /* the host's Finished: check it, answer ours */
        uint8_t pt[36], ct[36], tag[8];
        uint32_t mseq;
        if (!c->hs_on || n != 49) {
            r[0] = 0x40;
            len = 1;
            c->last.cmd = 0xFF;
            c->last.well = 0;
        } else {
            memcpy(pt, c->hs_rnd, 32);
            put32(pt + 32, c->hs_sseq);
            ccm(1, c->hs_keys, c->hs_keys + 32, 0x08, c->hs_sseq, pt, 36, ct, tag);
            /* the host's Finished is exactly what the key block gives,
             * unless the host was given another secret or the chip's
             * frames were not the model's */
            CHECK(c->tainted || c->dropped || (m[1] == pt[32] && m[2] == pt[33] && m[3] == pt[34] &&
                                 m[4] == pt[35] && !memcmp(m + 5, ct, 36) && !memcmp(m + 41, tag, 8)) ||
                      memcmp(c->pbs, "host-other", 10) == 0,
                  "the host's Finished record does not match its key block");
            shop = take(&c->ops) & 3u;
            mseq = (uint32_t)rnd8(c) << 8 | c->seq_hint++;
            memcpy(pt, c->hs_rnd, 32);
            put32(pt + 32, mseq);
            r[0] = 0x08;
            put32(r + 1, mseq);
            ccm(1, c->hs_keys + 16, c->hs_keys + 36, 0x08, mseq, pt, 36, r + 5, r + 41);
            if (shop == 3) {
                r[41] ^= 0x10;
            }
            len = 49;
            c->last.cmd = 0xFF;
            c->last.well = shop != 3;
            memcpy(c->s.keys, c->hs_keys, 40);
            c->s.mseq = mseq;
            c->s.sseq = c->hs_sseq;
            c->s.on = 1;
            c->hs_on = 0;
        }
    } else if ((m[0] & 0xFCu) == 0x20) { /* a record */
        uint8_t lvl = (uint8_t)(m[0] & 3u), sctr = m[0];
        /* (a message joined from two attempts may be longer than an APDU) */
        uint8_t apdu[sizeof c->msg], ans[APDU_MAX + 16];
        size_t an = 0, k;
        int alert = 0;
        shop = take(&c->ops) & 7u;
        if (lvl & 1u) {
            uint32_t mseq = n >= 13 ? be32(m + 1) : 0;
            if (!c->s.on || n < 13 + 4) {
                alert = 0x40;
            } else if (ccm(0, c->s.keys, c->s.keys + 32, sctr, mseq, m + 5, n - 13, apdu,
                           m + n - 8) != 0) {
                CHECK(c->tainted || c->dropped, "the host's protected command fails its MAC");
                alert = 0x44;
            } else if (mseq <= c->s.mseq) {
                /* the same record again is the data link resending a frame
                 * the chip took after a RESYNC of its own; another record
                 * under a used MSEQ would reuse a nonce */
                CHECK(c->tainted || c->dropped || (n == c->lastrec_len && !memcmp(m, c->lastrec, n)),
                      "the host reused a master sequence number");
                alert = 0x44;
            } else {
                c->s.mseq = mseq;
                an = n - 13;
                memcpy(c->lastrec, m, n);
                c->lastrec_len = n;
            }
        } else {
            an = n - 1;
            memcpy(apdu, m + 1, an);
        }
        if (!alert && (lvl & 2u) && !c->s.on) {
            alert = 0x40;
        }
        if (shop == 5 || shop == 6) {
            alert = shop == 5 ? 0x40 : 0x44;
        }
        if (alert) {
            r[0] = (uint8_t)alert;
            len = 1;
            c->last.cmd = 0xFF;
            c->last.well = 0;
            c->s.on = 0;
        } else {
            size_t al = app(c, apdu, an, ans);
            r[0] = shop == 7 ? (uint8_t)(sctr ^ 0x01u) : sctr;
            if (shop == 7) {
                c->last.well = 0;
            }
            if (lvl & 2u) {
                uint32_t sseq = c->s.sseq + 1u;
                if (shop == 2) {
                    sseq = c->s.sseq;
                } else if (shop == 3) {
                    sseq = c->s.sseq + 4u;
                } else if (shop == 4) {
                    sseq = c->s.sseq + 2u;
                }
                put32(r + 1, sseq);
                ccm(1, c->s.keys + 16, c->s.keys + 36, r[0], sseq, ans, al, r + 5, r + 5 + al);
                if (shop == 1) {
                    r[5 + al] ^= 0x01;
                }
                /* bad as the host sees it: a wrong tag, or an SSEQ outside
                 * (last accepted, + 3] (a "replay" of a record the host
                 * never took is no replay to it) */
                if (shop != 7 && (sseq <= tm.sess.sseq || sseq - tm.sess.sseq > 3u)) {
                    c->rsp_bad = 1; /* seen in the first packet (after the SCTR) */
                } else if (shop == 1 && c->last.well && c->rsp_pk == 0) {
                    c->rsp_bad = 2; /* seen at the end (where a lying OutLen
                                     * or broken chaining would make the
                                     * record MALFORMED first) */
                }
                if (c->rsp_bad || shop == 1) {
                    c->last.well = 0;
                }
                if (shop != 1 && shop != 2 && shop != 3) {
                    c->s.sseq = sseq;
                }
                len = 13 + al;
            } else {
                for (k = 0; k < al; k++) {
                    r[1 + k] = ans[k];
                }
                len = 1 + al;
            }
        }
    } else if (m[0] == 0x60) { /* save context */
        c->last.cmd = 0xFF;
        c->last.well = c->s.on;
        r[0] = c->s.on ? 0x64 : 0x40;
        len = 1;
        c->saved = c->s;
        c->s.on = 0;
    } else if (m[0] == 0x68 && n == 5) { /* restore context */
        c->last.cmd = 0xFF;
        c->last.well = c->saved.on && be32(m + 1) == c->saved.sseq;
        r[0] = 0x6C;
        put32(r + 1, c->saved.mseq);
        len = 5;
        if (c->saved.on) {
            c->s = c->saved;
        }
    } else {
        r[0] = 0x40;
        len = 1;
        c->last.cmd = 0xFF;
        c->last.well = 0;
    }
    if (trace) {
        fprintf(stderr, "  chip: msg %zu bytes (prl %d, %02x) -> answer %zu bytes, cmd %02x sta %02x n %zu well %d shop %u pk %u\n",
                n, c->msg_prl, n ? m[0] : 0, len, c->last.cmd, c->last.sta, c->last.n, c->last.well, shop, c->rsp_pk);
    }
    c->rsp_len = len;
    c->rsp_off = 0;
    c->rsp_pkt_i = 0;
    c->rsp_on = 1;
    send_packet(c);
}

/* One frame written by the host. */
static void host_frame(struct chip *c, const uint8_t *b, size_t n)
{
    uint8_t f, fr, an;
    if (trace > 1) {
        fprintf(stderr, "    host frame %02x len %zu (chip tx %u rx %u fl %d/%d q %u) %02x %02x %02x %02x %02x %02x\n",
                b[0], n, c->tx_nr, c->rx_nr, c->have_fl, c->fl.nr, c->qn, n > 3 ? b[3] : 0,
                n > 4 ? b[4] : 0, n > 5 ? b[5] : 0, n > 6 ? b[6] : 0, n > 7 ? b[7] : 0, n > 8 ? b[8] : 0);
    }
    if (!frame_ok(b, n)) {
        if (n > 5 && !(b[0] & 0x80u)) {
            queue(c, (uint8_t)(0xA0u | ((c->rx_nr + 1u) & 3u)), NULL, 0, -1);
        }
        return;
    }
    f = b[0];
    an = (uint8_t)(f & 3u);
    if (f & 0x80u) {
        unsigned kind = (f >> 5) & 3u;
        if (kind == 0 && c->have_fl && an == (uint8_t)c->fl.nr) {
            acked(c);
        } else if (kind == 1 && c->have_fl && an == (uint8_t)c->fl.nr) {
            unsigned i;
            if (++c->fl_retx > TRUSTM_TRANS_REPEAT) {
                c->have_fl = 0; /* the chip, too, gives up after 3 resends */
                return;
            }
            for (i = 0; i < c->qn; i++) {
                if (c->q[(c->qh + i) % QMAX].nr == c->fl.nr) {
                    return;
                }
            }
            if (c->qn < QMAX) {
                c->q[(c->qh + c->qn++) % QMAX] = c->fl;
            }
        } else if (kind == 2) {
            link_reset(c);
        }
        return;
    }
    if (c->now_us < c->busy_until) {
        return; /* busy: the frame goes unanswered */
    }
    fr = (uint8_t)((f >> 2) & 3u);
    if (c->have_fl && an == (uint8_t)c->fl.nr && fr == ((c->rx_nr + 1u) & 3u)) {
        acked(c); /* (a new command acknowledges our last packet) */
    }
    if (fr == c->rx_nr) {
        queue(c, (uint8_t)(0x80u | c->rx_nr), NULL, 0, -1);
        return;
    }
    if (fr != ((c->rx_nr + 1u) & 3u) || n < 6) {
        queue(c, (uint8_t)(0xA0u | ((c->rx_nr + 1u) & 3u)), NULL, 0, -1);
        return;
    }
    c->rx_nr = fr;
    {
        const uint8_t *p = b + 3;
        size_t pl = n - 5;
        unsigned ch = p[0] & 7u;
        if (c->chain_err) {
            uint8_t e = 0x07;
            c->chain_err = 0;
            c->assembling = 0;
            c->rsp_on = 0;
            c->tx_nr = (uint8_t)((c->tx_nr + 1u) & 3u);
            queue(c, (uint8_t)(c->tx_nr << 2 | c->rx_nr), &e, 1, c->tx_nr);
            c->fl = c->q[(c->qh + c->qn - 1) % QMAX];
            c->have_fl = 1;
            c->fl_retx = 0;
            c->fl_us = c->now_us;
            return;
        }
        if (ch == 0 || ch == 1) {
            c->assembling = 1;
            c->msg_len = 0;
            c->msg_prl = (p[0] & 0x08u) != 0;
            c->rsp_on = 0;
            c->have_fl = 0;
            c->qn = 0; /* what was still queued belongs to the last answer */
        }
        if (!c->assembling || c->msg_len + pl - 1 > sizeof c->msg) {
            c->assembling = 0;
            queue(c, (uint8_t)(0x80u | c->rx_nr), NULL, 0, -1);
            return;
        }
        memcpy(c->msg + c->msg_len, p + 1, pl - 1);
        c->msg_len += pl - 1;
        if (ch == 0 || ch == 4) {
            c->assembling = 0;
            message(c);
        } else {
            queue(c, (uint8_t)(0x80u | c->rx_nr), NULL, 0, -1);
        }
    }
}

/* The fuzz input's choice for this transfer; returns a status to end the
 * transfer with, or TMA_OK to carry it out (honestly or as prepared). */
static tma_status behave(struct chip *c, const struct trustm_i2c_msg *m)
{
    unsigned op, k;
    if (c->nack) {
        c->nack--;
        return NACK_ST;
    }
    if (c->run) {
        c->run--;
        return TMA_OK;
    }
    if (c->ops.n == 0) {
        return TMA_OK;
    }
    op = take(&c->ops);
    if (trace > 1 && op >= 0xA0u) {
        fprintf(stderr, "    op %02x on %s of %u bytes\n", op, (m->flags & TRUSTM_I2C_READ) ? "read" : "write",
                m->len);
    }
    if (op < 0xA0u) {
        c->run = op;
        return TMA_OK;
    }
    switch (op) {
    case 0xA0: case 0xA1: case 0xA2: case 0xA3: /* NACK storm */
        c->nack = (op & 3u) * 12u + (take(&c->ops) & 15u);
        return NACK_ST;
    case 0xA4:
        return IO_ST;
    case 0xA5: /* a port that times out */
        c->now_us += 25000u;
        return IO_ST;
    case 0xA6: /* reset (power glitch) */
        chip_reset(c);
        return NACK_ST;
    case 0xA7: /* busy for a while */
        c->busy_until = c->now_us + (uint64_t)(take(&c->ops) + 1u) * 250u * (1u + (take(&c->ops) & 31u));
        return TMA_OK;
    case 0xA8: /* the chip misses this write (ACKed on the bus) */
        c->drop_write = !(m->flags & TRUSTM_I2C_READ);
        /* (both of the host's RESYNCs may go: the chip may then take a
         * restarted message's first packet for a repeat of the last one
         * and join two attempts; its MAC check catches that, it is no
         * fault of the host's) */
        c->dropped |= c->drop_write;
        return TMA_OK;
    case 0xA9: /* spurious RESYNC */
        link_reset(c);
        queue(c, 0xC0, NULL, 0, -1);
        return TMA_OK;
    case 0xAA: /* a control frame, good CRC, any bits */
        k = take(&c->ops);
        if ((k & 0x60u) == 0x40u) {
            c->tainted = 1; /* a RESYNC the chip itself ignores */
        }
        queue(c, (uint8_t)(0x80u | k), NULL, 0, -1);
        return TMA_OK;
    case 0xAB: { /* a data frame, good CRC, any numbers and packet */
        uint8_t pkt[FRAME_BUF];
        unsigned fc = take(&c->ops), n = take(&c->ops), i;
        if (n > c->dreglen - 5u) {
            n = c->dreglen - 5u;
        }
        for (i = 0; i < n; i++) {
            pkt[i] = (uint8_t)take(&c->ops);
        }
        c->tainted = 1;
        queue(c, (uint8_t)(fc & 0x7Fu), pkt, n, (int)((fc >> 2) & 3u));
        return TMA_OK;
    }
    case 0xAC: /* raw contents for this read */
        c->raw = 1;
        return TMA_OK;
    case 0xAD: /* a flipped byte in this read */
        c->corrupt = 1;
        c->cpos = (uint8_t)take(&c->ops);
        c->cx = (uint8_t)(take(&c->ops) | 1u);
        return TMA_OK;
    case 0xAE: /* DATA_REG_LEN answer */
        c->drl_lie = 1;
        c->drl[0] = (uint8_t)take(&c->ops);
        c->drl[1] = (uint8_t)take(&c->ops);
        return TMA_OK;
    case 0xAF: /* the next packet gets a chaining error */
        c->chain_err = 1;
        return TMA_OK;
    default:
        return TMA_OK;
    }
}

static tma_status port_transfer(void *ctx, struct trustm_i2c_msg *msgs, size_t n)
{
    struct chip *c = ctx;
    struct trustm_i2c_msg *m = msgs;
    tma_status st;
    if (n != 1 || m->addr != TRUSTM_DEFAULT_ADDR || (m->len && !m->buf)) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
    }
    c->transfers++;
    c->now_us += 23u * (m->len + 1u); /* 400 kHz */
    CHECK(c->now_us - c->t0 <= c->lim_us, "call runs past its documented bound");
    if (c->now_us < c->startup_until) {
        return NACK_ST;
    }
    st = behave(c, m);
    if (st) {
        return st;
    }
    if (!(m->flags & TRUSTM_I2C_READ)) {
        if (c->drop_write) {
            c->drop_write = 0;
            if (m->len == 6 && m->buf[0] == 0x80 && m->buf[1] == 0xC0) {
                /* a RESYNC the chip ACKs and ignores: the host cannot know
                 * the chip still counts on (it may take a new command for
                 * a repeat and answer it with an old answer) */
                c->tainted = 1;
            }
            return TMA_OK;
        }
        if (m->len == 0) {
            return TMA_OK;
        }
        c->reg = m->buf[0];
        if (m->len == 1) {
            return TMA_OK;
        }
        if (c->reg == 0x80) {
            host_frame(c, m->buf + 1, m->len - 1u);
        } else if (c->reg == 0x81 && m->len == 3) {
            unsigned v = (unsigned)m->buf[1] << 8 | m->buf[2];
            c->dreglen = (uint16_t)(v < TRUSTM_FRAME_MIN ? TRUSTM_FRAME_MIN
                                    : v > TRUSTM_FRAME_MAX ? TRUSTM_FRAME_MAX : v);
        } else if (c->reg == 0x88 && m->len == 3) {
            chip_reset(c);
        }
        return TMA_OK;
    }
    memset(m->buf, 0xFF, m->len);
    if (c->reg == 0x82) {
        uint8_t s[4] = {0x08, 0, 0, 0};
        if (c->qn == 0 && c->have_fl && c->now_us - c->fl_us >= 20000u) {
            c->q[c->qh] = c->fl; /* our retransmission timer */
            c->qn = 1;
            c->fl_us = c->now_us;
            if (++c->fl_retx > TRUSTM_TRANS_REPEAT) {
                c->have_fl = 0;
            }
        }
        if (c->now_us < c->busy_until) {
            s[0] |= 0x80;
        } else if (c->qn) {
            s[0] |= 0x40;
            s[2] = (uint8_t)(c->q[c->qh].n >> 8);
            s[3] = (uint8_t)c->q[c->qh].n;
        }
        memcpy(m->buf, s, m->len < 4 ? m->len : 4u);
    } else if (c->reg == 0x80) {
        if (c->qn && c->now_us >= c->busy_until) {
            struct qf *f = &c->q[c->qh];
            if (trace > 1) {
                fprintf(stderr, "    chip frame %02x len %u\n", f->b[0], f->n);
            }
            memcpy(m->buf, f->b, m->len < f->n ? m->len : f->n);
            if (c->have_fl && f->nr == c->fl.nr) {
                c->fl_us = c->now_us;
            }
            c->qh = (c->qh + 1) % QMAX;
            c->qn--;
        }
    } else if (c->reg == 0x81) {
        uint8_t d[2];
        d[0] = (uint8_t)(c->dreglen >> 8);
        d[1] = (uint8_t)c->dreglen;
        if (c->drl_lie) {
            unsigned v = (unsigned)c->drl[0] << 8 | c->drl[1];
            c->drl_lie = 0;
            memcpy(d, c->drl, 2);
            if (v >= TRUSTM_FRAME_MIN && v <= TRUSTM_FRAME_MAX) {
                c->dreglen = (uint16_t)v;
            }
        }
        memcpy(m->buf, d, m->len < 2 ? m->len : 2u);
    }
    if (c->raw) {
        unsigned i;
        c->raw = 0;
        for (i = 0; i < m->len; i++) {
            m->buf[i] = (uint8_t)take(&c->ops);
        }
        if (c->reg == 0x80 && frame_ok(m->buf, m->len)) {
            c->tainted = 1;
        }
    }
    if (c->corrupt) {
        c->corrupt = 0;
        if (m->len) {
            m->buf[c->cpos % m->len] ^= c->cx;
        }
    }
    return TMA_OK;
}

static void port_delay(void *ctx, uint32_t us)
{
    struct chip *c = ctx;
    c->now_us += us;
    CHECK(c->now_us - c->t0 <= c->lim_us, "call runs past its documented bound");
}

static uint32_t port_now(void *ctx)
{
    return (uint32_t)(((struct chip *)ctx)->now_us / 1000u);
}

static tma_status port_reset(void *ctx, enum trustm_reset_kind kind)
{
    (void)kind;
    chip_reset((struct chip *)ctx);
    return TMA_OK;
}

/* ---------------- the host side ---------------- */

static struct chip chip;
static int trace;
static struct trustm tm;
static struct trustm_port port;
static uint8_t buf[APDU_MAX + 1700 + GUARD];
static uint8_t apdu_in[APDU_MAX];

struct host {
    uint8_t protect;
    int failed;      /* the session was FAILED before this call */
    uint64_t t0;
    unsigned x0;
    uint8_t handle[8];
    int have_handle;
    struct trustm_shield_saved saved;
    int have_saved;
};

static void poison(size_t n)
{
    memset(buf, POISON, n + GUARD);
}

/* nothing from `from` to cap holds data (poison, or wiped to zero), and
 * nothing at all was written past cap */
static int untouched(size_t from, size_t cap)
{
    size_t i;
    for (i = from; i < cap + GUARD; i++) {
        if (buf[i] != POISON && (i >= cap || buf[i] != 0)) {
            return 0;
        }
    }
    return 1;
}

static int keys_zero(void)
{
    size_t i;
    const uint8_t *p = (const uint8_t *)&tm.sess;
    for (i = 0; i < sizeof tm.sess; i++) {
        if (p[i]) {
            return 0;
        }
    }
    return 1;
}

static uint32_t bound(uint8_t cmd, uint8_t param, size_t len)
{
    return trustm_transceive_bound_ms(&tm, cmd, param, len);
}

/* open and the resets: each register access may wait out one NACK window
 * (TRUSTM_NACK_TIMEOUT_MS plus its last 5 ms back-off), at most 9 of them
 * (state, reset, length written and read back, two RESYNCs), the start-up
 * time twice (port reset and soft reset) */
#define OPEN_BOUND_MS (9u * (TRUSTM_NACK_TIMEOUT_MS + 6u) + 2u * TRUSTM_STARTUP_MS + 30u)

/* before each call: lim, its time bound in ms (the port traps as soon as
 * the fake clock passes it, so a call that would never end is caught too) */
static void arm(struct host *h, uint32_t lim)
{
    h->failed = trustm_shield_state(&tm) == TRUSTM_SHIELD_FAILED;
    h->t0 = chip.now_us;
    h->x0 = chip.transfers;
    chip.code_sent = 0;
    chip.t0 = chip.now_us;
    chip.lim_us = (uint64_t)lim * 1000u;
}

/* the checks every call gets; resets: the call
 * may end a FAILED session */
static void after(struct host *h, tma_status st, int resets)
{
    uint64_t took = chip.now_us - h->t0;
    uint8_t s = trustm_shield_state(&tm);
    if (trace) { /* FUZZ_STACK_TRACE=1: one line per call */
        fprintf(stderr, "call: st -0x%04x shield %u %llu us, %u transfers, tainted %d\n",
                (unsigned)-st, s, (unsigned long long)took, chip.transfers - h->x0, chip.tainted);
    }
    CHECK(took <= chip.lim_us, "call took longer than its documented bound");
    if (s != TRUSTM_SHIELD_ACTIVE) {
        CHECK(keys_zero(), "session keys left in the context without an active session");
    }
    if (st == TMA_ERR(TMA_LAYER_SHIELD, TMA_C_INTEGRITY)) {
        CHECK(s == TRUSTM_SHIELD_FAILED, "MAC/sequence failure did not fail the session");
    }
    /* a MAC or sequence failure the host saw leaves the session FAILED,
     * whatever came after it on the link, until a reset or a new open */
    if (chip.sec_seen && !chip.tainted && !resets) {
        CHECK(s == TRUSTM_SHIELD_FAILED, "a MAC/sequence failure the host saw left the session usable");
    }
    if (resets) {
        chip.sec_seen = 0;
    }
    if (h->failed && !resets) {
        CHECK(s == TRUSTM_SHIELD_FAILED, "FAILED session left without a reset");
        CHECK(chip.transfers == h->x0, "bus traffic while the session is FAILED");
        /* (a call with nothing to send, a read of 0 bytes, may succeed) */
    }
    if (TMA_IS_CHIP_ERROR(st) && !chip.tainted) {
        CHECK(chip.code_sent && TMA_STATUS_CODE(st) == chip.code,
              "chip error code not the one the chip sent");
    }
}

static size_t pick_cap(struct in *s)
{
    /* (long chained answers cost the most time per input: rarer) */
    static const size_t caps[8] = {0, 1, 8, 12, 64, 100, 300, 1553};
    unsigned v = take(s);
    if ((v & 0xF0u) == 0xF0u) {
        return v & 1u ? 1557u : 3000u;
    }
    return v & 0x80u ? (size_t)(v & 0x7Fu) * 13u : caps[v & 7u];
}

static void step(struct host *h, struct in *s)
{
    unsigned op = take(s) % 14u;
    tma_status st;
    size_t cap, n = 0, i;
    uint8_t prot = h->protect;

    switch (op) {
    case 0: { /* a raw APDU through trustm_transceive() */
        struct tma_span seg;
        struct trustm_rsp rsp;
        uint8_t c = (uint8_t)take(s), p = (uint8_t)take(s);
        size_t len = 4u + (take(s) & 0x3Fu) * (take(s) & 0x1Fu);
        uint8_t pr = (uint8_t)(take(s) & 0x83u);
        if (len > APDU_MAX) {
            len = APDU_MAX;
        }
        apdu_in[0] = c;
        apdu_in[1] = p;
        apdu_in[2] = (uint8_t)((len - 4) >> 8);
        apdu_in[3] = (uint8_t)(len - 4);
        for (i = 4; i < len; i++) {
            apdu_in[i] = (uint8_t)i;
        }
        cap = pick_cap(s);
        if (cap > APDU_MAX) {
            cap = APDU_MAX;
        }
        seg.ptr = apdu_in;
        seg.len = len;
        poison(cap);
        arm(h, bound(c, p, len));
        st = trustm_transceive(&tm, pr, &seg, 1, buf, cap, &rsp);
        after(h, st, 0);
        CHECK(untouched(cap, cap), "transceive wrote past out_cap");
        if (st == TMA_OK) {
            CHECK(rsp.out_len <= cap, "transceive reports more than out_cap");
            CHECK(untouched(rsp.out_len, cap), "transceive wrote past OutLen");
            if (!chip.tainted) {
                CHECK(chip.last.well && chip.last.cmd == (c & 0x7Fu),
                      "transceive succeeded on a malformed answer");
                CHECK(rsp.sta == chip.last.sta && rsp.out_len == chip.last.n &&
                          (rsp.sta ? untouched(0, cap) : !memcmp(buf, chip.last.data, chip.last.n)),
                      "transceive delivered other bytes than the chip sent");
            }
        } else if (st == TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL)) {
            CHECK(untouched(0, cap), "a too-large answer was written into out");
            CHECK(rsp.out_len > cap, "TOO_SMALL with an answer that fits");
        }
        break;
    }
    case 1: { /* read a data object */
        uint16_t oid = (uint16_t)(0xE0E0u + (take(s) & 0x1Fu)), off = (uint16_t)take16(s);
        cap = pick_cap(s);
        poison(cap);
        arm(h, (uint32_t)((cap + TRUSTM_READ_CHUNK - 1u) / TRUSTM_READ_CHUNK) *
                   bound(0x81, 0, 10) + bound(0x01, 0, 10));
        st = trustm_read_data(&tm, prot, oid, off, buf, cap, &n);
        after(h, st, 0);
        CHECK(untouched(cap, cap), "read_data wrote past cap");
        CHECK(n <= cap, "read_data reports more than cap");
        if (st == TMA_OK) {
            CHECK(untouched(n, cap), "read_data wrote past the length it reports");
            /* (one APDU: cap within a chunk and the 16-bit offset space) */
            if (!chip.tainted && cap <= TRUSTM_READ_CHUNK && cap > 0 && cap <= 0xFFFFu - off) {
                CHECK(chip.last.well && chip.last.sta == 0 && n == chip.last.n &&
                          !memcmp(buf, chip.last.data, n),
                      "read_data returned other bytes than the chip sent");
            }
        }
        break;
    }
    case 2: { /* random */
        size_t len = 8u + take(s) % 249u;
        poison(len);
        arm(h, bound(0x8C, 0, 6) + bound(0x01, 0, 10));
        st = trustm_get_random(&tm, prot, (uint8_t)(take(s) & 1u), buf, len);
        after(h, st, 0);
        CHECK(untouched(len, len), "get_random wrote past len");
        if (st == TMA_OK && !chip.tainted) {
            CHECK(chip.last.well && chip.last.n == len && !memcmp(buf, chip.last.data, len),
                  "get_random returned other bytes than the chip sent");
        }
        break;
    }
    case 3: { /* ECDSA signature */
        uint8_t dg[32];
        memset(dg, 0x5A, sizeof dg);
        cap = 64u + (take(s) & 15u);
        poison(cap);
        arm(h, bound(0xB1, 0x11, 44) + bound(0x01, 0, 10));
        st = trustm_sign(&tm, prot, TRUSTM_SIG_ECDSA, 0xE0F1, dg, 32, buf, cap, &n);
        after(h, st, 0);
        CHECK(untouched(cap, cap), "sign wrote past cap");
        if (st == TMA_OK) {
            CHECK(n <= cap && untouched(n, cap), "sign wrote past the length it reports");
        }
        break;
    }
    case 4: { /* write a data object */
        size_t len = (size_t)(take(s) & 0x7Fu) * 25u, ch;
        uint8_t mode = (take(s) & 1u) ? 0x40 : 0x00;
        for (i = 0; i < len; i++) {
            buf[i] = (uint8_t)(i * 7u);
        }
        ch = len ? (len + TRUSTM_WRITE_CHUNK - 1u) / TRUSTM_WRITE_CHUNK : 1u;
        arm(h, (uint32_t)ch * bound(0x82, 0x40, 8u + (len < 1549u ? len : 1549u)) +
                   bound(0x01, 0, 10));
        st = trustm_write_data(&tm, prot, 0xF1D0, mode, 0, buf, len);
        after(h, st, 0);
        break;
    }
    case 5: { /* metadata */
        cap = take(s) & 1u ? 44u : 8u;
        poison(cap);
        arm(h, bound(0x81, 0x01, 10) + bound(0x01, 0, 10));
        st = trustm_read_metadata(&tm, prot, 0xE0F1, buf, cap, &n);
        after(h, st, 0);
        CHECK(untouched(cap, cap), "read_metadata wrote past cap");
        if (st == TMA_OK) {
            CHECK(n <= cap && untouched(n, cap), "read_metadata wrote past its length");
            if (!chip.tainted) {
                CHECK(chip.last.well && n == chip.last.n && !memcmp(buf, chip.last.data, n),
                      "read_metadata returned other bytes than the chip sent");
            }
        }
        break;
    }
    case 6: /* open the application (restoring a hibernated one, maybe) */
        arm(h, bound(0xF0, 1, 28) + bound(0x01, 0, 10));
        st = trustm_open_app(&tm, prot, (take(s) & 1u) && h->have_handle ? h->handle : NULL);
        after(h, st, 0);
        break;
    case 7: /* close it */
        arm(h, bound(0xF1, 0, 4) + bound(0x01, 0, 10));
        st = trustm_close_app(&tm, prot, NULL);
        after(h, st, 0);
        break;
    case 8: /* hibernate: close saving the context, save the session */
        arm(h, bound(0xF1, 1, 4) + bound(0x01, 0, 10));
        st = trustm_close_app(&tm, prot, h->handle);
        after(h, st, 0);
        h->have_handle = st == TMA_OK;
        arm(h, bound(0x60, 0, 1));
        st = trustm_shield_save(&tm, &h->saved);
        after(h, st, 0);
        if (st == TMA_OK) {
            h->have_saved = 1;
            CHECK(trustm_shield_state(&tm) == TRUSTM_SHIELD_NONE, "session active after save");
        }
        break;
    case 9: /* wake up: power cycle, open, restore the session */
        arm(h, OPEN_BOUND_MS);
        st = trustm_reset(&tm, TRUSTM_RESET_COLD);
        after(h, st, 1);
        if (h->have_saved) {
            arm(h, bound(0x68, 0, 5));
            st = trustm_shield_restore(&tm, &h->saved);
            after(h, st, 0);
        }
        break;
    case 10:
        arm(h, bound(0x00, 0x01, 49));
        st = trustm_shield_handshake(&tm);
        after(h, st, 0);
        break;
    case 11:
        arm(h, OPEN_BOUND_MS);
        st = trustm_reset(&tm, (enum trustm_reset_kind)(take(s) % 3u));
        after(h, st, 1);
        break;
    case 12:
        trustm_close(&tm);
        arm(h, OPEN_BOUND_MS);
        st = trustm_open(&tm);
        after(h, st, 1);
        break;
    default: /* protection for the commands that follow */
        h->protect = (uint8_t)(take(s) & 0x83u);
        break;
    }
    (void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t sizes[8] = {0, 277, 16, 17, 40, 64, 128, 255};
    struct trustm_cfg cfg;
    struct host h;
    struct in cmds;
    uint8_t conf;
    size_t l;
    unsigned k;

    if (size < 2) {
        return 0;
    }
    trace = getenv("FUZZ_STACK_TRACE") ? atoi(getenv("FUZZ_STACK_TRACE")) : 0;
    cur_in = data;
    cur_len = size;
    conf = data[0];
    l = data[1];
    data += 2;
    size -= 2;
    if (l > size) {
        l = size;
    }
    cmds.p = data;
    cmds.n = l;
    memset(&chip, 0, sizeof chip);
    chip.ops.p = data + l;
    chip.ops.n = size - l;
    chip.rng = 0x9E3779B9u ^ (uint32_t)size ^ (uint32_t)conf << 8;
    for (k = 0; k < 64; k++) {
        chip.pbs[k] = (uint8_t)(k * 29u + 3u);
    }
    chip_reset(&chip);
    chip.startup_until = 0;
    memset(&port, 0, sizeof port);
    port.ctx = &chip;
    port.transfer = port_transfer;
    port.delay_us = port_delay;
    port.now_ms = port_now;
    port.reset = port_reset;
    memset(&cfg, 0, sizeof cfg);
    cfg.frame_size = sizes[(conf >> 1) & 7u];
    cfg.flags = (conf & 0x10u) ? TRUSTM_F_NO_RESET : 0u;
    CHECK(trustm_init(&tm, &port, &cfg) == TMA_OK, "init");
    memset(&h, 0, sizeof h);
    if (conf & 1u) {
        uint8_t sec[64];
        memcpy(sec, chip.pbs, 64);
        if (conf & 0x20u) {
            sec[0] ^= 1;
            memcpy(chip.pbs, "host-other", 10); /* (the model's marker) */
            for (k = 10; k < 64; k++) {
                chip.pbs[k] = (uint8_t)k;
            }
        }
        CHECK(trustm_shield_set_secret(&tm, trustm_crypto_mbedtls(), sec, 64) == TMA_OK, "secret");
        h.protect = TRUSTM_PROTECT_BOTH;
    }
    {
        tma_status st;
        arm(&h, OPEN_BOUND_MS);
        st = trustm_open(&tm);
        after(&h, st, 1);
    }
    for (k = 0; k < 12 && cmds.n; k++) {
        step(&h, &cmds);
    }
    trustm_deinit(&tm);
    return 0;
}
