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

void trustm_copy(void *dst, const void *src, size_t n)
{
    /* volatile: the compiler would turn a plain loop back into memcpy */
    volatile uint8_t *d = (volatile uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    while (n--) {
        *d++ = *s++;
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

/* The counter blocks A_i = flags (L - 1 = 6) || nonce || 7-byte i live in
 * c->a, i in its last byte: a record is at most 4 + 1,553 bytes (98
 * blocks), so i never passes 255. */
typedef char trustm_ccm_blocks_fit[(TRUSTM_APDU_MAX + 15u) / 16u < 255u ? 1 : -1];

void trustm_ccm_start(struct trustm_ccm *c, const struct trustm_crypto_ops *ops,
                      const uint8_t key[16], const uint8_t nonce_pre[4])
{
    trustm_wipe(c, sizeof *c);
    c->ops = ops;
    c->key = key;
    c->a[0] = 6;
    memcpy(c->a + 1, nonce_pre, 4);
    c->kpos = 16; /* next key stream byte needs block 1 */
}

void trustm_ccm_mac_start(struct trustm_ccm *c, const uint8_t pre[5], size_t plen)
{
    uint8_t b[16];
    /* B0: Adata, M' = (8 - 2) / 2 = 3, L' = 6; nonce; 7-byte length. */
    trustm_copy(b, c->a, 16);
    b[0] = 0x5E;
    b[14] = (uint8_t)(plen >> 8);
    b[15] = (uint8_t)plen;
    enc(c, b, c->x);
    /* B1: 2-byte AD length 8, the AD, zero padding. The AD is SCTR || SEQ
     * || PVER 01 || the length, which B0 ends with: built in b + 8. */
    memcpy(b + 8, pre, 5);
    b[13] = 1;
    c->x[1] ^= 8;
    c->xpos = 2;
    trustm_ccm_run(c, b + 8, 8, TRUSTM_CCM_MAC);
    enc(c, c->x, c->x);
    c->xpos = 0;
}

void trustm_ccm_run(struct trustm_ccm *c, uint8_t *p, size_t n, unsigned how)
{
    /* one loop for both halves of CCM, in place: per byte the key stream
     * XOR, then the CBC-MAC of the plaintext (the byte before the XOR when
     * encrypting, after it when decrypting) */
    while (n--) {
        uint8_t b = *p;
        if (how & TRUSTM_CCM_X) {
            if (c->kpos == 16) {
                c->a[15]++;
                enc(c, c->a, c->ks);
                c->kpos = 0;
            }
            *p = (uint8_t)(b ^ c->ks[c->kpos++]);
        }
        if (how & (TRUSTM_CCM_MAC | TRUSTM_CCM_MAC_OUT)) {
            unsigned k = c->xpos;
            c->x[k] = (uint8_t)(c->x[k] ^ ((how & TRUSTM_CCM_MAC_OUT) ? *p : b));
            if (++k == 16) {
                enc(c, c->x, c->x);
                k = 0;
            }
            c->xpos = (uint8_t)k;
        }
        p++;
    }
}

tma_status trustm_ccm_tag(struct trustm_ccm *c, uint8_t tag[8])
{
    tma_status st;
    if (c->xpos) {
        enc(c, c->x, c->x); /* zero padding of the last block */
    }
    /* tag = MAC ^ S0: key stream of counter block 0 (255 + 1) */
    c->a[15] = 0xFF;
    c->kpos = 16;
    memcpy(tag, c->x, 8);
    trustm_ccm_run(c, tag, 8, TRUSTM_CCM_X);
    st = c->err ? TRUSTM_ST(SHIELD, CRYPTO) : TMA_OK;
    trustm_wipe(c, sizeof *c); /* the context is spent */
    return st;
}

tma_status trustm_ccm_seal(const struct trustm_crypto_ops *ops, const uint8_t key[16],
                           const uint8_t nonce[8], const uint8_t pre[5], const uint8_t *in,
                           size_t n, uint8_t *out)
{
    struct trustm_ccm c;
    trustm_copy(out, in, n);
    trustm_ccm_start(&c, ops, key, nonce);
    memcpy(c.a + 5, nonce + 4, 4);
    trustm_ccm_mac_start(&c, pre, n);
    trustm_ccm_run(&c, out, n, TRUSTM_CCM_X | TRUSTM_CCM_MAC);
    return trustm_ccm_tag(&c, out + n);
}

tma_status trustm_ccm_open(const struct trustm_crypto_ops *ops, const uint8_t key[16],
                           const uint8_t nonce[8], const uint8_t pre[5], const uint8_t *in,
                           size_t n, uint8_t *out)
{
    struct trustm_ccm c;
    uint8_t tag[8];
    tma_status st;
    trustm_copy(out, in, n);
    trustm_ccm_start(&c, ops, key, nonce);
    memcpy(c.a + 5, nonce + 4, 4);
    trustm_ccm_mac_start(&c, pre, n);
    trustm_ccm_run(&c, out, n, TRUSTM_CCM_X | TRUSTM_CCM_MAC_OUT);
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
