/* Presentation layer (spec section 4): outgoing message producer, incoming
 * record decoder (both streaming, so chained APDUs never need a full-size
 * buffer), handshake, hibernate context save/restore. */
#include <stddef.h>
#include <string.h>

#include "stack.h"

#if TRUSTM_CFG_SHIELD
static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    unsigned i;
    for (i = 4; i--; v >>= 8) {
        p[i] = (uint8_t)v;
    }
}
#endif

/* ---------------- outgoing messages ---------------- */

/* The next APDU byte into *b; 0 when the segments are used up. */
static int seg_byte(struct trustm_msg_tx *m, uint8_t *b)
{
    while (m->si < m->nseg) {
        if (m->so < m->seg[m->si].len) {
            *b = m->seg[m->si].ptr[m->so++];
            return 1;
        }
        m->si++;
        m->so = 0;
    }
    return 0;
}

tma_status trustm_msg_tx_read(struct trustm_msg_tx *m, uint8_t *dst, size_t n)
{
    while (n--) {
#if TRUSTM_CFG_SHIELD
        tma_status st = TMA_OK;
        if (m->pos_pre < m->npre) {
            *dst = m->pre[m->pos_pre++];
        } else {
            int more = seg_byte(m, dst);
            if (m->ext) {
                st = m->ext(m, dst, more);
            } else if (!more) {
                st = TRUSTM_ST(NET, INTERNAL);
            }
        }
        if (st) {
            return st;
        }
        dst++;
#else
        if (!seg_byte(m, dst++)) {
            return TRUSTM_ST(NET, INTERNAL);
        }
#endif
    }
    return TMA_OK;
}

#if TRUSTM_CFG_SHIELD
/* Protection of a message (m->ext, set only by the shielded layer, so an
 * application that never sets a secret links none of this nor CCM): more:
 * *b is an APDU byte to MAC and encrypt in place; else the next tag byte
 * into *b. */
static tma_status tx_ext(struct trustm_msg_tx *m, uint8_t *b, int more)
{
    if (more) {
        trustm_ccm_run(&m->ccm, b, 1, TRUSTM_CCM_X | TRUSTM_CCM_MAC);
        return TMA_OK;
    }
    if (m->pos_tag >= 8) {
        return TRUSTM_ST(NET, INTERNAL);
    }
    if (m->pos_tag == 0) {
        tma_status st = trustm_ccm_tag(&m->ccm, m->tag);
        if (st) {
            return st;
        }
    }
    *b = m->tag[m->pos_tag++];
    return TMA_OK;
}

void trustm_msg_tx_pre(struct trustm_msg_tx *m, const uint8_t *pre, size_t npre)
{
    trustm_copy(m->pre, pre, npre);
    m->npre = (uint8_t)npre;
    m->total += npre;
}

static void tx_protect(struct trustm_msg_tx *m, const struct trustm_crypto_ops *ops,
                           const uint8_t key[16], const uint8_t nonce_pre[4])
{
    /* CCM of a record (spec 4.5): nonce = nonce_pre || SEQ, AD = SCTR ||
     * SEQ || PVER 01 || length */
    trustm_ccm_start(&m->ccm, ops, key, nonce_pre);
    memcpy(m->ccm.a + 5, m->pre + 1, 4);
    trustm_ccm_mac_start(&m->ccm, m->pre, m->apdu_len);
    m->ext = tx_ext;
    m->total += 8;
}

void trustm_msg_tx_protect(struct trustm_msg_tx *m, const struct trustm_crypto_ops *ops,
                           const uint8_t key[16], const uint8_t nonce_pre[4])
{
    tx_protect(m, ops, key, nonce_pre);
}
#endif

/* ---------------- incoming records ---------------- */

tma_status trustm_rec_rx_feed(struct trustm_rec_rx *r, const uint8_t *p, size_t n)
{
    return trustm_rec_feed(r, p, n);
}

tma_status trustm_rec_rx_finish(struct trustm_rec_rx *r, struct trustm_rsp *out_rsp)
{
    return trustm_rec_finish(r, out_rsp);
}

#if TRUSTM_CFG_SHIELD
/* The end of a protected record (spec 4.5), st: what the decoder found
 * (TMA_OK or MALFORMED); then the tag (a failed AES call: CRYPTO, before
 * anything else; a wrong tag: INTEGRITY). A record that fails leaves
 * nothing in out and r->hdr: what was decrypted is unauthenticated. */
static tma_status rx_tag(struct trustm_rec_rx *r, tma_status st)
{
    uint8_t tag[8];
    tma_status c = trustm_ccm_tag(&r->ccm, tag);
    if (c) {
        st = c;
    } else if (st == TMA_OK && trustm_ct_diff(tag, r->tag, 8)) {
        st = TRUSTM_ST(SHIELD, INTEGRITY);
    }
    if (st) {
        if (r->out_len <= r->cap) {
            trustm_wipe(r->out, r->out_len);
        }
        trustm_wipe(r->hdr, 4);
    } else {
        *r->sseq = be32(r->ss + 1);
    }
    return st;
}

/* The presentation-layer part of decoding (r->ext), byte by byte: v is
 * byte r->pos - 1 of the message; returns RX_TAKEN when it took the byte
 * (RAW copy, SCTR, SEQ, tag), the byte to pass on as an APDU byte
 * (decrypted), or an error. At the end (v < 0): the length check, alert
 * and tag (RAW: the message length as out_len); TMA_OK to finish as a
 * plain answer. */
#define RX_TAKEN 0x100
static int32_t rx_ext(struct trustm_rec_rx *r, int32_t v)
{
    tma_status st;
    uint8_t b = (uint8_t)v;
    uint8_t prot = r->mode == TRUSTM_REC_PROT;
    size_t i = r->pos - 1u;
    if (v < 0) { /* end of message */
        if (r->mode == TRUSTM_REC_RAW) {
            r->out_len = (uint16_t)r->pos; /* (sta 0; never beyond cap) */
            return TMA_OK;
        }
        if (r->alert) {
            return TMA_ERR(TMA_LAYER_SHIELD, TRUSTM_E_ALERT);
        }
        st = r->pos != r->npre + 4u + r->out_len + (prot ? 8u : 0u)
                 ? TRUSTM_ST(SHIELD, MALFORMED)
                 : TMA_OK;
        return prot ? rx_tag(r, st) : st;
    }
    if (r->mode == TRUSTM_REC_RAW) {
        if (i >= r->cap) {
            return TRUSTM_ST(SHIELD, MALFORMED);
        }
        r->out[i] = b;
        return RX_TAKEN;
    }
    if (r->alert) {
        return TRUSTM_ST(SHIELD, MALFORMED); /* an alert is the SCTR alone */
    }
    if (i < r->npre) { /* SCTR, SEQ */
        if (i == 0) {
            if (b == TRUSTM_SCTR_ALERT_FATAL || b == TRUSTM_SCTR_ALERT_INTEGRITY) {
                r->alert = 1;
                return RX_TAKEN;
            }
            if (b != r->ss[0]) {
                return TRUSTM_ST(SHIELD, MALFORMED);
            }
        }
        r->ss[i] = b;
        if (i == 4) {
            /* SEQ in the window (last, last + TRANS_REPEAT], no
             * wrap-around; it completes the nonce */
            uint32_t q = be32(r->ss + 1);
            if (q <= *r->sseq || q - *r->sseq > TRUSTM_TRANS_REPEAT) {
                return TRUSTM_ST(SHIELD, INTEGRITY);
            }
            memcpy(r->ccm.a + 5, r->ss + 1, 4);
        }
        return RX_TAKEN;
    }
    i -= r->npre;
    if (i >= 4u + r->out_len) { /* past the APDU (out_len is set once i >= 4) */
        i -= 4u + r->out_len;
        if (!prot || i >= 8) { /* bytes after the end of the record */
            return prot ? rx_tag(r, TRUSTM_ST(SHIELD, MALFORMED)) : TRUSTM_ST(SHIELD, MALFORMED);
        }
        r->tag[i] = b; /* the tag */
        return RX_TAKEN;
    }
    if (prot) {
        /* every APDU byte decrypted as it comes (OutData drained if too
         * large); the CBC-MAC needs the length first (B0/AD), so it starts
         * once the header is complete, with the header */
        trustm_ccm_run(&r->ccm, &b, 1, i < 4 ? TRUSTM_CCM_X : TRUSTM_CCM_X | TRUSTM_CCM_MAC_OUT);
        /* a failed AES call leaves b garbage: end here as the tag check
         * would (CRYPTO, out wiped), before a check of the header calls
         * the record MALFORMED */
        if (r->ccm.err) {
            return rx_tag(r, TMA_OK);
        }
    }
    if (i == 3) {
        size_t len = (size_t)r->hdr[2] << 8 | b;
        /* an OutLen no APDU can have: refused here, as the plain decoder would */
        if (len > TRUSTM_APDU_MAX - 4u) {
            return TRUSTM_ST(SHIELD, MALFORMED);
        }
        if (prot) {
            r->hdr[3] = b;
            trustm_ccm_mac_start(&r->ccm, r->ss, 4u + len);
            trustm_ccm_run(&r->ccm, r->hdr, 4, TRUSTM_CCM_MAC);
        }
    }
    return b;
}

static void rx_ext_set(struct trustm_rec_rx *r)
{
    r->npre = r->mode == TRUSTM_REC_PRL;
    r->ext = rx_ext;
}

void trustm_rec_rx_ext(struct trustm_rec_rx *r)
{
    rx_ext_set(r);
}

static void rx_keys(struct trustm_rec_rx *r, const struct trustm_crypto_ops *ops,
                        const uint8_t key[16], const uint8_t nonce_pre[4], uint32_t *sseq)
{
    r->mode = TRUSTM_REC_PROT;
    r->npre = 5;
    r->ext = rx_ext;
    /* the nonce's SEQ half comes with the record (rx_ext) */
    trustm_ccm_start(&r->ccm, ops, key, nonce_pre);
    r->sseq = sseq;
}

void trustm_rec_rx_keys(struct trustm_rec_rx *r, const struct trustm_crypto_ops *ops,
                        const uint8_t key[16], const uint8_t nonce_pre[4], uint32_t *sseq)
{
    rx_keys(r, ops, key, nonce_pre, sseq);
}
#endif

/* ---------------- session management ---------------- */

#if TRUSTM_CFG_SHIELD

static const uint8_t label[16] = {'P', 'l', 'a', 't', 'f', 'o', 'r', 'm',
                                  ' ', 'B', 'i', 'n', 'd', 'i', 'n', 'g'};

void trustm_shield_drop(struct trustm *t, uint8_t state)
{
    trustm_wipe(&t->sess, sizeof t->sess);
    t->shield = state;
}

/* trustm_transceive() once a secret is set (arguments checked). */
static tma_status xcv(struct trustm *t, const struct trustm_call *c)
{
    tma_status st;
    unsigned again = 0;
    if (t->shield == TRUSTM_SHIELD_FAILED) {
        return TRUSTM_ST(SHIELD, FAILED);
    }
    for (;;) {
        /* protect is a level and/or REHANDSHAKE (other bits refused
         * earlier); after a fatal alert always */
        if (again ||
            (c->protect &&
             (t->shield != TRUSTM_SHIELD_ACTIVE || (c->protect & TRUSTM_PROTECT_REHANDSHAKE) ||
              t->sess.mseq >= 0xFFFFFFF0u || t->sess.sseq >= 0xFFFFFFF0u))) {
            st = trustm_shield_handshake(t);
            if (st) {
                return st;
            }
        }
        st = trustm_run(t, c);
        /* The chip ended the session (records lost on the bus can take
         * MSEQ past its window of 3): one new handshake, one more try. */
        if (st != TMA_ERR(TMA_LAYER_SHIELD, TRUSTM_E_ALERT) || again) {
            return st;
        }
        again = 1;
    }
}

/* The driver's entry to the shielded layer (ops: stack.h, TRUSTM_SHIELD_*). */
static tma_status shield_fn(struct trustm *t, uint8_t op, void *xp)
{
    struct trustm_xchg *x = (struct trustm_xchg *)xp;
    if (op == TRUSTM_SHIELD_XCV) {
        return xcv(t, (const struct trustm_call *)xp);
    }
    if (op == TRUSTM_SHIELD_RESET) {
        trustm_shield_drop(t, TRUSTM_SHIELD_NONE);
        return TMA_OK;
    }
    if (op & TRUSTM_SHIELD_DONE) {
        /* (SSEQ advanced already if the response passed its tag check) */
        tma_status st = x->st;
        trustm_wipe(x, offsetof(struct trustm_xchg, st)); /* CCM states */
        if (st == TRUSTM_ST(SHIELD, INTEGRITY)) {
            trustm_shield_drop(t, TRUSTM_SHIELD_FAILED);
        } else if (st == TMA_ERR(TMA_LAYER_SHIELD, TRUSTM_E_ALERT)) {
            trustm_shield_drop(t, TRUSTM_SHIELD_NONE);
        }
        return st;
    }
    /* one attempt: a presentation-layer answer needs its decoder, a
     * record our SCTR (and for a protected command a fresh MSEQ) */
    if (x->r.mode != TRUSTM_REC_PLAIN) {
        rx_ext_set(&x->r);
    }
    if (x->r.mode == TRUSTM_REC_PRL) {
        /* the prefix written in place: SCTR */
        uint8_t npre = 1;
        x->m.pre[0] = x->r.ss[0];
        if (op & TRUSTM_PROTECT_CMD) {
            /* || MSEQ: a fresh sequence number for every attempt */
            put32(x->m.pre + 1, ++t->sess.mseq);
            npre = 5;
        }
        x->m.npre = npre;
        x->m.total += npre;
        if (op & TRUSTM_PROTECT_CMD) {
            tx_protect(&x->m, t->ops, t->sess.keys, t->sess.keys + 32);
        }
    }
    if (op & TRUSTM_PROTECT_RSP) {
        rx_keys(&x->r, t->ops, t->sess.keys + 16, t->sess.keys + 36, &t->sess.sseq);
    }
    return TMA_OK;
}

tma_status trustm_shield_set_secret(struct trustm *t, const struct trustm_crypto_ops *ops,
                                    const uint8_t *secret, size_t len)
{
    if (!t || !ops || !ops->aes128_encrypt || !ops->hmac_sha256 || !secret || len == 0 ||
        len > TRUSTM_PBS_MAX) {
        return TRUSTM_ST(SHIELD, BAD_PARAM);
    }
    trustm_wipe(t->secret, sizeof t->secret);
    trustm_copy(t->secret, secret, len);
    t->secret_len = (uint8_t)len;
    t->ops = ops;
    t->shield_fn = shield_fn;
    return TMA_OK;
}

uint8_t trustm_shield_state(const struct trustm *t)
{
    return t ? t->shield : (uint8_t)TRUSTM_SHIELD_NONE;
}

/* Finished: SCTR 08 || SEQ || CCM(key, nonce_pre || SEQ, AD, RND || SEQ):
 * a protected record whose plaintext is RND || SEQ, so the message producer
 * makes it. */
static tma_status finished(const struct trustm *t, const uint8_t *rnd, const uint8_t *seq,
                           const uint8_t *key, const uint8_t *nonce_pre, uint8_t msg[49])
{
    struct trustm_msg_tx m;
    struct tma_span pt[2];
    pt[0].ptr = rnd;
    pt[0].len = 32;
    pt[1].ptr = seq;
    pt[1].len = 4;
    trustm_msg_tx_init(&m, pt, 2, 36);
    /* the prefix written in place */
    m.pre[0] = TRUSTM_SCTR_FINISHED;
    memcpy(m.pre + 1, seq, 4);
    m.npre = 5;
    m.total += 5;
    tx_protect(&m, t->ops, key, nonce_pre);
    /* all 49 bytes: the tag is made, which wipes the CCM state */
    return trustm_msg_tx_read(&m, msg, 49);
}

static tma_status hmac(const struct trustm *t, const uint8_t *d, size_t n, uint8_t out[32])
{
    return t->ops->hmac_sha256(t->ops->ctx, t->secret, t->secret_len, d, n, out);
}

/* Key block = TLS-PRF-SHA256(PBS, "Platform Binding", rnd)[0..40]: 16 master
 * key, 16 slave key, 4 master nonce, 4 slave nonce (spec 4.4). */
static tma_status key_block(const struct trustm *t, const uint8_t rnd[32], uint8_t out[40])
{
    /* buf = A(i) || label || seed, with A(0) = label || seed:
     * A(1) = HMAC(A(0)), P(1) = HMAC(A(1) || A(0)), A(2) = HMAC(A(1)),
     * P(2) = HMAC(A(2) || A(0)), 8 bytes of it used. */
    uint8_t buf[32 + 16 + 32], blk[32];
    tma_status st;
    trustm_copy(buf + 32, label, 16);
    trustm_copy(buf + 48, rnd, 32);
    st = hmac(t, buf + 32, 48, buf);
    st |= hmac(t, buf, 80, out);
    st |= hmac(t, buf, 32, blk);
    trustm_copy(buf, blk, 32);
    st |= hmac(t, buf, 80, blk);
    memcpy(out + 32, blk, 8);
    trustm_wipe(blk, sizeof blk);
    trustm_wipe(buf, sizeof buf);
    return st ? TRUSTM_ST(SHIELD, CRYPTO) : TMA_OK;
}

tma_status trustm_shield_handshake(struct trustm *t)
{
    static const uint8_t hello[2] = {TRUSTM_SCTR_HELLO, 0x01};
    const tma_status bad = TMA_ERR(TMA_LAYER_SHIELD, TRUSTM_E_HANDSHAKE);
    /* hi: the chip's Hello (RND at 2, SSEQ at 34), fin: its Finished, msg:
     * ours, then the one we expect. All of them travel on the bus in clear;
     * the only secrets are the keys (t->sess) and the PRF state (wiped in
     * key_block). */
    uint8_t hi[49], fin[49], msg[49];
    uint8_t *k;
    tma_status st;

    if (!t) {
        return TRUSTM_ST(SHIELD, BAD_PARAM);
    }
    if (t->shield == TRUSTM_SHIELD_FAILED) {
        return TRUSTM_ST(SHIELD, FAILED);
    }
    if (!t->secret_len) { /* (set together with t->ops) */
        return TMA_ERR(TMA_LAYER_SHIELD, TRUSTM_E_NO_SECRET);
    }
    if (t->link != TRUSTM_LINK_OPEN) {
        return TRUSTM_ST(LINK, STATE);
    }
    trustm_shield_drop(t, TRUSTM_SHIELD_NONE);
    k = t->sess.keys;
    t->prl = 1; /* mandatory from now on until reset */
    st = trustm_prl_msg(t, hello, 2, hi, TRUSTM_PRL_WANT(TRUSTM_SCTR_HELLO, 38));
    if (st == TMA_OK) {
        st = hi[1] != 0x01 ? bad : key_block(t, hi + 2, k);
    }
    if (st == TMA_OK) {
        st = finished(t, hi + 2, hi + 34, k, k + 32, msg);
    }
    if (st == TMA_OK) {
        st = trustm_prl_msg(t, msg, 49, fin, TRUSTM_PRL_WANT(TRUSTM_SCTR_FINISHED, 49));
    }
    /* The chip's Finished must be exactly what its key would produce. */
    if (st == TMA_OK && (finished(t, hi + 2, fin + 1, k + 16, k + 36, msg) ||
                         trustm_ct_diff(msg, fin, 49))) {
        st = bad;
    }
    if (st) {
        trustm_shield_drop(t, TRUSTM_SHIELD_NONE);
        return st;
    }
    t->sess.sseq = be32(hi + 34);
    t->sess.mseq = be32(fin + 1);
    t->shield = TRUSTM_SHIELD_ACTIVE;
    return TMA_OK;
}

tma_status trustm_shield_save(struct trustm *t, struct trustm_shield_saved *out_saved)
{
    static const uint8_t save[1] = {TRUSTM_SCTR_SAVE};
    uint8_t in[49];
    tma_status st;
    if (!t || !out_saved) {
        return TRUSTM_ST(SHIELD, BAD_PARAM);
    }
    if (t->shield != TRUSTM_SHIELD_ACTIVE) {
        return TRUSTM_ST(SHIELD, STATE);
    }
    st = trustm_prl_msg(t, save, 1, in, TRUSTM_PRL_WANT(TRUSTM_SCTR_SAVED, 1));
    if (st == TMA_OK) {
        trustm_copy(out_saved, &t->sess, sizeof t->sess);
        trustm_shield_drop(t, TRUSTM_SHIELD_NONE);
    }
    return st;
}

tma_status trustm_shield_restore(struct trustm *t, const struct trustm_shield_saved *saved)
{
    uint8_t msg[5], in[49];
    tma_status st;
    if (!t || !saved) {
        return TRUSTM_ST(SHIELD, BAD_PARAM);
    }
    if (!t->ops) {
        return TMA_ERR(TMA_LAYER_SHIELD, TRUSTM_E_NO_SECRET);
    }
    if (t->shield == TRUSTM_SHIELD_FAILED) {
        return TRUSTM_ST(SHIELD, FAILED);
    }
    msg[0] = TRUSTM_SCTR_RESTORE;
    put32(msg + 1, saved->sseq);
    t->prl = 1;
    st = trustm_prl_msg(t, msg, 5, in, TRUSTM_PRL_WANT(TRUSTM_SCTR_RESTORED, 5));
    /* The chip's MSEQ must be ours: a smaller one would reuse nonces. */
    if (st == TMA_OK && be32(in + 1) != saved->mseq) {
        st = TRUSTM_ST(SHIELD, MALFORMED);
    }
    if (st == TMA_OK) {
        trustm_copy(&t->sess, saved, sizeof t->sess);
        t->shield = TRUSTM_SHIELD_ACTIVE;
    }
    return st;
}

#else /* !TRUSTM_CFG_SHIELD */

tma_status trustm_shield_set_secret(struct trustm *t, const struct trustm_crypto_ops *ops,
                                    const uint8_t *secret, size_t len)
{
    (void)t;
    (void)ops;
    (void)secret;
    (void)len;
    return TRUSTM_ST(SHIELD, UNSUPPORTED);
}

tma_status trustm_shield_handshake(struct trustm *t)
{
    (void)t;
    return TRUSTM_ST(SHIELD, UNSUPPORTED);
}

uint8_t trustm_shield_state(const struct trustm *t)
{
    (void)t;
    return TRUSTM_SHIELD_NONE;
}

tma_status trustm_shield_save(struct trustm *t, struct trustm_shield_saved *out_saved)
{
    (void)t;
    (void)out_saved;
    return TRUSTM_ST(SHIELD, UNSUPPORTED);
}

tma_status trustm_shield_restore(struct trustm *t, const struct trustm_shield_saved *saved)
{
    (void)t;
    (void)saved;
    return TRUSTM_ST(SHIELD, UNSUPPORTED);
}

#endif
