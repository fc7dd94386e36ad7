/*
 * The shielded connection when the platform's crypto provider fails (an MCU
 * AES engine or HMAC driver returning an error): scripts/coverage showed the
 * library's handling of a failing aes128_encrypt (src/trustm/ccm.c, the
 * record tag in src/trustm/shield.c) never ran. The ops table here wraps
 * trustm_crypto_mbedtls() and fails the n-th call on request. Against the
 * in-process simulator:
 *  - AES fails while a protected command is being sent -> that command ends
 *    with TMA_ERR(SHIELD, CRYPTO) (crypto_ops.h: "the library reports
 *    TMA_ERR(TMA_LAYER_SHIELD, TMA_C_CRYPTO)") and no random bytes come back;
 *  - AES fails at any later call of the command (the response): the command
 *    fails with TMA_ERR(SHIELD, CRYPTO) too and returns nothing. (A failure
 *    while the response header was decrypted used to show as SHIELD
 *    MALFORMED: the header decrypted to garbage and its length check fired
 *    before the tag check reported the provider's failure.);
 *  - HMAC fails during the handshake -> the handshake fails, no session;
 *  - with the provider healthy again, the next protected command works
 *    (a new handshake), so one failure does not brick the context;
 *  - unlike an integrity failure (the chip's MAC corrupted once): then the
 *    session is FAILED, and trustm_shield_restore() is refused too until a
 *    reset (that refusal never ran either);
 *  - a protected answer whose encrypted OutLen was changed on the bus (CTR
 *    is malleable; the frame's CRC recomputed, as an attacker would) is
 *    MALFORMED, shorter or longer, and leaves nothing in the caller's
 *    buffer: unauthenticated bytes must not come back with the error;
 *  - a chip Hello longer than any handshake message (the frame grown on
 *    the bus, I2C_STATE, LEN and CRC consistent) is MALFORMED, with no
 *    session from it (that refusal, src/trustm/shield.c RAW mode, never
 *    ran: coverage run).
 */
#include <stdio.h>
#include <string.h>

#include "trustm/cmd.h"
#include "trustm/crypto_ops.h"
#include "trustm/transceive.h"
#include "trustm/trustm.h"
#include "trustm_sim/sim.h"

#include "tma_check.h"

static int failures;


struct flaky {
    const struct trustm_crypto_ops *real;
    long aes_calls, hmac_calls;
    long aes_fail_at, hmac_fail_at; /* call number that fails; -1 = none */
};

static tma_status flaky_aes(void *ctx, const uint8_t key[16], const uint8_t in[16],
                            uint8_t out[16])
{
    struct flaky *f = ctx;
    if (f->aes_calls++ == f->aes_fail_at) {
        return TMA_ERR(TMA_LAYER_GENERIC, TMA_C_IO);
    }
    return f->real->aes128_encrypt(f->real->ctx, key, in, out);
}

static tma_status flaky_hmac(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *data,
                             size_t len, uint8_t out[32])
{
    struct flaky *f = ctx;
    if (f->hmac_calls++ == f->hmac_fail_at) {
        return TMA_ERR(TMA_LAYER_GENERIC, TMA_C_IO);
    }
    return f->real->hmac_sha256(f->real->ctx, key, key_len, data, len, out);
}

/* Someone on the bus: once armed, XORs mask into the OutLen low byte of the
 * next protected answer (a data frame carrying a record of plen bytes) and
 * fixes the frame's CRC-16/KERMIT (spec 2.3). */
struct mitm {
    struct trustm_port real;
    unsigned plen;
    uint8_t mask;
    int hits;
    /* or, once armed, the next data frame of frame bytes arrives grow bytes
     * longer (I2C_STATE announces it, LEN and CRC agree) */
    unsigned frame, grow;
    int growing;
    uint8_t reg; /* the register address last written */
};

static uint16_t crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0;
    while (n--) {
        crc = (uint16_t)(crc ^ *p++);
        for (int k = 0; k < 8; k++) {
            crc = (uint16_t)((crc & 1u) ? (crc >> 1) ^ 0x8408u : crc >> 1);
        }
    }
    return crc;
}

static tma_status mitm_transfer(void *ctx, struct trustm_i2c_msg *m, size_t n)
{
    struct mitm *x = ctx;
    tma_status st;
    if (n == 1 && (m->flags & TRUSTM_I2C_READ) && x->growing && x->reg == 0x80 &&
        m->len == x->frame + x->grow) {
        /* the frame as sent, then grow more bytes in it */
        uint8_t *f = m->buf;
        struct trustm_i2c_msg r = *m;
        unsigned plen;
        uint16_t crc;
        r.len = (uint16_t)x->frame;
        st = x->real.transfer(x->real.ctx, &r, 1);
        plen = ((unsigned)f[1] << 8 | f[2]) + x->grow;
        if (st != TMA_OK || plen + 5u != m->len) {
            return st != TMA_OK ? st : TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
        }
        memset(f + x->frame - 2u, 0x5A, x->grow);
        f[1] = (uint8_t)(plen >> 8);
        f[2] = (uint8_t)plen;
        crc = crc16(f, plen + 3u);
        f[plen + 3u] = (uint8_t)(crc >> 8);
        f[plen + 4u] = (uint8_t)crc;
        x->growing = 0;
        x->grow = 0;
        x->hits++;
        return TMA_OK;
    }
    st = x->real.transfer(x->real.ctx, m, n);
    if (n == 1 && !(m->flags & TRUSTM_I2C_READ) && m->len == 1) {
        x->reg = m->buf[0];
    }
    if (st == TMA_OK && n == 1 && (m->flags & TRUSTM_I2C_READ) && x->reg == 0x82 && x->grow &&
        m->len == 4 && (m->buf[0] & 0x40u) && ((unsigned)m->buf[2] << 8 | m->buf[3]) == x->frame) {
        unsigned len = x->frame + x->grow; /* I2C_STATE: a frame of len bytes is ready */
        m->buf[2] = (uint8_t)(len >> 8);
        m->buf[3] = (uint8_t)len;
        x->growing = 1;
    }
    for (size_t i = 0; st == TMA_OK && i < n && x->mask != 0; i++) {
        /* FCTR LEN LEN | PCTR (presentation bit) SCTR SEQ(4) Sta UnDef Len Len .. | CRC */
        uint8_t *f = m[i].buf;
        if ((m[i].flags & TRUSTM_I2C_READ) && m[i].len >= x->plen + 5u &&
            ((unsigned)f[1] << 8 | f[2]) == x->plen && (f[3] & 0x08u) != 0) {
            uint16_t crc;
            f[12] ^= x->mask;
            crc = crc16(f, x->plen + 3u);
            f[x->plen + 3u] = (uint8_t)(crc >> 8);
            f[x->plen + 4u] = (uint8_t)crc;
            x->mask = 0;
            x->hits++;
        }
    }
    return st;
}

static void mitm_delay(void *ctx, uint32_t us)
{
    struct mitm *x = ctx;
    x->real.delay_us(x->real.ctx, us);
}

static uint32_t mitm_now(void *ctx)
{
    struct mitm *x = ctx;
    return x->real.now_ms(x->real.ctx);
}

static tma_status mitm_reset(void *ctx, enum trustm_reset_kind kind)
{
    struct mitm *x = ctx;
    return x->real.reset(x->real.ctx, kind);
}

static int all_zero(const uint8_t *p, size_t n)
{
    while (n--) {
        if (*p++) {
            return 0;
        }
    }
    return 1;
}

int main(void)
{
    const tma_status crypto = TMA_ERR(TMA_LAYER_SHIELD, TMA_C_CRYPTO);
    struct trustm_sim_config cfg;
    struct trustm_sim *sim = NULL;
    struct trustm_port port;
    static struct mitm mitm;
    static struct trustm t;
    struct flaky f;
    struct trustm_crypto_ops ops;
    uint8_t pbs[64];
    uint8_t rnd[32];
    long tried = 0;

    trustm_sim_config_default(&cfg);
    cfg.seed = 23;
    if (trustm_sim_create(&cfg, &sim) != TMA_OK) {
        fprintf(stderr, "cannot create the simulator\n");
        return 1;
    }
    trustm_sim_port(sim, &mitm.real);
    port = mitm.real;
    port.ctx = &mitm;
    port.transfer = mitm_transfer;
    port.delay_us = mitm_delay;
    port.now_ms = mitm_now;
    port.reset = mitm.real.reset != NULL ? mitm_reset : NULL;
    port.lock = NULL;
    port.unlock = NULL;
    EXPECT_ST(trustm_init(&t, &port, NULL), TMA_OK);
    EXPECT_ST(trustm_open(&t), TMA_OK);
    EXPECT_ST(trustm_open_app(&t, TRUSTM_PROTECT_NONE, NULL), TMA_OK);
    EXPECT_ST(trustm_get_random(&t, TRUSTM_PROTECT_NONE, TRUSTM_RNG_TRNG, pbs, sizeof(pbs)),
              TMA_OK);
    EXPECT_ST(trustm_write_data(&t, TRUSTM_PROTECT_NONE, 0xE140, TRUSTM_WRITE_ERASE, 0, pbs,
                                sizeof(pbs)),
              TMA_OK);

    memset(&f, 0, sizeof(f));
    f.real = trustm_crypto_mbedtls();
    f.aes_fail_at = -1;
    f.hmac_fail_at = -1;
    ops.ctx = &f;
    ops.aes128_encrypt = flaky_aes;
    ops.hmac_sha256 = flaky_hmac;
    EXPECT_ST(trustm_shield_set_secret(&t, &ops, pbs, sizeof(pbs)), TMA_OK);

    /* control: the wrapper itself works and AES is used by a protected command */
    EXPECT_ST(trustm_get_random(&t, TRUSTM_PROTECT_BOTH, TRUSTM_RNG_TRNG, rnd, sizeof(rnd)),
              TMA_OK);
    EXPECT(trustm_shield_state(&t) == TRUSTM_SHIELD_ACTIVE, "no session after the control");
    EXPECT(f.aes_calls > 0 && f.hmac_calls > 0, "AES %ld, HMAC %ld calls", f.aes_calls,
           f.hmac_calls);

    /* AES fails on the first block of the next protected command */
    f.aes_fail_at = f.aes_calls;
    memset(rnd, 0, sizeof(rnd));
    EXPECT_ST(trustm_get_random(&t, TRUSTM_PROTECT_BOTH, TRUSTM_RNG_TRNG, rnd, sizeof(rnd)),
              crypto);
    EXPECT(all_zero(rnd, sizeof(rnd)), "random bytes returned by a failed command");

    /* ... and late, while the response is being checked: every call from
     * the first to the 40th of a command fails once in turn */
    for (long k = 0; k < 40; k++) {
        long first;
        f.aes_fail_at = -1;
        EXPECT_ST(trustm_get_random(&t, TRUSTM_PROTECT_BOTH, TRUSTM_RNG_TRNG, rnd, sizeof(rnd)),
                  TMA_OK); /* recovered (a new handshake when needed) */
        first = f.aes_calls;
        f.aes_fail_at = first + k;
        memset(rnd, 0, sizeof(rnd));
        tma_status st =
            trustm_get_random(&t, TRUSTM_PROTECT_BOTH, TRUSTM_RNG_TRNG, rnd, sizeof(rnd));
        if (f.aes_calls <= first + k) {
            break; /* the command needed fewer AES calls: all positions tried */
        }
        EXPECT(st == crypto, "AES failing at call %ld of a command: %s (layer %u code 0x%02X)",
               k, tma_status_str(st), (unsigned)TMA_STATUS_LAYER(st),
               (unsigned)TMA_STATUS_CODE(st));
        tried++;
        EXPECT(all_zero(rnd, sizeof(rnd)), "AES failing at call %ld: random bytes returned", k);
    }

    EXPECT(tried >= 8, "only %ld AES failure positions tried", tried);
    printf("AES failing at each of %ld calls of a command: CRYPTO expected each time\n", tried);

    /* HMAC fails during a handshake */
    f.aes_fail_at = -1;
    f.hmac_fail_at = f.hmac_calls;
    EXPECT(trustm_shield_handshake(&t) != TMA_OK, "a handshake without HMAC succeeded");
    EXPECT(trustm_shield_state(&t) != TRUSTM_SHIELD_ACTIVE, "session active after it");
    f.hmac_fail_at = -1;
    EXPECT_ST(trustm_get_random(&t, TRUSTM_PROTECT_BOTH, TRUSTM_RNG_TRNG, rnd, sizeof(rnd)),
              TMA_OK);
    EXPECT(trustm_shield_state(&t) == TRUSTM_SHIELD_ACTIVE, "no session after recovery");

    /* after an integrity failure (the chip's MAC corrupted once) the
     * session is FAILED: a saved session cannot be restored over it either,
     * until a reset */
    {
        static const char corrupt[] = "{\"seed\":5,\"corrupt_mac\":1.0,\"max_faults\":1}";
        struct trustm_shield_saved saved;
        memset(&saved, 0, sizeof(saved));
        EXPECT_ST(trustm_sim_faults_json(sim, corrupt, sizeof(corrupt) - 1), TMA_OK);
        EXPECT_ST(trustm_get_random(&t, TRUSTM_PROTECT_BOTH, TRUSTM_RNG_TRNG, rnd, sizeof(rnd)),
                  TMA_ERR(TMA_LAYER_SHIELD, TMA_C_INTEGRITY));
        EXPECT(trustm_shield_state(&t) == TRUSTM_SHIELD_FAILED, "state %u after INTEGRITY",
               (unsigned)trustm_shield_state(&t));
        EXPECT_ST(trustm_shield_restore(&t, &saved), TMA_ERR(TMA_LAYER_SHIELD, TMA_C_FAILED));
        EXPECT_ST(trustm_sim_faults_json(sim, "{}", 2), TMA_OK);
        EXPECT_ST(trustm_reset(&t, TRUSTM_RESET_SOFT), TMA_OK);
        EXPECT_ST(trustm_open_app(&t, TRUSTM_PROTECT_NONE, NULL), TMA_OK);
        EXPECT_ST(trustm_get_random(&t, TRUSTM_PROTECT_BOTH, TRUSTM_RNG_TRNG, rnd, sizeof(rnd)),
                  TMA_OK);
    }

    /* OutLen 32 of a protected GetRandom answer changed on the bus: to 16
     * (the record then has bytes after its end) and to 34 (it ends early);
     * the 64-byte buffer has room for either */
    {
        static const uint8_t get_random[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
        static const uint8_t masks[] = {0x30, 0x02};
        struct tma_span sp = {get_random, sizeof(get_random)};
        struct trustm_rsp rsp;
        uint8_t out[64];
        for (size_t k = 0; k < sizeof(masks); k++) {
            EXPECT_ST(trustm_transceive(&t, TRUSTM_PROTECT_BOTH, &sp, 1, out, sizeof(out), &rsp),
                      TMA_OK); /* a session, and a control that the APDU is right */
            EXPECT(rsp.sta == 0 && rsp.out_len == 32, "GetRandom answer: Sta %02X, %u bytes",
                   rsp.sta, (unsigned)rsp.out_len);
            mitm.plen = 1 + 1 + 4 + 4 + 32 + 8; /* PCTR SCTR SEQ header data tag */
            mitm.mask = masks[k];
            memset(out, 0, sizeof(out));
            EXPECT_ST(trustm_transceive(&t, TRUSTM_PROTECT_BOTH, &sp, 1, out, sizeof(out), &rsp),
                      TMA_ERR(TMA_LAYER_SHIELD, TMA_C_MALFORMED));
            EXPECT(mitm.hits == (int)k + 1, "OutLen changed %d time(s), want %d", mitm.hits,
                   (int)k + 1);
            EXPECT(all_zero(out, sizeof(out)),
                   "OutLen ^ 0x%02X: unauthenticated bytes left in the buffer", masks[k]);
        }
        EXPECT_ST(trustm_get_random(&t, TRUSTM_PROTECT_BOTH, TRUSTM_RNG_TRNG, rnd, sizeof(rnd)),
                  TMA_OK);
    }

    /* the chip's Hello (38 bytes) arriving 12 bytes longer than the longest
     * handshake message (49): refused as MALFORMED, nothing kept; the next
     * handshake works */
    mitm.hits = 0;
    mitm.frame = 3 + 1 + 38 + 2; /* FCTR LEN LEN | PCTR Hello | CRC */
    mitm.grow = 12;
    EXPECT_ST(trustm_shield_handshake(&t), TMA_ERR(TMA_LAYER_SHIELD, TMA_C_MALFORMED));
    EXPECT(mitm.hits == 1, "Hello lengthened %d time(s)", mitm.hits);
    EXPECT(trustm_shield_state(&t) != TRUSTM_SHIELD_ACTIVE, "a session from a 50-byte Hello");
    EXPECT_ST(trustm_shield_handshake(&t), TMA_OK);
    EXPECT_ST(trustm_get_random(&t, TRUSTM_PROTECT_BOTH, TRUSTM_RNG_TRNG, rnd, sizeof(rnd)),
              TMA_OK);

    EXPECT_ST(trustm_close_app(&t, TRUSTM_PROTECT_NONE, NULL), TMA_OK);
    trustm_deinit(&t);
    trustm_sim_destroy(sim);
    printf("crypto provider failures: %d failure(s)\n", failures);
    return failures == 0 ? 0 : 1;
}
