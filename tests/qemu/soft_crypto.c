/* Software AES-128 / SHA-256 / HMAC-SHA256 for the QEMU firmware (see soft_crypto.h). */
#include "soft_crypto.h"

#include <string.h>

/* ---- AES-128 (FIPS-197), encryption of one block ---- */

static uint8_t sbox[256];
static int sbox_ready;

static uint8_t xtime(uint8_t x)
{
    return (uint8_t)((x << 1) ^ ((x & 0x80u) ? 0x1Bu : 0u));
}

static uint8_t rotl8(uint8_t x, unsigned s)
{
    return (uint8_t)((x << s) | (x >> (8u - s)));
}

/* The S-box from its definition: multiplicative inverse in GF(2^8), then the
 * affine map. p walks the powers of 3 (a generator), q the powers of 3^-1, so
 * q is p's inverse at every step. */
static void sbox_init(void)
{
    uint8_t p = 1, q = 1;
    do {
        p = (uint8_t)(p ^ xtime(p));           /* p *= 3 */
        q = (uint8_t)(q ^ (q << 1));           /* q /= 3 ... */
        q = (uint8_t)(q ^ (q << 2));
        q = (uint8_t)(q ^ (q << 4));
        if (q & 0x80u) {
            q ^= 0x09u;
        }
        sbox[p] = (uint8_t)(q ^ rotl8(q, 1) ^ rotl8(q, 2) ^ rotl8(q, 3) ^ rotl8(q, 4) ^ 0x63u);
    } while (p != 1);
    sbox[0] = 0x63;
    sbox_ready = 1;
}

void soft_aes128_encrypt(const uint8_t key[16], const uint8_t in[16], uint8_t out[16])
{
    uint8_t rk[16], s[16], t[16];
    uint8_t rcon = 1;
    unsigned r, i, c;

    if (!sbox_ready) {
        sbox_init();
    }
    memcpy(rk, key, 16);
    for (i = 0; i < 16; i++) {
        s[i] = (uint8_t)(in[i] ^ rk[i]);
    }
    for (r = 1; r <= 10; r++) {
        /* next round key */
        rk[0] ^= (uint8_t)(sbox[rk[13]] ^ rcon);
        rk[1] ^= sbox[rk[14]];
        rk[2] ^= sbox[rk[15]];
        rk[3] ^= sbox[rk[12]];
        for (i = 4; i < 16; i++) {
            rk[i] ^= rk[i - 4];
        }
        rcon = xtime(rcon);
        /* SubBytes + ShiftRows (column-major state: byte 4*c + row) */
        for (c = 0; c < 4; c++) {
            for (i = 0; i < 4; i++) {
                t[4 * c + i] = sbox[s[4 * ((c + i) & 3u) + i]];
            }
        }
        /* MixColumns except in the last round */
        if (r != 10) {
            for (c = 0; c < 4; c++) {
                uint8_t *col = &t[4 * c];
                uint8_t a0 = col[0], a1 = col[1], a2 = col[2], a3 = col[3];
                uint8_t all = (uint8_t)(a0 ^ a1 ^ a2 ^ a3);
                col[0] = (uint8_t)(a0 ^ all ^ xtime((uint8_t)(a0 ^ a1)));
                col[1] = (uint8_t)(a1 ^ all ^ xtime((uint8_t)(a1 ^ a2)));
                col[2] = (uint8_t)(a2 ^ all ^ xtime((uint8_t)(a2 ^ a3)));
                col[3] = (uint8_t)(a3 ^ all ^ xtime((uint8_t)(a3 ^ a0)));
            }
        }
        for (i = 0; i < 16; i++) {
            s[i] = (uint8_t)(t[i] ^ rk[i]);
        }
    }
    memcpy(out, s, 16);
    memset(rk, 0, sizeof rk);
    memset(s, 0, sizeof s);
    memset(t, 0, sizeof t);
}

/* ---- SHA-256 (FIPS 180-4) ---- */

static const uint32_t K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
    0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
    0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
    0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
    0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
    0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
    0xc67178f2u};

struct sha256 {
    uint32_t h[8];
    uint8_t blk[64];
    size_t fill;
    uint64_t total;
};

static uint32_t ror(uint32_t x, unsigned s)
{
    return (x >> s) | (x << (32u - s));
}

static void sha_block(struct sha256 *c)
{
    uint32_t w[64], v[8];
    unsigned i;
    for (i = 0; i < 16; i++) {
        w[i] = (uint32_t)c->blk[4 * i] << 24 | (uint32_t)c->blk[4 * i + 1] << 16 |
               (uint32_t)c->blk[4 * i + 2] << 8 | c->blk[4 * i + 3];
    }
    for (i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(v, c->h, sizeof v);
    for (i = 0; i < 64; i++) {
        uint32_t t1 = v[7] + (ror(v[4], 6) ^ ror(v[4], 11) ^ ror(v[4], 25)) +
                      ((v[4] & v[5]) ^ (~v[4] & v[6])) + K[i] + w[i];
        uint32_t t2 = (ror(v[0], 2) ^ ror(v[0], 13) ^ ror(v[0], 22)) +
                      ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
        memmove(&v[1], &v[0], 7 * sizeof v[0]);
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (i = 0; i < 8; i++) {
        c->h[i] += v[i];
    }
}

static void sha_init(struct sha256 *c)
{
    static const uint32_t iv[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                   0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    memcpy(c->h, iv, sizeof iv);
    c->fill = 0;
    c->total = 0;
}

static void sha_update(struct sha256 *c, const uint8_t *d, size_t n)
{
    c->total += n;
    while (n--) {
        c->blk[c->fill++] = *d++;
        if (c->fill == 64) {
            sha_block(c);
            c->fill = 0;
        }
    }
}

static void sha_final(struct sha256 *c, uint8_t out[32])
{
    uint64_t bits = c->total * 8u;
    uint8_t pad = 0x80;
    unsigned i;
    sha_update(c, &pad, 1);
    pad = 0;
    while (c->fill != 56) {
        sha_update(c, &pad, 1);
    }
    for (i = 0; i < 8; i++) {
        c->blk[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    }
    sha_block(c);
    for (i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
    memset(c, 0, sizeof *c);
}

void soft_sha256(const uint8_t *d, size_t n, uint8_t out[32])
{
    struct sha256 c;
    sha_init(&c);
    sha_update(&c, d, n);
    sha_final(&c, out);
}

void soft_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *d, size_t n,
                      uint8_t out[32])
{
    struct sha256 c;
    uint8_t k[64], inner[32];
    unsigned i;
    memset(k, 0, sizeof k);
    if (key_len > 64) {
        soft_sha256(key, key_len, k);
    } else {
        memcpy(k, key, key_len);
    }
    for (i = 0; i < 64; i++) {
        k[i] ^= 0x36u;
    }
    sha_init(&c);
    sha_update(&c, k, 64);
    sha_update(&c, d, n);
    sha_final(&c, inner);
    for (i = 0; i < 64; i++) {
        k[i] ^= 0x36u ^ 0x5Cu;
    }
    sha_init(&c);
    sha_update(&c, k, 64);
    sha_update(&c, inner, 32);
    sha_final(&c, out);
    memset(k, 0, sizeof k);
    memset(inner, 0, sizeof inner);
}

static tma_status op_aes(void *ctx, const uint8_t key[16], const uint8_t in[16], uint8_t out[16])
{
    (void)ctx;
    soft_aes128_encrypt(key, in, out);
    return TMA_OK;
}

static tma_status op_hmac(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *data,
                          size_t len, uint8_t out[32])
{
    (void)ctx;
    soft_hmac_sha256(key, key_len, data, len, out);
    return TMA_OK;
}

const struct trustm_crypto_ops *soft_crypto_ops(void)
{
    static const struct trustm_crypto_ops ops = {0, op_aes, op_hmac};
    return &ops;
}
