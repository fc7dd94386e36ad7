/* AES-128-CCM with an 8-byte tag and an 8-byte nonce (L = 7), streaming,
 * built on the platform's crypto ops (spec 4.5). Only compiled in with
 * TRUSTM_CFG_SHIELD (wipe and constant-time compare always). */
#include <string.h>

#include "stack.h"

void trustm_wipe(void *p, size_t n)
{
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (n--) {
        *v++ = 0;
    }
}

int trustm_ct_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;
    while (n--) {
        d = (uint8_t)(d | (*a++ ^ *b++));
    }
    return d != 0;
}

#if TRUSTM_CFG_SHIELD

static void enc(struct trustm_ccm *c, const uint8_t in[16], uint8_t out[16])
{
    if (c->ops->aes128_encrypt(c->ops->ctx, c->key, in, out) != TMA_OK) {
        c->err = 1;
    }
}

/* Counter block A_i: flags (L - 1 = 6), nonce, 7-byte counter. */
static void ctr_block(const struct trustm_ccm *c, uint32_t i, uint8_t a[16])
{
    trustm_wipe(a, 16);
    a[0] = 6;
    memcpy(a + 1, c->nonce, 8);
    a[12] = (uint8_t)(i >> 24);
    a[13] = (uint8_t)(i >> 16);
    a[14] = (uint8_t)(i >> 8);
    a[15] = (uint8_t)i;
}

void trustm_ccm_start(struct trustm_ccm *c, const struct trustm_crypto_ops *ops,
                      const uint8_t key[16], const uint8_t nonce[8])
{
    trustm_wipe(c, sizeof *c);
    c->ops = ops;
    c->key = key;
    memcpy(c->nonce, nonce, 8);
    c->kpos = 16; /* next key stream byte needs block 1 */
}

void trustm_ccm_mac_start(struct trustm_ccm *c, const uint8_t ad[8], size_t plen)
{
    uint8_t b[16];
    /* B0: Adata, M' = (8 - 2) / 2 = 3, L' = 6; nonce; 7-byte length. */
    ctr_block(c, (uint32_t)plen, b);
    b[0] = 0x5E;
    enc(c, b, c->x);
    /* B1: 2-byte AD length 8, the AD, zero padding. */
    c->x[1] ^= 8;
    c->xpos = 2;
    trustm_ccm_mac(c, ad, 8);
    enc(c, c->x, c->x);
    c->xpos = 0;
}

void trustm_ccm_mac(struct trustm_ccm *c, const uint8_t *p, size_t n)
{
    while (n--) {
        c->x[c->xpos++] ^= *p++;
        if (c->xpos == 16) {
            enc(c, c->x, c->x);
            c->xpos = 0;
        }
    }
}

void trustm_ccm_ctr(struct trustm_ccm *c, const uint8_t *in, uint8_t *out, size_t n)
{
    while (n--) {
        if (c->kpos == 16) {
            uint8_t a[16];
            ctr_block(c, ++c->ctr, a);
            enc(c, a, c->ks);
            c->kpos = 0;
        }
        *out++ = (uint8_t)(*in++ ^ c->ks[c->kpos++]);
    }
}

tma_status trustm_ccm_tag(struct trustm_ccm *c, uint8_t tag[8])
{
    tma_status st;
    if (c->xpos) {
        enc(c, c->x, c->x); /* zero padding of the last block */
    }
    /* tag = MAC ^ S0: key stream of counter block 0 */
    c->ctr = 0xFFFFFFFFu;
    c->kpos = 16;
    trustm_ccm_ctr(c, c->x, tag, 8);
    st = c->err ? TRUSTM_ST(SHIELD, CRYPTO) : TMA_OK;
    trustm_wipe(c, sizeof *c); /* the context is spent */
    return st;
}

tma_status trustm_ccm_seal(const struct trustm_crypto_ops *ops, const uint8_t key[16],
                           const uint8_t nonce[8], const uint8_t ad[8], const uint8_t *in,
                           size_t n, uint8_t *out)
{
    struct trustm_ccm c;
    trustm_ccm_start(&c, ops, key, nonce);
    trustm_ccm_mac_start(&c, ad, n);
    trustm_ccm_mac(&c, in, n);
    trustm_ccm_ctr(&c, in, out, n);
    return trustm_ccm_tag(&c, out + n);
}

tma_status trustm_ccm_open(const struct trustm_crypto_ops *ops, const uint8_t key[16],
                           const uint8_t nonce[8], const uint8_t ad[8], const uint8_t *in,
                           size_t n, uint8_t *out)
{
    struct trustm_ccm c;
    uint8_t tag[8];
    tma_status st;
    trustm_ccm_start(&c, ops, key, nonce);
    trustm_ccm_mac_start(&c, ad, n);
    trustm_ccm_ctr(&c, in, out, n);
    trustm_ccm_mac(&c, out, n);
    st = trustm_ccm_tag(&c, tag);
    if (st == TMA_OK && trustm_ct_diff(tag, in + n, 8)) {
        st = TRUSTM_ST(SHIELD, INTEGRITY);
    }
    if (st != TMA_OK) {
        trustm_wipe(out, n);
    }
    return st;
}

#endif /* TRUSTM_CFG_SHIELD */
