/*
 * Private interface between libtrustm's protocol layers. Every layer is a
 * pure codec plus a small state machine (one state enum, one step function),
 * so each can be unit-tested and fuzzed without a bus.
 */
#ifndef TRUSTM_STACK_H
#define TRUSTM_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "trustm/trustm.h"

#define TRUSTM_ST(layer, code) TMA_ERR(TMA_LAYER_##layer, TMA_C_##code)

/* Internal flow code: the message must be sent again from its first packet
 * (after a RESYNC, or a chaining error reported by the chip). Never returned
 * to the caller. */
#define TRUSTM_RESTART 4

/* ---- physical layer (phys.c) ---- */
#define TRUSTM_REG_DATA 0x80u
#define TRUSTM_REG_DATA_REG_LEN 0x81u
#define TRUSTM_REG_I2C_STATE 0x82u
#define TRUSTM_REG_SOFT_RESET 0x88u

tma_status trustm_phys_write(struct trustm *t, uint8_t *buf, size_t len);
/* Poll I2C_STATE once; if a frame is ready read it into t->rx.
 * Returns the frame length (> 0), 0 when nothing is ready (or the chip
 * NACKed: busy), or an error. */
int32_t trustm_phys_poll(struct trustm *t);
/* Soft reset through the SOFT_RESET register (soft != 0; BUS UNSUPPORTED
 * when I2C_STATE does not offer it) and the start-up time, then the
 * DATA_REG_LEN negotiation (BUS MALFORMED for a size below 16 or above the
 * one asked for). */
tma_status trustm_phys_start(struct trustm *t, int soft);
void trustm_delay_ms(const struct trustm *t, uint32_t ms);

/* ---- data link layer: pure codecs (link.c) ---- */
uint16_t trustm_crc16(uint16_t crc, const uint8_t *p, size_t n);
/* frame[0..2] header, packet at frame + 3 (plen bytes); writes FCTR, LEN and
 * FCS; returns the frame length plen + 5. */
size_t trustm_frame_encode(uint8_t *frame, uint8_t fctr, size_t plen);

/* ACK, NAK, RESYNC in the order of the control frame's SEQCTR (00, 01, 10) */
enum trustm_frame_kind {
    TRUSTM_FR_BAD = 0,
    TRUSTM_FR_DATA,
    TRUSTM_FR_ACK,
    TRUSTM_FR_NAK,
    TRUSTM_FR_RESYNC
};

struct trustm_frame {
    uint8_t kind;  /* enum trustm_frame_kind */
    uint8_t nak;   /* SEQCTR 01: a data frame carrying a NAK */
    uint8_t frnr;
    uint8_t acknr;
    uint16_t plen;
    const uint8_t *pkt; /* into the decoded buffer */
};

/* Decode and check one frame. Never reads outside buf[0..n). */
tma_status trustm_frame_decode(const uint8_t *buf, size_t n, struct trustm_frame *out);
/* The same, inline for trustm_link_step(), its only caller in the library
 * (the exported one, for the tests, is in net.c so that link.c has one
 * caller and GCC inlines it). */
static inline tma_status trustm_frame_check(const uint8_t *buf, size_t n,
                                            struct trustm_frame *out)
{
    uint8_t f;
    uint16_t crc;

    out->kind = TRUSTM_FR_BAD;
    if (n < 5 || ((size_t)buf[1] << 8 | buf[2]) + 5u != n) {
        return TRUSTM_ST(LINK, MALFORMED);
    }
    crc = trustm_crc16(0, buf, n - 2);
    if (((unsigned)buf[n - 2] << 8 | buf[n - 1]) != crc) {
        return TRUSTM_ST(LINK, INTEGRITY);
    }
    f = buf[0];
    out->frnr = (uint8_t)((f >> 2) & 3u);
    out->acknr = (uint8_t)(f & 3u);
    out->nak = (uint8_t)((f >> 5) & 1u);
    out->plen = (uint16_t)(n - 5u);
    out->pkt = buf + 3;
    /* RFU bit 4 and SEQCTR 11 are invalid in every frame. */
    if ((f & 0x10u) || (f & 0x60u) == 0x60u) {
        return TRUSTM_ST(LINK, MALFORMED);
    }
    if (f & 0x80u) {
        /* Control frame: no packet, no frame number, a RESYNC no ACKNR;
         * SEQCTR 00 ACK, 01 NAK, 10 RESYNC. */
        if (n != 5u || (f & 0x0Cu) || ((f & 0x40u) && (f & 3u))) {
            return TRUSTM_ST(LINK, MALFORMED);
        }
        out->kind = (uint8_t)(TRUSTM_FR_ACK + ((f >> 5) & 3u));
        return TMA_OK;
    }
    if (n == 5u || (f & 0x40u)) {
        return TRUSTM_ST(LINK, MALFORMED);
    }
    out->kind = TRUSTM_FR_DATA;
    return TMA_OK;
}


/* ---- data link layer: state machine (link.c) ---- */
enum trustm_lk_state { TRUSTM_LK_IDLE = 0, TRUSTM_LK_WAIT_ACK, TRUSTM_LK_WAIT_DATA };

/* Actions returned by trustm_link_step() (bit mask). */
#define TRUSTM_LK_ACKED 0x01u    /* our frame is acknowledged */
#define TRUSTM_LK_DATA 0x02u     /* a new packet was delivered */
#define TRUSTM_LK_SEND_ACK 0x04u /* send control ACK for rx_nr */
#define TRUSTM_LK_SEND_NAK 0x08u /* send control NAK for rx_nr + 1 */
#define TRUSTM_LK_RETX 0x10u     /* retransmit our frame */
#define TRUSTM_LK_RESYNC 0x20u   /* chip resynchronised: counters reset, restart */
#define TRUSTM_LK_SEND_RESYNC 0x40u /* numbers out of step: send RESYNC (RESYNC is set too) */

/* struct trustm_lk (st: enum trustm_lk_state, tx_nr, rx_nr) is in
 * trustm/trustm.h: the context holds the driver's one instance. */

/* One received frame (buf, n; n == 0 means the retransmission timer
 * expired) -> actions; a delivered packet is returned in out_frame. */
unsigned trustm_link_step(struct trustm_lk *lk, const uint8_t *buf, size_t n,
                          struct trustm_frame *out_frame);

/* ---- network layer (net.c) ---- */
#define TRUSTM_PCTR_PRL 0x08u
#define TRUSTM_CHAIN_SINGLE 0x00u
#define TRUSTM_CHAIN_FIRST 0x01u
#define TRUSTM_CHAIN_MID 0x02u
#define TRUSTM_CHAIN_LAST 0x04u
#define TRUSTM_CHAIN_ERROR 0x07u

enum trustm_net_state { TRUSTM_NET_FIRST = 0, TRUSTM_NET_CHAIN, TRUSTM_NET_DONE };

struct trustm_net_rx {
    uint8_t st; /* enum trustm_net_state */
    uint8_t prl; /* PRESENCE bit of the first packet */
    uint16_t npkt;
};

/* PCTR of packet at offset off (payload n bytes) of a message of total
 * bytes; prl is 0 or 1 (t->prl). Inline: the driver is its only user. */
static inline uint8_t trustm_net_pctr(uint8_t prl, size_t off, size_t n, size_t total)
{
    unsigned last = off + n >= total;
    /* first: SINGLE 0 / FIRST 1; later: LAST 4 / MID 2: 1 or 2, one
     * place up for the last packet, where the 2 of SINGLE drops out */
    unsigned v = (1u + (off != 0)) << last;
    return (uint8_t)((unsigned)prl << 3 | (v & ~(last << 1)));
}
/* One received packet; on TMA_OK the payload is pkt + 1, plen - 1 bytes and
 * rx->st says whether the message is complete. TMA_ERR(NET, TRUSTM_E_CHAIN)
 * for the chip's chaining-error packet, TMA_ERR(NET, MALFORMED) otherwise. */
tma_status trustm_net_rx_step(struct trustm_net_rx *rx, const uint8_t *pkt, size_t plen,
                              size_t max_pkt);
/* The same, inline for the driver, its only caller in the library. */
static inline tma_status trustm_net_rx(struct trustm_net_rx *rx, const uint8_t *pkt, size_t plen,
                                       size_t max_pkt)
{
    uint8_t c;

    if (plen == 0 || plen > max_pkt || rx->st == TRUSTM_NET_DONE) {
        return TRUSTM_ST(NET, MALFORMED);
    }
    if (pkt[0] & 0xF0u) {
        return TRUSTM_ST(NET, MALFORMED); /* only channel 0 exists */
    }
    c = (uint8_t)(pkt[0] & 7u);
    if (c == TRUSTM_CHAIN_ERROR) {
        return plen == 1 ? TMA_ERR(TMA_LAYER_NET, TRUSTM_E_CHAIN) : TRUSTM_ST(NET, MALFORMED);
    }
    if (plen < 2) {
        return TRUSTM_ST(NET, MALFORMED);
    }
    if (rx->st == TRUSTM_NET_FIRST) {
        rx->prl = (uint8_t)(pkt[0] & TRUSTM_PCTR_PRL);
        if (c == TRUSTM_CHAIN_SINGLE) {
            rx->st = TRUSTM_NET_DONE;
        } else if (c == TRUSTM_CHAIN_FIRST && plen == max_pkt) {
            rx->st = TRUSTM_NET_CHAIN;
        } else {
            return TRUSTM_ST(NET, MALFORMED);
        }
    } else if (c == TRUSTM_CHAIN_LAST) {
        rx->st = TRUSTM_NET_DONE;
    } else if (c != TRUSTM_CHAIN_MID || plen != max_pkt) {
        return TRUSTM_ST(NET, MALFORMED);
    }
    rx->npkt++;
    return TMA_OK;
}


/* ---- AES-CCM-8 with 8-byte nonce, streaming (ccm.c) ---- */
struct trustm_ccm {
    const struct trustm_crypto_ops *ops;
    const uint8_t *key;
    uint8_t kpos;   /* bytes of ks used */
    uint8_t xpos;   /* bytes absorbed into x */
    uint8_t err;
    uint8_t a[16];  /* counter block of ks: flags, nonce, counter (last byte) */
    uint8_t x[16];  /* CBC-MAC state */
    uint8_t ks[16]; /* current key stream block */
};

/* The nonce is nonce_pre || SEQ (spec 4.5); the SEQ half (c->a + 5, 4
 * bytes) is zero until the caller writes it, before the first key stream
 * byte or B0. */
void trustm_ccm_start(struct trustm_ccm *c, const struct trustm_crypto_ops *ops,
                      const uint8_t key[16], const uint8_t nonce_pre[4]);
/* Start the CBC-MAC: B0 for plen bytes and the record's 8-byte associated
 * data, pre[0..5) (SCTR || SEQ) || PVER 01 || plen as 2 bytes (spec 4.5). */
void trustm_ccm_mac_start(struct trustm_ccm *c, const uint8_t pre[5], size_t plen);
/* In place on p[0..n). how: TRUSTM_CCM_X: XOR the key stream (counter
 * blocks 1, 2, ...); TRUSTM_CCM_MAC: absorb the bytes as they were into
 * the CBC-MAC; TRUSTM_CCM_MAC_OUT: absorb them after the XOR (decryption).
 * Encrypt = X | MAC, decrypt = X | MAC_OUT. */
#define TRUSTM_CCM_X 1u
#define TRUSTM_CCM_MAC 2u
#define TRUSTM_CCM_MAC_OUT 4u
void trustm_ccm_run(struct trustm_ccm *c, uint8_t *p, size_t n, unsigned how);
/* The 8-byte tag; TMA_OK or TMA_ERR(SHIELD, CRYPTO) if a primitive failed. */
tma_status trustm_ccm_tag(struct trustm_ccm *c, uint8_t tag[8]);
/* One-shot helpers for the handshake (<= 64 bytes). */
tma_status trustm_ccm_seal(const struct trustm_crypto_ops *ops, const uint8_t key[16],
                           const uint8_t nonce[8], const uint8_t pre[5], const uint8_t *in,
                           size_t n, uint8_t *out);
tma_status trustm_ccm_open(const struct trustm_crypto_ops *ops, const uint8_t key[16],
                           const uint8_t nonce[8], const uint8_t pre[5], const uint8_t *in,
                           size_t n, uint8_t *out);
int trustm_ct_diff(const uint8_t *a, const uint8_t *b, size_t n);
/* Zero fill that is not optimised away, and a byte copy for lengths only
 * known at run time: the stack links no libc memcpy/memset (constant-size
 * memcpy calls are expanded inline by the compiler). */
void trustm_wipe(void *p, size_t n);
void trustm_copy(void *dst, const void *src, size_t n);

/* ---- presentation layer records (shield.c) ---- */
#define TRUSTM_SCTR_HELLO 0x00u
#define TRUSTM_SCTR_FINISHED 0x08u
#define TRUSTM_SCTR_RECORD 0x20u
#define TRUSTM_SCTR_ALERT_FATAL 0x40u
#define TRUSTM_SCTR_ALERT_INTEGRITY 0x44u
#define TRUSTM_SCTR_SAVE 0x60u
#define TRUSTM_SCTR_SAVED 0x64u
#define TRUSTM_SCTR_RESTORE 0x68u
#define TRUSTM_SCTR_RESTORED 0x6Cu

/* Outgoing message: prefix (PCTR-less: SCTR [SEQ]) + APDU segments
 * (encrypted when protected) + tag. Produced byte by byte. A plain message
 * (the APDU alone) needs no set-up; a prefix and protection are added by
 * the shielded layer (protection through ext, so an application that never
 * sets a secret links no CCM; a plain-only build has neither). */
struct trustm_msg_tx {
    /* protection (shield.c): more: MAC and encrypt the APDU byte *b in
     * place; else the next tag byte into *b */
    tma_status (*ext)(struct trustm_msg_tx *m, uint8_t *b, int more);
    uint8_t pre[5]; /* (byte fields first: short Thumb-2 encodings) */
    uint8_t npre, pos_pre;
    uint8_t pos_tag;
    uint8_t tag[8];
    const struct tma_span *seg;
    size_t nseg;
    size_t si, so; /* segment index / offset */
    size_t total;
    size_t apdu_len;
    struct trustm_ccm ccm;
};

/* mode of struct trustm_rec_rx */
/* (PLAIN and PRL are t->prl's values; the low bit is whether the message
 * sent carries an SCTR the driver prepends) */
enum trustm_rec_mode {
    TRUSTM_REC_PLAIN = 0, /* no presentation layer: APDU only */
    TRUSTM_REC_PRL,       /* SCTR + plain APDU */
    TRUSTM_REC_RAW,       /* a presentation-layer message copied as is */
    TRUSTM_REC_PROT       /* SCTR + SEQ + CCM(APDU) + tag */
};

/* The record is one byte stream: [SCTR [SEQ]] header OutData [tag]; pos
 * says where in it the next byte falls. A plain answer (header and OutData)
 * is decoded by trustm_rec_rx_feed()/_finish() themselves; every other mode
 * needs ext, which only shield.c installs (trustm_rec_rx_ext(),
 * trustm_rec_rx_keys()), so an application that never sets a secret links
 * no presentation-layer decoding. */
struct trustm_rec_rx {
    /* modes other than PLAIN (shield.c): the presentation-layer part of
     * one byte *b (b NULL: of the end) */
    int32_t (*ext)(struct trustm_rec_rx *r, int32_t b);
    uint8_t mode;  /* enum trustm_rec_mode */
    uint8_t npre;  /* bytes before the APDU header: 0, 1 (SCTR) or 5 (+ SEQ) */
    uint8_t alert; /* the SCTR was an alert */
    uint8_t hdr[4];
    uint8_t ss[5]; /* expected SCTR echo, then the record's SEQ */
    uint8_t tag[8];
    uint32_t *sseq; /* last accepted slave sequence number; set when a record passes */
    uint16_t out_len;
    size_t pos; /* bytes of the record consumed (RAW: copied) */
    uint8_t *out;
    size_t cap;
    struct trustm_ccm ccm;
};

/* mode: what the answer is (TRUSTM_REC_PLAIN is decoded without further
 * set-up; the others need trustm_rec_rx_ext() or _keys()), sctr: the SCTR
 * the answer must echo. */
static inline void trustm_rec_rx_init(struct trustm_rec_rx *r, uint8_t mode, uint8_t sctr,
                                      uint8_t *out, size_t cap)
{
    trustm_wipe(r, sizeof *r);
    r->mode = mode;
    r->ss[0] = sctr;
    r->out = out;
    r->cap = out ? cap : 0;
}
/* Decoder for the mode given to trustm_rec_rx_init(): TRUSTM_REC_PRL or
 * TRUSTM_REC_RAW (shield.c). */
void trustm_rec_rx_ext(struct trustm_rec_rx *r);
/* Keys for TRUSTM_REC_PROT (sets the mode): slave key and nonce prefix,
 * the last accepted SSEQ (*sseq, advanced when the record's tag is right). */
void trustm_rec_rx_keys(struct trustm_rec_rx *r, const struct trustm_crypto_ops *ops,
                        const uint8_t key[16], const uint8_t nonce_pre[4], uint32_t *sseq);
tma_status trustm_rec_rx_feed(struct trustm_rec_rx *r, const uint8_t *p, size_t n);
/* End of message: TMA_OK (response header in out_rsp), TMA_ERR(CMD, TOO_SMALL),
 * TMA_ERR(SHIELD, INTEGRITY | MALFORMED | TRUSTM_E_ALERT); for RAW the
 * message length is in out_rsp->out_len (and r->pos). */
tma_status trustm_rec_rx_finish(struct trustm_rec_rx *r, struct trustm_rsp *out_rsp);
/* The same two, inline for the driver, their only caller in the library. */
/* A malformed plain answer. (The presentation-layer decoder refuses what
 * would come here as SHIELD MALFORMED before it passes an APDU byte on.) */
#define TRUSTM_REC_ERR TRUSTM_ST(NET, MALFORMED)

/* The response header into out_rsp once the answer is complete. */
static inline tma_status trustm_rec_done(const struct trustm_rec_rx *r, struct trustm_rsp *out_rsp)
{
    out_rsp->sta = r->hdr[0];
    out_rsp->undef = r->hdr[1];
    out_rsp->out_len = r->out_len;
    return r->out_len > r->cap ? TRUSTM_ST(CMD, TOO_SMALL) : TMA_OK;
}

static inline tma_status trustm_rec_feed(struct trustm_rec_rx *r, const uint8_t *p, size_t n)
{
    while (n--) {
        uint8_t b = *p++;
        size_t i = r->pos++;
#if TRUSTM_CFG_SHIELD
        if (r->ext) {
            /* presentation layer: SCTR, SEQ and tag taken, APDU decrypted */
            int32_t v = r->ext(r, b);
            if (v > 0xFF) {
                continue;
            }
            if (v < 0) {
                return v;
            }
            b = (uint8_t)v;
            i -= r->npre;
        }
#endif
        if (i < 4) { /* the APDU header */
            r->hdr[i] = b;
            if (i == 3) {
                r->out_len = (uint16_t)((r->hdr[2] << 8) | r->hdr[3]);
                if (r->out_len > TRUSTM_APDU_MAX - 4u) {
                    return TRUSTM_REC_ERR;
                }
            }
            continue;
        }
        i -= 4;
        if (i >= r->out_len) {
            return TRUSTM_REC_ERR; /* bytes after the end of the answer */
        }
        /* (too large for out, or an error answer's data: drained; the
         * caller's buffer never holds more than a successful call reports) */
        if (r->out_len <= r->cap && !r->hdr[0]) {
            r->out[i] = b;
        }
    }
    return TMA_OK;
}

static inline tma_status trustm_rec_finish(struct trustm_rec_rx *r, struct trustm_rsp *out_rsp)
{
    tma_status st;
#if TRUSTM_CFG_SHIELD
    if (r->ext) {
        st = r->ext(r, -1);
    } else
#endif
    {
        /* complete: the header (out_len is only set once it is) and the rest */
        st = r->pos != 4u + r->out_len ? TRUSTM_REC_ERR : TMA_OK;
    }
    return st ? st : trustm_rec_done(r, out_rsp);
}


/* A plain message: the APDU segments (apdu_len bytes in all). */
static inline void trustm_msg_tx_init(struct trustm_msg_tx *m, const struct tma_span *seg,
                                      size_t nseg, size_t apdu_len)
{
    trustm_wipe(m, sizeof *m);
    m->seg = seg;
    m->nseg = nseg;
    m->apdu_len = apdu_len;
    m->total = apdu_len;
}

/* Prefix the message with pre[0..npre) (SCTR [SEQ], npre <= 5; shield.c).
 * (The shielded layer itself writes m->pre, npre and total in place.) */
void trustm_msg_tx_pre(struct trustm_msg_tx *m, const uint8_t *pre, size_t npre);
/* Protect it (after the prefix is set: SCTR || SEQ go into nonce and AD). */
void trustm_msg_tx_protect(struct trustm_msg_tx *m, const struct trustm_crypto_ops *ops,
                           const uint8_t key[16], const uint8_t nonce_pre[4]);
tma_status trustm_msg_tx_read(struct trustm_msg_tx *m, uint8_t *dst, size_t n);

/* One exchange as the driver runs it: what the shielded layer's hook
 * (t->shield_fn) works on. */
struct trustm_xchg {
    struct trustm_msg_tx m;
    struct trustm_rec_rx r;
    tma_status st;
};
/* The arguments of trustm_transceive() (len: the APDU's length). */
struct trustm_call {
    uint8_t protect;
    const struct tma_span *seg;
    size_t nseg;
    size_t len;
    uint8_t *out;
    size_t cap;
    struct trustm_rsp *rsp;
};
/* t->shield_fn ops (set with the secret; without one none of this is
 * linked):
 * - a protection level 0..3 (TRUSTM_PROTECT_CMD and/or _RSP): set up this
 *   attempt of the exchange xp (struct trustm_xchg): presentation-layer
 *   decoding and prefix, for a level a fresh MSEQ and the keys;
 * - level | TRUSTM_SHIELD_DONE (level != 0): the exchange ended with x->st:
 *   wipe, fail or drop the session; returns the final status;
 * - TRUSTM_SHIELD_XCV: carry out trustm_transceive() (xp: struct
 *   trustm_call; arguments checked): failure state, handshake, the
 *   exchange, one retry after a fatal alert;
 * - TRUSTM_SHIELD_RESET: the link restarted: session dropped. */
#define TRUSTM_SHIELD_DONE 0x10u
#define TRUSTM_SHIELD_XCV 0x20u
#define TRUSTM_SHIELD_RESET 0x40u

/* ---- driver (transceive.c) ---- */
/* Send one message and receive the answer into r. */
tma_status trustm_exchange(struct trustm *t, struct trustm_msg_tx *m, struct trustm_rec_rx *r,
                           uint32_t hint_ms, uint32_t rsp_ms, struct trustm_rsp *out_rsp);
/* One exchange with its restarts (after a RESYNC or a chaining error);
 * c->protect may carry TRUSTM_RUN_RAW. */
tma_status trustm_run(struct trustm *t, const struct trustm_call *c);
/* internal protect flag: a presentation-layer message (handshake, save,
 * restore), sent as is; the answer is copied as is */
#define TRUSTM_RUN_RAW 0x40u
/* Send a presentation-layer message (n bytes); the answer (into in) must
 * be exactly want >> 8 bytes starting with SCTR want & 0xFF (for RESTORED:
 * its low two bits are free), else TMA_ERR(SHIELD, TRUSTM_E_HANDSHAKE) for
 * the handshake's messages (SCTR 0x00, 0x08) and TMA_ERR(SHIELD, MALFORMED)
 * for the context ones (0x6x); link errors as trustm_transceive(). */
#define TRUSTM_PRL_WANT(sctr, len) ((unsigned)(len) << 8 | (sctr))
tma_status trustm_prl_msg(struct trustm *t, const uint8_t *msg, size_t n, uint8_t in[49],
                          unsigned want);
uint32_t trustm_hint_ms(const uint8_t *apdu_head10, uint8_t protect);
/* Commands expected to finish faster than this are answered without a
 * separate control ACK: the first poll waits for them. */
#define TRUSTM_SHORT_CMD_MS 7u
/* Wait after writing a frame before the first poll for its ACK. */
#define TRUSTM_ACK_WAIT_US 200u
void trustm_shield_drop(struct trustm *t, uint8_t state);

#endif /* TRUSTM_STACK_H */
