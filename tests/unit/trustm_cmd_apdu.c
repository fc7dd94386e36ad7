/* Command layer against a scripted stack: every APDU of spec 5.4 byte for
 * byte, chained reads/writes, error-code retrieval, response decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tma_test.h"
#include "trustm/cmd.h"
#include "trustm/der.h"
#include "trustm_cmd_fake.h"

#define T fake_t
#define NONE TRUSTM_PROTECT_NONE
#define AID "D2 76 00 00 04 47 65 6E 41 75 74 68 41 70 70 6C"
#define SHA_ABC "BA 78 16 BF 8F 01 CF EA 41 41 40 DE 5D AE 22 23 B0 03 61 A3 96 17 7A 9C B4 10 FF 61 F2 00 15 AD"
#define ERR_READ "01 00 00 06 F1 C2 00 00 00 01"

static uint8_t X[32], Y[32], R[32], S[32];
static uint8_t P[700]; /* argument bytes of the worst cases below */
static char hx[8192];

/* hex of bytes (static buffer, appended to a prefix) */
static const char *cat(const char *a, const uint8_t *b, size_t n, const char *c)
{
    size_t i;
    size_t k = (size_t)snprintf(hx, sizeof(hx), "%s", a);
    for (i = 0; i < n; i++) {
        k += (size_t)snprintf(hx + k, sizeof(hx) - k, "%02X", b[i]);
    }
    snprintf(hx + k, sizeof(hx) - k, "%s", c);
    return hx;
}

static int setup(void **state)
{
    size_t i;
    (void)state;
    for (i = 0; i < 32; i++) {
        X[i] = (uint8_t)(0x10 + i);
        Y[i] = (uint8_t)(0x80 + i);
        R[i] = (uint8_t)(0x2B + i);
        S[i] = (uint8_t)(0xC0 + i);
    }
    for (i = 0; i < sizeof(P); i++) {
        P[i] = (uint8_t)(i * 7 + 0x31);
    }
    fake_reset();
    return 0;
}

static void open_app_fresh_and_restore(void **state)
{
    uint8_t handle[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t got[8];
    (void)state;
    fake_expect_hex("F0 00 00 10 " AID, "00 00 00 00");
    fake_expect_hex("F1 01 00 00", "00 00 00 08 01 02 03 04 05 06 07 08");
    fake_expect_hex("F0 01 00 18 " AID " 01 02 03 04 05 06 07 08", "00 00 00 00");
    fake_expect_hex("F1 00 00 00", "00 00 00 00");
    assert_int_equal(trustm_open_app(T, NONE, NULL), TMA_OK);
    assert_int_equal(trustm_close_app(T, NONE, got), TMA_OK);
    assert_memory_equal(got, handle, 8);
    assert_int_equal(trustm_open_app(T, NONE, got), TMA_OK);
    assert_int_equal(trustm_close_app(T, NONE, NULL), TMA_OK);
    assert_true(fake_ok());
}

static void close_hibernate_with_wrong_length_is_malformed(void **state)
{
    uint8_t got[8];
    (void)state;
    fake_expect_hex("F1 01 00 00", "00 00 00 04 01 02 03 04");
    assert_int_equal(trustm_close_app(T, NONE, got), TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED));
    assert_true(fake_ok());
}

static void failing_command_reads_last_error_code(void **state)
{
    uint8_t buf[64];
    size_t n = 99;
    (void)state;
    fake_expect_hex("81 00 00 06 E0 F0 00 00 00 40", "FF 00 00 00");
    fake_expect_hex(ERR_READ, "00 00 00 01 07");
    assert_int_equal(trustm_read_data(T, NONE, 0xE0F0, 0, buf, sizeof(buf), &n),
                     TMA_CHIP_ERROR(0x07));
    assert_int_equal(n, 0);
    assert_true(fake_ok());
    assert_string_equal(tma_status_str(TMA_CHIP_ERROR(0x07)),
                        "chip: access conditions not satisfied");
}

static void failing_command_without_code_is_nocode(void **state)
{
    (void)state;
    fake_expect_hex("82 02 00 05 E1 20 00 00 01", "FF 00 00 00");
    fake_expect_hex(ERR_READ, "00 00 00 01 00");
    assert_int_equal(trustm_counter_add(T, NONE, 0xE120, 1),
                     TMA_ERR(TMA_LAYER_CMD, TRUSTM_CMD_E_NOCODE));
    assert_string_equal(tma_status_str(TMA_ERR(TMA_LAYER_CMD, TRUSTM_CMD_E_NOCODE)),
                        "command: chip failed without an error code");
    fake_expect_hex("82 02 00 05 E1 20 00 00 01", "FF 00 00 00");
    fake_expect_hex(ERR_READ, "FF 00 00 00");
    assert_int_equal(trustm_counter_add(T, NONE, 0xE120, 1),
                     TMA_ERR(TMA_LAYER_CMD, TRUSTM_CMD_E_NOCODE));
    /* a stack failure while reading the code is returned as is */
    fake_expect_hex("82 02 00 05 E1 20 00 00 01", "FF 00 00 00");
    fake_expect_fail(ERR_READ, TMA_ERR(TMA_LAYER_LINK, TMA_C_TIMEOUT));
    assert_int_equal(trustm_counter_add(T, NONE, 0xE120, 1),
                     TMA_ERR(TMA_LAYER_LINK, TMA_C_TIMEOUT));
    assert_true(fake_ok());
}

static void stack_errors_pass_through(void **state)
{
    uint8_t rnd[32];
    (void)state;
    fake_expect_fail("8C 00 00 02 00 20", TMA_ERR(TMA_LAYER_SHIELD, TMA_C_FAILED));
    assert_int_equal(trustm_get_random(T, TRUSTM_PROTECT_BOTH, TRUSTM_RNG_TRNG, rnd, 32),
                     TMA_ERR(TMA_LAYER_SHIELD, TMA_C_FAILED));
    assert_int_equal(fake_last_protect, TRUSTM_PROTECT_BOTH);
    assert_true(fake_ok());
}

static void get_random_trng_32(void **state)
{
    uint8_t rnd[32];
    (void)state;
    fake_expect_hex("8C 00 00 02 00 20", cat("00 00 00 20", X, 32, ""));
    assert_int_equal(trustm_get_random(T, NONE, TRUSTM_RNG_TRNG, rnd, 32), TMA_OK);
    assert_memory_equal(rnd, X, 32);
    /* a short answer is not accepted as random */
    fake_expect_hex("8C 01 00 02 00 10", "00 00 00 02 AA BB");
    assert_int_equal(trustm_get_random(T, NONE, TRUSTM_RNG_DRNG, rnd, 16),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED));
    assert_int_equal(trustm_get_random(T, NONE, TRUSTM_RNG_TRNG, rnd, 7),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
    assert_int_equal(trustm_get_random(T, NONE, TRUSTM_RNG_TRNG, rnd, 257),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
    assert_int_equal(trustm_get_random(T, NONE, TRUSTM_RNG_PREMASTER, rnd, 32),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
    assert_true(fake_ok());
}

static void random_into_session(void **state)
{
    static const uint8_t ver[2] = {0x03, 0x03};
    uint8_t rnd[32];
    (void)state;
    /* TLS pre-master: 46 random bytes after the client version */
    fake_expect_hex("8C 04 00 09 00 2E E1 00 41 00 02 03 03", "00 00 00 00");
    assert_int_equal(trustm_random_to_session(T, NONE, TRUSTM_RNG_PREMASTER, 0xE100, ver, 2,
                                              46, NULL),
                     TMA_OK);
    /* authorization code: random returned and kept (V3) */
#if TRUSTM_CFG_V3
    fake_expect_hex("8C 00 00 07 00 20 E1 01 41 00 00", cat("00 00 00 20", X, 32, ""));
    assert_int_equal(
        trustm_random_to_session(T, NONE, TRUSTM_RNG_TRNG, 0xE101, NULL, 0, 32, rnd), TMA_OK);
    assert_memory_equal(rnd, X, 32);
#else
    assert_int_equal(
        trustm_random_to_session(T, NONE, TRUSTM_RNG_TRNG, 0xE101, NULL, 0, 32, rnd),
        TMA_ERR(TMA_LAYER_CMD, TMA_C_UNSUPPORTED));
#endif
    assert_int_equal(trustm_random_to_session(T, NONE, TRUSTM_RNG_PREMASTER, 0xE0F1, NULL, 0,
                                              32, NULL),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
    assert_int_equal(trustm_random_to_session(T, NONE, TRUSTM_RNG_PREMASTER, 0xE100, ver, 2,
                                              65, NULL),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
    assert_true(fake_ok());
}

static void read_uid_and_metadata(void **state)
{
    uint8_t buf[64];
    size_t n;
    (void)state;
    fake_expect_hex("81 00 00 06 E0 C2 00 00 00 1B",
                    "00 00 00 1B CD 16 33 93 01 00 1C 00 05 00 00 0A 09 A4 13 00 0A 00 7D 00 3B "
                    "80 10 10 71 24 40");
    assert_int_equal(trustm_read_data(T, NONE, 0xE0C2, 0, buf, 27, &n), TMA_OK);
    assert_int_equal(n, 27);
    assert_int_equal(buf[25], 0x24);
    fake_expect_hex("81 01 00 02 E0 E0", "00 00 00 19 20 17 C0 01 01 C4 02 06 C0 C5 02 02 03 "
                                         "D0 01 FF D1 01 00 D3 01 00 E8 01 12");
    assert_int_equal(trustm_read_metadata(T, NONE, 0xE0E0, buf, sizeof(buf), &n), TMA_OK);
    assert_int_equal(n, 25);
    assert_int_equal(buf[0], 0x20);
    assert_true(fake_ok());
}

static void response_larger_than_buffer_is_too_small(void **state)
{
    uint8_t buf[4];
    size_t n;
    (void)state;
    fake_expect_hex("81 01 00 02 E0 E0", "00 00 00 05 20 03 C0 01 01");
    assert_int_equal(trustm_read_metadata(T, NONE, 0xE0E0, buf, sizeof(buf), &n),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_TOO_SMALL));
    assert_true(fake_ok());
}

/* 1,728-byte certificate: 1553 + 175 bytes in two GetDataObject APDUs. */
static void chained_read_of_1728_bytes(void **state)
{
    static uint8_t obj[1728], rsp[1600], buf[4096];
    size_t n;
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(obj); i++) {
        obj[i] = (uint8_t)(i * 7 + 3);
    }
    rsp[0] = 0;
    rsp[1] = 0;
    rsp[2] = 0x06;
    rsp[3] = 0x11;
    memcpy(rsp + 4, obj, 1553);
    fake_expect(NULL, 0, rsp, 4 + 1553);
    rsp[2] = 0;
    rsp[3] = 175;
    memcpy(rsp + 4, obj + 1553, 175);
    fake_expect(NULL, 0, rsp, 4 + 175);
    assert_int_equal(trustm_read_data(T, NONE, 0xE0E1, 0, buf, sizeof(buf), &n), TMA_OK);
    assert_int_equal(n, 1728);
    assert_memory_equal(buf, obj, 1728);
    assert_true(fake_ok());

    /* exact commands: first 1553 at 0, then 1553 at 0x0611 */
    fake_reset();
    rsp[2] = 0x06;
    rsp[3] = 0x11;
    memcpy(rsp + 4, obj, 1553);
    {
        uint8_t c1[10] = {0x81, 0, 0, 6, 0xE0, 0xE1, 0, 0, 0x06, 0x11};
        uint8_t c2[10] = {0x81, 0, 0, 6, 0xE0, 0xE1, 0x06, 0x11, 0x06, 0x11};
        fake_expect(c1, 10, rsp, 4 + 1553);
        /* object ends exactly at a chunk boundary: boundary error = end */
        fake_expect(c2, 10, (const uint8_t *)"\xFF\x00\x00\x00", 4);
        fake_expect_hex(ERR_READ, "00 00 00 01 08");
    }
    assert_int_equal(trustm_read_data(T, NONE, 0xE0E1, 0, buf, sizeof(buf), &n), TMA_OK);
    assert_int_equal(n, 1553);
    assert_true(fake_ok());
}

/* 1,728-byte write: 1549 bytes with erase, then 179 with plain write. */
static void chained_write_of_1728_bytes(void **state)
{
    static uint8_t obj[1728], c[1600];
    (void)state;
    for (size_t i = 0; i < sizeof(obj); i++) {
        obj[i] = (uint8_t)(i ^ 0x5A);
    }
    memcpy(c, "\x82\x40\x06\x11\xE0\xE1\x00\x00", 8);
    memcpy(c + 8, obj, 1549);
    fake_expect(c, 8 + 1549, (const uint8_t *)"\0\0\0\0", 4);
    memcpy(c, "\x82\x00\x00\xB7\xE0\xE1\x06\x0D", 8);
    memcpy(c + 8, obj + 1549, 179);
    fake_expect(c, 8 + 179, (const uint8_t *)"\0\0\0\0", 4);
    assert_int_equal(
        trustm_write_data(T, NONE, 0xE0E1, TRUSTM_WRITE_ERASE, 0, obj, sizeof(obj)), TMA_OK);
    assert_true(fake_ok());
    /* the data travels without a copy: header segment + caller data */
    assert_int_equal(fake_last_nseg, 2);
}

static void write_failure_in_second_chunk_stops(void **state)
{
    static uint8_t obj[1600];
    (void)state;
    fake_expect(NULL, 0, (const uint8_t *)"\0\0\0\0", 4);
    fake_expect(NULL, 0, (const uint8_t *)"\xFF\0\0\0", 4);
    fake_expect_hex(ERR_READ, "00 00 00 01 08");
    assert_int_equal(trustm_write_data(T, NONE, 0xF1D0, TRUSTM_WRITE, 0, obj, sizeof(obj)),
                     TMA_CHIP_ERROR(0x08));
    assert_true(fake_ok());
    assert_int_equal(trustm_write_data(T, NONE, 0xF1D0, 0x13, 0, obj, 4),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
    assert_int_equal(trustm_write_data(T, NONE, 0xF1D0, 0, 0xFFF0, obj, 0x20),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
}

static void erase_lock_counter_metadata(void **state)
{
    static const uint8_t md[] = {0x20, 0x06, 0xD0, 0x01, 0xFF, 0xD1, 0x01, 0x00};
    uint32_t v;
    uint32_t th;
    (void)state;
    fake_expect_hex("82 40 00 04 F1 D0 00 00", "00 00 00 00");
    fake_expect_hex("82 01 00 09 E0 E1 00 00 20 03 C0 01 07", "00 00 00 00");
    fake_expect_hex("82 02 00 05 E1 20 00 00 01", "00 00 00 00");
    fake_expect_hex("81 00 00 06 E1 20 00 00 00 08", "00 00 00 08 00 00 00 05 00 00 01 00");
    fake_expect_hex("82 01 00 0C E0 E2 00 00 20 06 D0 01 FF D1 01 00", "00 00 00 00");
    assert_int_equal(trustm_erase_data(T, NONE, 0xF1D0), TMA_OK);
    assert_int_equal(trustm_set_lcso(T, NONE, 0xE0E1, TRUSTM_LCS_OPERATIONAL), TMA_OK);
    assert_int_equal(trustm_counter_add(T, NONE, 0xE120, 1), TMA_OK);
    assert_int_equal(trustm_counter_read(T, NONE, 0xE120, &v, &th), TMA_OK);
    assert_int_equal(v, 5);
    assert_int_equal(th, 256);
    assert_int_equal(trustm_write_metadata(T, NONE, 0xE0E2, md, sizeof(md)), TMA_OK);
    assert_true(fake_ok());
    assert_int_equal(trustm_write_metadata(T, NONE, 0xE0E2, md, sizeof(md) - 1),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
    assert_int_equal(trustm_set_lcso(T, NONE, 0xE0E1, 0x05), TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
    assert_int_equal(trustm_counter_add(T, NONE, 0xE120, 0), TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
}

static void ecdsa_sign_p256_spec_example(void **state)
{
    uint8_t sig[80];
    uint8_t want[80];
    size_t n;
    long wn;
    static char rsp[8400];
    (void)state;
    snprintf(rsp, sizeof(rsp), "%s", cat("00 00 00 45 02 20", R, 32, ""));
    snprintf(rsp + strlen(rsp), sizeof(rsp) - strlen(rsp), "%s", cat(" 02 21 00", S, 32, ""));
    fake_expect_hex("B1 11 00 28 01 00 20 " SHA_ABC " 03 00 02 E0 F0", rsp);
    {
        uint8_t d[32];
        tma_test_hex(SHA_ABC, d, 32);
        assert_int_equal(trustm_sign(T, NONE, TRUSTM_SIG_ECDSA, 0xE0F0, d, 32, sig,
                                     sizeof(sig), &n),
                         TMA_OK);
    }
    snprintf(rsp, sizeof(rsp), "%s", cat("30 45 02 20", R, 32, ""));
    snprintf(rsp + strlen(rsp), sizeof(rsp) - strlen(rsp), "%s", cat(" 02 21 00", S, 32, ""));
    wn = tma_test_hex(rsp, want, sizeof(want));
    assert_int_equal(n, (size_t)wn);
    assert_memory_equal(sig, want, n);
    assert_true(fake_ok());
}

/* The chip's non-minimal integers (02 20 00 7F ..) come back minimal. */
static void ecdsa_sign_strips_chip_padding_and_gives_rs(void **state)
{
    uint8_t d[32] = {0};
    uint8_t sig[80];
    uint8_t rs[64];
    uint8_t r[32];
    size_t n;
    static char rsp[8400];
    (void)state;
    memcpy(r, R, 32);
    r[0] = 0x00;
    r[1] = 0x7F;
    snprintf(rsp, sizeof(rsp), "%s", cat("00 00 00 45 02 20", r, 32, ""));
    snprintf(rsp + strlen(rsp), sizeof(rsp) - strlen(rsp), "%s", cat(" 02 21 00", S, 32, ""));
    {
        uint8_t b[100];
        long bn = tma_test_hex(rsp, b, sizeof(b));
        fake_expect(NULL, 0, b, (size_t)bn);
        fake_expect(NULL, 0, b, (size_t)bn);
    }
    assert_int_equal(
        trustm_sign(T, NONE, TRUSTM_SIG_ECDSA, 0xE0F1, d, 32, sig, sizeof(sig), &n), TMA_OK);
    assert_int_equal(n, 2 + 2 + 31 + 2 + 33);
    assert_int_equal(sig[0], 0x30);
    assert_int_equal(sig[1], 0x44);
    assert_int_equal(sig[2], 0x02);
    assert_int_equal(sig[3], 0x1F);
    assert_int_equal(sig[4], 0x7F);
    assert_int_equal(trustm_ecdsa_sign_rs(T, NONE, 0xE0F1, d, 32, 32, rs), TMA_OK);
    assert_memory_equal(rs, r, 32);
    assert_memory_equal(rs + 32, S, 32);
    assert_true(fake_ok());
    /* digest rules */
    assert_int_equal(trustm_sign(T, NONE, TRUSTM_SIG_ECDSA, 0xE0F1, d, 9, sig, sizeof(sig), &n),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
    assert_int_equal(
        trustm_sign(T, NONE, TRUSTM_SIG_RSA_SHA256, 0xE0FC, d, 31, sig, sizeof(sig), &n),
        TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
}

static void ecdsa_sign_garbage_is_malformed(void **state)
{
    uint8_t d[32] = {0};
    uint8_t sig[80];
    size_t n;
    (void)state;
    fake_expect_hex("B1 11 00 28 01 00 20 " "00000000000000000000000000000000"
                    "00000000000000000000000000000000 03 00 02 E0 F0",
                    "00 00 00 05 02 01 01 02 05");
    assert_int_equal(
        trustm_sign(T, NONE, TRUSTM_SIG_ECDSA, 0xE0F0, d, 32, sig, sizeof(sig), &n),
        TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED));
    assert_true(fake_ok());
}

static void genkeypair_p256_into_e0f1(void **state)
{
    uint8_t buf[80];
    struct trustm_keypair kp;
    (void)state;
    {
        static char rsp[8400];
        snprintf(rsp, sizeof(rsp), "%s", cat("00 00 00 47 02 00 44 03 42 00 04", X, 32, ""));
        snprintf(rsp + strlen(rsp), sizeof(rsp) - strlen(rsp), "%s", cat(" ", Y, 32, ""));
        fake_expect_hex("B8 03 00 09 01 00 02 E0 F1 02 00 01 10", rsp);
    }
    assert_int_equal(trustm_gen_keypair(T, NONE, TRUSTM_ALG_P256, 0xE0F1, TRUSTM_KU_SIGN, buf,
                                        sizeof(buf), &kp),
                     TMA_OK);
    assert_int_equal(kp.pub.len, 65);
    assert_int_equal(kp.pub.ptr[0], 0x04);
    assert_memory_equal(kp.pub.ptr + 1, X, 32);
    assert_memory_equal(kp.pub.ptr + 33, Y, 32);
    assert_int_equal(kp.priv.len, 0);
    assert_true(fake_ok());
}

static void genkeypair_export(void **state)
{
    uint8_t buf[200];
    struct trustm_keypair kp;
    static char rsp[8400];
    (void)state;
    snprintf(rsp, sizeof(rsp), "%s", cat("00 00 00 6C 01 00 22 04 20", S, 32, ""));
    snprintf(rsp + strlen(rsp), sizeof(rsp) - strlen(rsp), "%s",
             cat(" 02 00 44 03 42 00 04", X, 32, ""));
    snprintf(rsp + strlen(rsp), sizeof(rsp) - strlen(rsp), "%s", cat(" ", Y, 32, ""));
    fake_expect_hex("B8 03 00 03 07 00 00", rsp);
    assert_int_equal(trustm_gen_keypair(T, NONE, TRUSTM_ALG_P256, TRUSTM_OID_EXPORT, 0, buf,
                                        sizeof(buf), &kp),
                     TMA_OK);
    assert_int_equal(kp.priv.len, 32);
    assert_memory_equal(kp.priv.ptr, S, 32);
    assert_int_equal(kp.pub.len, 65);
    /* a response without the public key is malformed */
    fake_expect_hex("B8 03 00 03 07 00 00", "00 00 00 05 01 00 02 04 00");
    assert_int_equal(trustm_gen_keypair(T, NONE, TRUSTM_ALG_P256, TRUSTM_OID_EXPORT, 0, buf,
                                        sizeof(buf), &kp),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED));
    /* a good private key next to a bad public key: malformed, and the
     * private key does not stay in the caller's buffer */
    snprintf(rsp, sizeof(rsp), "%s", cat("00 00 00 2B 01 00 22 04 20", S, 32, ""));
    snprintf(rsp + strlen(rsp), sizeof(rsp) - strlen(rsp), " 02 00 03 03 01 01");
    fake_expect_hex("B8 03 00 03 07 00 00", rsp);
    assert_int_equal(trustm_gen_keypair(T, NONE, TRUSTM_ALG_P256, TRUSTM_OID_EXPORT, 0, buf,
                                        sizeof(buf), &kp),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED));
    {
        static const uint8_t zero[0x2B] = {0};
        assert_memory_equal(buf, zero, sizeof(zero));
        assert_int_equal(kp.priv.len, 0);
        assert_null(kp.priv.ptr);
    }
    assert_int_equal(trustm_gen_keypair(T, NONE, 0x07, 0xE0F1, 0, buf, sizeof(buf), &kp),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
    assert_true(fake_ok());
}

static void verify_with_host_key_and_certificate(void **state)
{
    uint8_t d[32];
    uint8_t pt[65];
    uint8_t sig[72];
    size_t sn;
    struct trustm_pubkey key;
    static char cmd[8400];
    (void)state;
    tma_test_hex(SHA_ABC, d, 32);
    pt[0] = 0x04;
    memcpy(pt + 1, X, 32);
    memcpy(pt + 33, Y, 32);
    {
        uint8_t rs[64];
        memcpy(rs, R, 32);
        memcpy(rs + 32, S, 32);
        assert_int_equal(trustm_der_sig_from_rs(rs, 32, sig, sizeof(sig), &sn), TMA_OK);
    }
    assert_int_equal(sn, 71);
    snprintf(cmd, sizeof(cmd), "B2 11 00 B6 01 00 20 " SHA_ABC " 02 00 45 %s",
             cat("", sig + 2, 69, ""));
    snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "%s",
             cat(" 05 00 01 03 06 00 44 03 42 00", pt, 65, ""));
    fake_expect_hex(cmd, "00 00 00 00");
    key.cert_oid = 0;
    key.alg = TRUSTM_ALG_P256;
    key.key = pt;
    key.key_len = 65;
    assert_int_equal(trustm_verify(T, NONE, TRUSTM_SIG_ECDSA, d, 32, sig, sn, &key), TMA_OK);
    /* certificate OID, failing verification -> 0x2C */
    snprintf(cmd, sizeof(cmd), "B2 11 00 70 01 00 20 " SHA_ABC " 02 00 45 %s",
             cat("", sig + 2, 69, " 04 00 02 E0 E8"));
    fake_expect_hex(cmd, "FF 00 00 00");
    fake_expect_hex(ERR_READ, "00 00 00 01 2C");
    key.cert_oid = 0xE0E8;
    assert_int_equal(trustm_verify(T, NONE, TRUSTM_SIG_ECDSA, d, 32, sig, sn, &key),
                     TMA_CHIP_ERROR(0x2C));
    assert_true(fake_ok());
    /* a broken DER signature never reaches the chip */
    sig[1] ^= 1;
    assert_int_equal(trustm_verify(T, NONE, TRUSTM_SIG_ECDSA, d, 32, sig, sn, &key),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
}

static void ecdh_export_and_session(void **state)
{
    uint8_t pt[65];
    uint8_t sec[32];
    size_t n;
    struct trustm_pubkey peer = {0, TRUSTM_ALG_P256, pt, 65};
    static char cmd[8400];
    (void)state;
    pt[0] = 4;
    memcpy(pt + 1, X, 32);
    memcpy(pt + 33, Y, 32);
    snprintf(cmd, sizeof(cmd), "%s",
             cat("B3 01 00 53 01 00 02 E0 F2 05 00 01 03 06 00 44 03 42 00", pt, 65,
                 " 07 00 00"));
    fake_expect_hex(cmd, cat("00 00 00 20", S, 32, ""));
    assert_int_equal(trustm_ecdh(T, NONE, 0xE0F2, &peer, TRUSTM_OID_EXPORT, sec, sizeof(sec), &n),
                     TMA_OK);
    assert_int_equal(n, 32);
    assert_memory_equal(sec, S, 32);
    snprintf(cmd, sizeof(cmd), "%s",
             cat("B3 01 00 55 01 00 02 E1 00 05 00 01 03 06 00 44 03 42 00", pt, 65,
                 " 08 00 02 E1 00"));
    fake_expect_hex(cmd, "00 00 00 00");
    assert_int_equal(trustm_ecdh(T, NONE, 0xE100, &peer, 0xE100, NULL, 0, NULL), TMA_OK);
    assert_true(fake_ok());
}

static void derive_prf_and_hkdf(void **state)
{
    uint8_t seed[48];
    uint8_t key[40];
    uint8_t salt[4] = {0xA1, 0xA2, 0xA3, 0xA4};
    uint8_t info[3] = {0xB1, 0xB2, 0xB3};
    static char cmd[8400];
    (void)state;
    memset(seed, 0x5C, sizeof(seed));
    /* PRF SHA-256 from the session, 40 bytes exported */
    snprintf(cmd, sizeof(cmd), "%s",
             cat("B4 01 00 40 01 00 02 E1 00 03 00 02 00 28 07 00 00 02 00 30", seed, 48, ""));
    fake_expect_hex(cmd, cat("00 00 00 28", seed, 40, ""));
    assert_int_equal(trustm_derive_key(T, TRUSTM_PROTECT_CMD, TRUSTM_KDF_PRF_SHA256, 0xE100,
                                       seed, 48, NULL, 0, 40, TRUSTM_OID_EXPORT, key),
                     TMA_OK);
    assert_int_equal(fake_last_protect, TRUSTM_PROTECT_CMD);
    /* a short key is refused and not left behind in the output */
    fake_expect(NULL, 0, (const uint8_t *)"\0\0\0\x10" "0123456789abcdef", 20);
    assert_int_equal(trustm_derive_key(T, NONE, TRUSTM_KDF_PRF_SHA256, 0xE100, seed, 48, NULL,
                                       0, 40, TRUSTM_OID_EXPORT, key),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED));
    for (size_t i = 0; i < 16; i++) {
        assert_int_equal(key[i], 0);
    }
#if !TRUSTM_CFG_V3
    assert_int_equal(trustm_derive_key(T, NONE, TRUSTM_KDF_HKDF_SHA256, 0xF1D0, salt, 4, info,
                                       3, 32, TRUSTM_OID_EXPORT, key),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_UNSUPPORTED));
    assert_true(fake_ok());
    return;
#endif
    /* HKDF-SHA256 from PRESSEC F1D0, salt S, info I, 32 bytes (tags in
     * the order 01 03 07 04 02) */
    fake_expect_hex("B4 08 00 1A 01 00 02 F1 D0 03 00 02 00 20 07 00 00 04 00 03 B1 B2 B3 "
                    "02 00 04 A1 A2 A3 A4",
                    cat("00 00 00 20", seed, 32, ""));
    assert_int_equal(trustm_derive_key(T, NONE, TRUSTM_KDF_HKDF_SHA256, 0xF1D0, salt, 4, info,
                                       3, 32, TRUSTM_OID_EXPORT, key),
                     TMA_OK);
    /* into a session */
    fake_expect_hex("B4 08 00 16 01 00 02 F1 D0 03 00 02 00 20 08 00 02 E1 03 02 00 04 A1 A2 A3 A4",
                    "00 00 00 00");
    assert_int_equal(trustm_derive_key(T, NONE, TRUSTM_KDF_HKDF_SHA256, 0xF1D0, salt, 4, NULL,
                                       0, 32, 0xE103, NULL),
                     TMA_OK);
    assert_true(fake_ok());
    assert_int_equal(trustm_derive_key(T, NONE, TRUSTM_KDF_PRF_SHA256, 0xE100, seed, 7, NULL, 0,
                                       40, TRUSTM_OID_EXPORT, key),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
    assert_int_equal(trustm_derive_key(T, NONE, TRUSTM_KDF_HKDF_SHA256, 0xE100, seed, 8, NULL,
                                       0, 67, 0xE101, NULL),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
}

static void derive_with_long_salt_and_info_is_zero_copy(void **state)
{
    if (!TRUSTM_CFG_V3) {
        skip(); /* HKDF is a V3 command; covered as UNSUPPORTED above */
    }
    static uint8_t salt[1000], info[200], key[32], c[1400];
    size_t n = 0;
    (void)state;
    memset(salt, 0x11, sizeof(salt));
    memset(info, 0x22, sizeof(info));
    memcpy(c, "\xB4\x09\x04\xC3\x01\x00\x02\xF1\xD0\x03\x00\x02\x00\x20\x07\x00\x00\x04\x00\xC8",
           20);
    n = 20;
    memcpy(c + n, info, 200);
    n += 200;
    memcpy(c + n, "\x02\x03\xE8", 3);
    n += 3;
    memcpy(c + n, salt, 1000);
    n += 1000;
    fake_expect(c, n, (const uint8_t *)"\0\0\0\x20" "0123456789abcdef0123456789abcdef", 36);
    assert_int_equal(trustm_derive_key(T, NONE, TRUSTM_KDF_HKDF_SHA384, 0xF1D0, salt, 1000,
                                       info, 200, 32, TRUSTM_OID_EXPORT, key),
                     TMA_OK);
    assert_int_equal(fake_last_nseg, 4);
    assert_true(fake_ok());
}

static void sha256_one_shot_and_oid(void **state)
{
    uint8_t d[32];
    uint8_t want[32];
    (void)state;
    tma_test_hex(SHA_ABC, want, 32);
    fake_expect_hex("B0 E2 00 06 01 00 03 61 62 63", "00 00 00 23 01 00 20 " SHA_ABC);
    assert_int_equal(trustm_sha256(T, NONE, (const uint8_t *)"abc", 3, d), TMA_OK);
    assert_memory_equal(d, want, 32);
    fake_expect_hex("B0 E2 00 09 11 00 06 E0 E0 00 09 01 FA", "00 00 00 23 01 00 20 " SHA_ABC);
    assert_int_equal(trustm_sha256_oid(T, NONE, 0xE0E0, 9, 0x1FA, d), TMA_OK);
    assert_true(fake_ok());
    /* a 31-byte digest is not a SHA-256 digest */
    fake_expect_hex("B0 E2 00 06 01 00 03 61 62 63",
                    "00 00 00 22 01 00 1F 78 16 BF 8F 01 CF EA 41 41 40 DE 5D AE 22 23 B0 03 61 "
                    "A3 96 17 7A 9C B4 10 FF 61 F2 00 15 AD");
    assert_int_equal(trustm_sha256(T, NONE, (const uint8_t *)"abc", 3, d),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED));
    assert_true(fake_ok());
}

static void sha256_long_input_streams_in_chip(void **state)
{
    static uint8_t data[3000], c[1600];
    uint8_t d[32];
    (void)state;
    memset(data, 0x61, sizeof(data));
    memcpy(c, "\xB0\xE2\x06\x03\x00\x06\x00", 7);
    memcpy(c + 7, data, 1536);
    fake_expect(c, 7 + 1536, (const uint8_t *)"\0\0\0\0", 4);
    memcpy(c, "\xB0\xE2\x05\xBB\x03\x05\xB8", 7);
    memcpy(c + 7, data, 1464);
    {
        uint8_t r[39] = {0, 0, 0, 0x23, 0x01, 0x00, 0x20};
        memset(r + 7, 0xEE, 32);
        fake_expect(c, 7 + 1464, r, sizeof(r));
    }
    assert_int_equal(trustm_sha256(T, NONE, data, sizeof(data), d), TMA_OK);
    assert_int_equal(d[0], 0xEE);
    assert_true(fake_ok());
}

static void streamed_hash_with_exported_context(void **state)
{
    static uint8_t ctx[209], rsp[300], c[600];
    struct trustm_hash h;
    uint8_t d[32];
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(ctx); i++) {
        ctx[i] = (uint8_t)i;
    }
    memcpy(rsp, "\x00\x00\x00\xD4\x06\x00\xD1", 7);
    memcpy(rsp + 7, ctx, 209);
    /* first part: start + export */
    {
        uint8_t c1[13] = {0xB0, 0xE2, 0x00, 0x09, 0x00, 0x00, 0x03, 'a', 'b', 'c', 0x07, 0, 0};
        fake_expect(c1, 13, rsp, 7 + 209);
    }
    /* second part: continue + context + export */
    memcpy(c, "\xB0\xE2\x00\xDF\x02\x00\x05hello\x06\x00\xD1", 15);
    memcpy(c + 15, ctx, 209);
    memcpy(c + 15 + 209, "\x07\x00\x00", 3);
    ctx[0] = 0xAA; /* the chip's new context */
    memcpy(rsp + 7, ctx, 209);
    fake_expect(c, 15 + 209 + 3, rsp, 7 + 209);
    /* final with context */
    memcpy(c, "\xB0\xE2\x00\xD7\x03\x00\x00\x06\x00\xD1", 10);
    memcpy(c + 10, ctx, 209);
    {
        uint8_t r[39] = {0, 0, 0, 0x23, 0x01, 0x00, 0x20, 0x42};
        fake_expect(c, 10 + 209, r, sizeof(r));
    }
    assert_int_equal(trustm_hash_start(&h), TMA_OK);
    assert_int_equal(trustm_hash_update(T, NONE, &h, (const uint8_t *)"abc", 3), TMA_OK);
    assert_int_equal(trustm_hash_update(T, NONE, &h, (const uint8_t *)"hello", 5), TMA_OK);
    assert_int_equal(trustm_hash_finish(T, NONE, &h, d), TMA_OK);
    assert_int_equal(d[0], 0x42);
    assert_true(fake_ok());
    /* finished context cannot be reused without start */
    assert_int_equal(trustm_hash_update(T, NONE, &h, (const uint8_t *)"x", 1),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_STATE));
    /* empty stream: the chip refuses an empty start&final (SRM CalcHash
     * note 57), so an empty start, then an empty final */
    fake_expect_hex("B0 E2 00 03 00 00 00", "00 00 00 00");
    fake_expect_hex("B0 E2 00 03 03 00 00", "00 00 00 23 01 00 20 " SHA_ABC);
    assert_int_equal(trustm_hash_start(&h), TMA_OK);
    assert_int_equal(trustm_hash_finish(T, NONE, &h, d), TMA_OK);
    assert_true(fake_ok());
}

static void protected_update_manifest_and_fragments(void **state)
{
    static uint8_t man[0x8A], payload[700], c[800];
    (void)state;
    memset(man, 0x84, sizeof(man));
    memset(payload, 0x5A, sizeof(payload));
    memcpy(c, "\x83\x01\x00\x8D\x30\x00\x8A", 7);
    memcpy(c + 7, man, sizeof(man));
    fake_expect(c, 7 + sizeof(man), (const uint8_t *)"\0\0\0\0", 4);
    memcpy(c, "\x83\x01\x02\x83\x32\x02\x80", 7);
    memcpy(c + 7, payload, 640);
    fake_expect(c, 7 + 640, (const uint8_t *)"\0\0\0\0", 4);
    memcpy(c, "\x83\x01\x00\x3F\x31\x00\x3C", 7);
    memcpy(c + 7, payload, 60);
    fake_expect(c, 7 + 60, (const uint8_t *)"\0\0\0\0", 4);
    assert_int_equal(trustm_protected_update(T, NONE, man, sizeof(man), payload, 700), TMA_OK);
    assert_true(fake_ok());
    /* the spec's second APDU: final fragment with a 32-byte key payload */
    {
        uint8_t frag[0x23] = {0x01, 0x00, 0x20};
        memset(frag + 3, 0x77, 32);
        memcpy(c, "\x83\x01\x00\x26\x31\x00\x23", 7);
        memcpy(c + 7, frag, sizeof(frag));
        fake_expect(c, 7 + sizeof(frag), (const uint8_t *)"\0\0\0\0", 4);
        assert_int_equal(
            trustm_set_object_protected(T, NONE, TRUSTM_UPD_FINAL, frag, sizeof(frag)), TMA_OK);
    }
    assert_true(fake_ok());
    assert_int_equal(trustm_set_object_protected(T, NONE, TRUSTM_UPD_CONTINUE, payload, 639),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
}

#if TRUSTM_CFG_RSA
static void rsa_sign_encrypt_decrypt(void **state)
{
    static uint8_t ct[259], sig[256], pt[64], c[700], r[300];
    uint8_t d[32] = {0};
    size_t n;
    struct trustm_pubkey cert = {0xE0E3, 0, NULL, 0};
    (void)state;
    memset(ct, 0xC7, sizeof(ct));
    /* RSA sign: raw 256 bytes */
    memcpy(r, "\x00\x00\x01\x00", 4);
    memset(r + 4, 0x99, 256);
    memcpy(c, "\xB1\x01\x00\x28\x01\x00\x20", 7);
    memset(c + 7, 0, 32);
    memcpy(c + 39, "\x03\x00\x02\xE0\xFC", 5);
    fake_expect(c, 44, r, 260);
    assert_int_equal(
        trustm_sign(T, NONE, TRUSTM_SIG_RSA_SHA256, 0xE0FC, d, 32, sig, sizeof(sig), &n),
        TMA_OK);
    assert_int_equal(n, 256);
    assert_int_equal(sig[255], 0x99);
    /* encrypt with a certificate OID */
    memcpy(c, "\x9E\x11\x00\x0C\x61\x00\x04" "abcd" "\x04\x00\x02\xE0\xE3", 16);
    memcpy(r, "\x00\x00\x01\x03\x61\x01\x00", 7);
    memset(r + 7, 0x31, 256);
    fake_expect(c, 16, r, 7 + 256);
    assert_int_equal(trustm_rsa_encrypt(T, NONE, (const uint8_t *)"abcd", 4, 0, &cert, ct,
                                        sizeof(ct), &n),
                     TMA_OK);
    assert_int_equal(n, 256);
    assert_int_equal(ct[0], 0x31);
    /* encrypt the pre-master secret in a session */
    memcpy(r, "\x00\x00\x00\x83\x61\x00\x80", 7);
    memset(r + 7, 0, 128);
    tma_test_hex("9E 11 00 0A 02 00 02 E1 00 04 00 02 E0 E3", c, sizeof(c));
    fake_expect(c, 14, r, 7 + 128);
    assert_int_equal(trustm_rsa_encrypt(T, NONE, NULL, 0, 0xE100, &cert, ct, sizeof(ct), &n),
                     TMA_OK);
    assert_int_equal(n, 128);
    /* decrypt, export */
    memcpy(c, "\x9F\x11\x01\x08\x61\x01\x00", 7);
    memset(c + 7, 0xC7, 256);
    memcpy(c + 7 + 256, "\x03\x00\x02\xE0\xFD", 5);
    fake_expect(c, 7 + 256 + 5, (const uint8_t *)"\0\0\0\x07\x61\x00\x04" "abcd", 11);
    memset(ct, 0xC7, sizeof(ct));
    assert_int_equal(trustm_rsa_decrypt(T, TRUSTM_PROTECT_RSP, 0xE0FD, ct, 256,
                                        TRUSTM_OID_EXPORT, pt, sizeof(pt), &n),
                     TMA_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(pt, "abcd", 4);
    /* a plaintext answer with a bad header is MALFORMED and not left in pt */
    fake_expect(c, 7 + 256 + 5, (const uint8_t *)"\0\0\0\x07\x61\x00\x05" "wxyz", 11);
    assert_int_equal(trustm_rsa_decrypt(T, TRUSTM_PROTECT_RSP, 0xE0FD, ct, 256,
                                        TRUSTM_OID_EXPORT, pt, sizeof(pt), &n),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED));
    assert_int_equal(n, 0);
    {
        static const uint8_t zero[7] = {0};
        assert_memory_equal(pt, zero, 7);
    }
    /* decrypt into a session */
    memcpy(c, "\x9F\x11\x01\x0D\x61\x01\x00", 7);
    memcpy(c + 7 + 256, "\x03\x00\x02\xE0\xFD\x02\x00\x02\xE1\x02", 10);
    fake_expect(c, 7 + 256 + 10, (const uint8_t *)"\0\0\0\0", 4);
    assert_int_equal(trustm_rsa_decrypt(T, NONE, 0xE0FD, ct, 256, 0xE102, NULL, 0, NULL), TMA_OK);
    assert_true(fake_ok());
}
#endif

#if TRUSTM_CFG_V3
static void symmetric_keys_modes_and_hmac(void **state)
{
    static uint8_t in[1000], out[1100], c[700], r[700];
    uint8_t iv[16];
    uint8_t key[35];
    size_t n;
    (void)state;
    memset(iv, 0x1F, sizeof(iv));
    for (size_t i = 0; i < sizeof(in); i++) {
        in[i] = (uint8_t)i;
    }
    fake_expect_hex("B9 81 00 09 01 00 02 E2 00 02 00 01 02", "00 00 00 00");
    assert_int_equal(trustm_gen_sym_key(T, NONE, TRUSTM_ALG_AES128, 0xE200, TRUSTM_KU_ENC, NULL,
                                        0, NULL),
                     TMA_OK);
    fake_expect_hex("B9 83 00 03 07 00 00",
                    "00 00 00 23 01 00 20 " SHA_ABC);
    assert_int_equal(trustm_gen_sym_key(T, NONE, TRUSTM_ALG_AES256, TRUSTM_OID_EXPORT, 0, key,
                                        sizeof(key), &n),
                     TMA_OK);
    assert_int_equal(n, 32);
    assert_int_equal(key[0], 0xBA);
    /* a key of the wrong size is refused */
    fake_expect_hex("B9 81 00 03 07 00 00", "00 00 00 05 01 00 02 AA BB");
    assert_int_equal(trustm_gen_sym_key(T, NONE, TRUSTM_ALG_AES128, TRUSTM_OID_EXPORT, 0, key,
                                        sizeof(key), &n),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED));
    /* CBC over 992 = 608 + 384 bytes: start with the IV, then final */
    memcpy(c, "\x94\x09\x02\x78\xE2\x00\x00\x02\x60", 9);
    memcpy(c + 9, in, 608);
    memcpy(c + 9 + 608, "\x41\x00\x10", 3);
    memcpy(c + 9 + 608 + 3, iv, 16);
    memcpy(r, "\x00\x00\x02\x63\x61\x02\x60", 7);
    memset(r + 7, 0xA5, 608);
    fake_expect(c, 9 + 608 + 19, r, 7 + 608);
    memcpy(c, "\x94\x09\x01\x85\xE2\x00\x03\x01\x80", 9);
    memcpy(c + 9, in + 608, 384);
    memcpy(r, "\x00\x00\x01\x83\x61\x01\x80", 7);
    memset(r + 7, 0x5A, 384);
    fake_expect(c, 9 + 384, r, 7 + 384);
    assert_int_equal(trustm_sym_encrypt(T, TRUSTM_PROTECT_CMD, TRUSTM_SYM_CBC, 0xE200, iv, in,
                                        992, out, sizeof(out), &n),
                     TMA_OK);
    assert_int_equal(n, 992);
    assert_int_equal(out[0], 0xA5);
    assert_int_equal(out[607], 0xA5);
    assert_int_equal(out[608], 0x5A);
    assert_int_equal(out[991], 0x5A);
    /* ECB decrypt, one block */
    fake_expect_hex("95 08 00 15 E2 00 01 00 10 000102030405060708090A0B0C0D0E0F",
                    "00 00 00 13 61 00 10 FFEEDDCCBBAA99887766554433221100");
    assert_int_equal(trustm_sym_decrypt(T, TRUSTM_PROTECT_RSP, TRUSTM_SYM_ECB, 0xE200, NULL, in,
                                        16, out, sizeof(out), &n),
                     TMA_OK);
    assert_int_equal(n, 16);
    assert_int_equal(out[0], 0xFF);
    /* a plaintext answer with a bad header is MALFORMED and not left in out */
    fake_expect_hex("95 08 00 15 E2 00 01 00 10 000102030405060708090A0B0C0D0E0F",
                    "00 00 00 13 62 00 10 FFEEDDCCBBAA99887766554433221100");
    assert_int_equal(trustm_sym_decrypt(T, TRUSTM_PROTECT_RSP, TRUSTM_SYM_ECB, 0xE200, NULL, in,
                                        16, out, sizeof(out), &n),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED));
    assert_int_equal(n, 0);
    {
        static const uint8_t zero[19] = {0};
        assert_memory_equal(out, zero, sizeof(zero));
    }
    /* CMAC over 20 bytes (no block alignment needed) */
    fake_expect_hex("94 0B 00 19 E2 00 01 00 14 000102030405060708090A0B0C0D0E0F10111213",
                    "00 00 00 13 61 00 10 0102030405060708090A0B0C0D0E0F10");
    assert_int_equal(trustm_sym_encrypt(T, NONE, TRUSTM_SYM_CMAC, 0xE200, NULL, in, 20, out,
                                        sizeof(out), &n),
                     TMA_OK);
    assert_int_equal(n, 16);
    /* HMAC-SHA256 with PRESSEC F1D0 */
    fake_expect_hex("94 20 00 08 F1 D0 01 00 03 61 62 63",
                    "00 00 00 23 61 00 20 " SHA_ABC);
    assert_int_equal(trustm_hmac(T, NONE, TRUSTM_SYM_HMAC_SHA256, 0xF1D0, (const uint8_t *)"abc",
                                 3, key, sizeof(key), &n),
                     TMA_OK);
    assert_int_equal(n, 32);
    /* HMAC verify (authorization) and clear auto state */
    fake_expect_hex("95 20 00 2E F1 D1 01 00 06 E1 00 61 62 63 64 43 00 20 " SHA_ABC,
                    "00 00 00 00");
    {
        uint8_t mac[32];
        tma_test_hex(SHA_ABC, mac, 32);
        assert_int_equal(trustm_hmac_verify(T, NONE, TRUSTM_SYM_HMAC_SHA256, 0xF1D1, 0xE100,
                                            (const uint8_t *)"abcd", 4, mac, 32),
                         TMA_OK);
        assert_int_equal(trustm_hmac_verify(T, NONE, TRUSTM_SYM_HMAC_SHA256, 0xF1D1, 0xE100,
                                            (const uint8_t *)"abcd", 4, mac, 31),
                         TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
    }
    fake_expect_hex("95 20 00 08 F1 D1 01 00 00 43 00 00", "FF 00 00 00");
    fake_expect_hex(ERR_READ, "00 00 00 01 2F");
    assert_int_equal(trustm_clear_auto_state(T, NONE, TRUSTM_SYM_HMAC_SHA256, 0xF1D1), TMA_OK);
    assert_true(fake_ok());
    /* ECB input must be block aligned; CBC needs an IV */
    assert_int_equal(trustm_sym_encrypt(T, NONE, TRUSTM_SYM_ECB, 0xE200, NULL, in, 15, out,
                                        sizeof(out), &n),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
    assert_int_equal(trustm_sym_encrypt(T, NONE, TRUSTM_SYM_CBC, 0xE200, NULL, in, 16, out,
                                        sizeof(out), &n),
                     TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM));
}
#endif

/* ---- every command at its worst case of copied bytes ----------------------
 * The builder copies small fields (tags, lengths, OIDs, caller data of up to
 * 66 bytes) into one buffer in the APDU under construction; tags, lengths and
 * the key's BIT STRING header are built in locals of the helper functions and
 * are gone when the APDU is sent. Each case below fills that buffer as far as
 * the command's arguments allow (longest small fields, short signatures, the
 * longest digests, inline keys with each DER length form, certificate OIDs)
 * and checks the bytes on the wire against the APDU layout written out here.
 * A field sent from a dead stack frame shows as wrong bytes, and under ASan
 * (detect_stack_use_after_return, see __asan_default_options below) as a
 * stack-use-after-return report. */
static uint8_t E[2048];
static size_t en;

static void e_hex(const char *h)
{
    long k = tma_test_hex(h, E + en, sizeof(E) - en);
    assert_true(k >= 0);
    en += (size_t)k;
}

static void e_mem(const uint8_t *p, size_t n)
{
    assert_true(n <= sizeof(E) - en);
    memcpy(E + en, p, n);
    en += n;
}

/* start an expected APDU: command code and Param (InLen set by e_send) */
static void e_cmd(const char *h)
{
    en = 0;
    e_hex(h);
    e_hex("00 00");
}

/* expect the APDU written so far; the chip answers rsp (hex) */
static void e_send(const char *rsp_hex)
{
    static uint8_t r[1200];
    long k = tma_test_hex(rsp_hex, r, sizeof(r));
    assert_true(k >= 4);
    E[2] = (uint8_t)((en - 4) >> 8);
    E[3] = (uint8_t)(en - 4);
    fake_expect(E, en, r, (size_t)k);
}

/* a successful answer: OutData = the TLV header tlv_hdr (hex, or "") and p[0..n) */
static const char *ok_rsp(size_t n, const uint8_t *p, const char *tlv_hdr)
{
    static char pre[40];
    size_t out = n + (tlv_hdr[0] != '\0' ? 3u : 0u);
    snprintf(pre, sizeof(pre), "00 00 %02X %02X %s", (unsigned)(out >> 8),
             (unsigned)(out & 0xFF), tlv_hdr);
    return cat(pre, p, n, "");
}

static void worst_case_verify(void **state)
{
    uint8_t d[64], sig[68], sig70[72];
    struct trustm_pubkey key = {0, TRUSTM_ALG_P256, P + 300, 65};
    (void)state;
    memcpy(d, P, 64);
    /* r and s of 31 bytes: a 66-byte SEQUENCE body, copied */
    memcpy(sig, "\x30\x42\x02\x1F", 4);
    memcpy(sig + 4, P + 100, 31);
    memcpy(sig + 35, "\x02\x1F", 2);
    memcpy(sig + 37, P + 140, 31);
    sig[4] = 0x11;
    sig[37] = 0x22;
    /* inline P-256 point: 06 00 44 03 42 00 <65> */
    e_cmd("B2 11");
    e_hex("01 00 40");
    e_mem(d, 64);
    e_hex("02 00 42");
    e_mem(sig + 2, 66);
    e_hex("05 00 01 03 06 00 44 03 42 00");
    e_mem(P + 300, 65);
    e_send("00 00 00 00");
    assert_int_equal(trustm_verify(T, NONE, TRUSTM_SIG_ECDSA, d, 64, sig, 68, &key), TMA_OK);
    assert_true(fake_ok());
    /* 127..254 key bytes: BIT STRING length 81 LL */
    key.alg = TRUSTM_ALG_P384;
    key.key_len = 200;
    e_cmd("B2 11");
    e_hex("01 00 40");
    e_mem(d, 64);
    e_hex("02 00 42");
    e_mem(sig + 2, 66);
    e_hex("05 00 01 04 06 00 CC 03 81 C9 00");
    e_mem(P + 300, 200);
    e_send("00 00 00 00");
    assert_int_equal(trustm_verify(T, NONE, TRUSTM_SIG_ECDSA, d, 64, sig, 68, &key), TMA_OK);
    assert_true(fake_ok());
    /* 255 and more: 82 LL LL, the longest BIT STRING header */
    key.key_len = 300;
    e_cmd("B2 11");
    e_hex("01 00 40");
    e_mem(d, 64);
    e_hex("02 00 42");
    e_mem(sig + 2, 66);
    e_hex("05 00 01 04 06 01 31 03 82 01 2D 00");
    e_mem(P + 300, 300);
    e_send("00 00 00 00");
    assert_int_equal(trustm_verify(T, NONE, TRUSTM_SIG_ECDSA, d, 64, sig, 68, &key), TMA_OK);
    assert_true(fake_ok());
    /* the key from a certificate object */
    key.cert_oid = 0xE0E8;
    e_cmd("B2 11");
    e_hex("01 00 40");
    e_mem(d, 64);
    e_hex("02 00 42");
    e_mem(sig + 2, 66);
    e_hex("04 00 02 E0 E8");
    e_send("FF 00 00 00");
    fake_expect_hex(ERR_READ, "00 00 00 01 2C");
    assert_int_equal(trustm_verify(T, NONE, TRUSTM_SIG_ECDSA, d, 64, sig, 68, &key),
                     TMA_CHIP_ERROR(0x2C));
    assert_true(fake_ok());
    /* a signature body too long to copy (r and s of 33 bytes) between the
     * digest and a long key: four pieces on the wire */
    memcpy(sig70, "\x30\x46\x02\x21\x00", 5);
    memcpy(sig70 + 5, P + 100, 32);
    memcpy(sig70 + 37, "\x02\x21\x00", 3);
    memcpy(sig70 + 40, P + 140, 32);
    sig70[5] = 0x81;
    sig70[40] = 0x82;
    key.cert_oid = 0;
    e_cmd("B2 11");
    e_hex("01 00 40");
    e_mem(d, 64);
    e_hex("02 00 46");
    e_mem(sig70 + 2, 70);
    e_hex("05 00 01 04 06 01 31 03 82 01 2D 00");
    e_mem(P + 300, 300);
    e_send("00 00 00 00");
    assert_int_equal(trustm_verify(T, NONE, TRUSTM_SIG_ECDSA, d, 64, sig70, 72, &key), TMA_OK);
    assert_int_equal(fake_last_nseg, 4);
    assert_true(fake_ok());
#if TRUSTM_CFG_RSA
    /* RSA: a 64-byte digest, a 66-byte signature (no DER), a 2048-bit key */
    key.alg = TRUSTM_ALG_RSA2048;
    key.key_len = 270;
    e_cmd("B2 03");
    e_hex("01 00 40");
    e_mem(d, 64);
    e_hex("02 00 42");
    e_mem(P + 200, 66);
    e_hex("05 00 01 42 06 01 13 03 82 01 0F 00");
    e_mem(P + 300, 270);
    e_send("00 00 00 00");
    assert_int_equal(trustm_verify(T, NONE, TRUSTM_SIG_RSA_SHA512, d, 64, P + 200, 66, &key),
                     TMA_OK);
    assert_true(fake_ok());
#endif
}

static void worst_case_keys(void **state)
{
    uint8_t out[300];
    size_t n = 0;
    struct trustm_keypair kp;
    struct trustm_pubkey peer = {0, TRUSTM_ALG_P521, P + 300, 66};
    (void)state;
    /* GenKeyPair into an object */
    e_cmd("B8 05");
    e_hex("01 00 02 E0 F1 02 00 01 30");
    e_send(cat("00 00 00 47 02 00 44 03 42 00 04", P, 64, ""));
    assert_int_equal(trustm_gen_keypair(T, NONE, TRUSTM_ALG_P521, 0xE0F1,
                                        TRUSTM_KU_SIGN | TRUSTM_KU_AGREE, out, sizeof(out), &kp),
                     TMA_OK);
    assert_int_equal(kp.pub.len, 65);
    /* ECDSA sign of a 64-byte digest */
    e_cmd("B1 11");
    e_hex("01 00 40");
    e_mem(P, 64);
    e_hex("03 00 02 E0 F3");
    {
        static char rsp[8400];
        snprintf(rsp, sizeof(rsp), "%s", cat("00 00 00 44 02 20", R, 32, ""));
        snprintf(rsp + strlen(rsp), sizeof(rsp) - strlen(rsp), "%s", cat(" 02 20", X, 32, ""));
        e_send(rsp);
    }
    assert_int_equal(trustm_sign(T, NONE, TRUSTM_SIG_ECDSA, 0xE0F3, P, 64, out, sizeof(out), &n),
                     TMA_OK);
    assert_int_equal(n, 70);
    /* ECDH with a 66-byte point (copied) and the secret exported */
    e_cmd("B3 01");
    e_hex("01 00 02 E0 F2 05 00 01 05 06 00 45 03 43 00");
    e_mem(P + 300, 66);
    e_hex("07 00 00");
    e_send(ok_rsp(66, P + 10, ""));
    assert_int_equal(trustm_ecdh(T, NONE, 0xE0F2, &peer, TRUSTM_OID_EXPORT, out, sizeof(out), &n),
                     TMA_OK);
    assert_int_equal(n, 66);
    assert_memory_equal(out, P + 10, 66);
    /* a P-521 point (133 bytes, 81 LL, not copied), then the session */
    peer.key_len = 133;
    e_cmd("B3 01");
    e_hex("01 00 02 E0 F2 05 00 01 05 06 00 89 03 81 86 00");
    e_mem(P + 300, 133);
    e_hex("08 00 02 E1 03");
    e_send("00 00 00 00");
    assert_int_equal(trustm_ecdh(T, NONE, 0xE0F2, &peer, 0xE103, NULL, 0, NULL), TMA_OK);
    assert_true(fake_ok());
    /* PRF: a 66-byte seed, 66 bytes into a session */
    e_cmd("B4 01");
    e_hex("01 00 02 E1 00 03 00 02 00 42 08 00 02 E1 01 02 00 42");
    e_mem(P + 20, 66);
    e_send("00 00 00 00");
    assert_int_equal(trustm_derive_key(T, NONE, TRUSTM_KDF_PRF_SHA256, 0xE100, P + 20, 66, NULL,
                                       0, 66, 0xE101, NULL),
                     TMA_OK);
    assert_true(fake_ok());
#if TRUSTM_CFG_V3
    /* HKDF: 66 bytes of info (copied) and of salt */
    e_cmd("B4 0A");
    e_hex("01 00 02 F1 D0 03 00 02 00 40 07 00 00 04 00 42");
    e_mem(P + 40, 66);
    e_hex("02 00 42");
    e_mem(P + 120, 66);
    e_send(ok_rsp(64, P + 5, ""));
    assert_int_equal(trustm_derive_key(T, NONE, TRUSTM_KDF_HKDF_SHA512, 0xF1D0, P + 120, 66,
                                       P + 40, 66, 64, TRUSTM_OID_EXPORT, out),
                     TMA_OK);
    assert_memory_equal(out, P + 5, 64);
    assert_true(fake_ok());
#endif
#if TRUSTM_CFG_RSA
    {
        struct trustm_pubkey rk = {0, TRUSTM_ALG_RSA2048, P + 300, 270};
        /* a 66-byte message (copied) and an inline 2048-bit key */
        e_cmd("9E 11");
        e_hex("61 00 42");
        e_mem(P + 60, 66);
        e_hex("05 00 01 42 06 01 13 03 82 01 0F 00");
        e_mem(P + 300, 270);
        e_send(ok_rsp(256, P + 1, "61 01 00"));
        assert_int_equal(trustm_rsa_encrypt(T, NONE, P + 60, 66, 0, &rk, out, sizeof(out), &n),
                         TMA_OK);
        assert_int_equal(n, 256);
        assert_memory_equal(out, P + 1, 256);
        /* the longest message (by reference) between the tags and the
         * key's header: four pieces, the most any command sends */
        e_cmd("9E 11");
        e_hex("61 00 F5");
        e_mem(P + 60, 245);
        e_hex("05 00 01 42 06 01 13 03 82 01 0F 00");
        e_mem(P + 300, 270);
        e_send(ok_rsp(256, P + 1, "61 01 00"));
        assert_int_equal(trustm_rsa_encrypt(T, NONE, P + 60, 245, 0, &rk, out, sizeof(out), &n),
                         TMA_OK);
        assert_int_equal(fake_last_nseg, 4);
        /* the session's secret and a 1024-bit key (81 LL) */
        rk.alg = TRUSTM_ALG_RSA1024;
        rk.key_len = 140;
        e_cmd("9E 11");
        e_hex("02 00 02 E1 00 05 00 01 41 06 00 90 03 81 8D 00");
        e_mem(P + 300, 140);
        e_send(ok_rsp(128, P + 2, "61 00 80"));
        assert_int_equal(trustm_rsa_encrypt(T, NONE, NULL, 0, 0xE100, &rk, out, sizeof(out), &n),
                         TMA_OK);
        assert_int_equal(n, 128);
        /* a certificate's key */
        rk.cert_oid = 0xE0E3;
        e_cmd("9E 11");
        e_hex("61 00 42");
        e_mem(P + 60, 66);
        e_hex("04 00 02 E0 E3");
        e_send(ok_rsp(128, P + 3, "61 00 80"));
        assert_int_equal(trustm_rsa_encrypt(T, NONE, P + 60, 66, 0, &rk, out, sizeof(out), &n),
                         TMA_OK);
        /* decrypt into a session */
        e_cmd("9F 11");
        e_hex("61 00 80");
        e_mem(P + 400, 128);
        e_hex("03 00 02 E0 FD 02 00 02 E1 02");
        e_send("00 00 00 00");
        assert_int_equal(trustm_rsa_decrypt(T, NONE, 0xE0FD, P + 400, 128, 0xE102, NULL, 0, NULL),
                         TMA_OK);
        assert_true(fake_ok());
    }
#endif
}

static void worst_case_data_random_hash(void **state)
{
    static uint8_t out[300], ctx[209];
    uint8_t md[66];
    uint8_t d[32];
    size_t n = 0;
    struct trustm_hash h;
    (void)state;
    e_cmd("F0 01");
    e_hex(AID);
    e_mem(P + 7, 8);
    e_send("00 00 00 00");
    assert_int_equal(trustm_open_app(T, NONE, P + 7), TMA_OK);
    e_cmd("81 00");
    e_hex("E0 E1 FF 00 00 FF");
    e_send(ok_rsp(255, P + 9, ""));
    assert_int_equal(trustm_read_data(T, NONE, 0xE0E1, 0xFF00, out, sizeof(out), &n), TMA_OK);
    assert_int_equal(n, 255);
    e_cmd("82 40");
    e_hex("F1 D5 01 23");
    e_mem(P + 30, 66);
    e_send("00 00 00 00");
    assert_int_equal(trustm_write_data(T, NONE, 0xF1D5, TRUSTM_WRITE_ERASE, 0x123, P + 30, 66),
                     TMA_OK);
    md[0] = 0x20;
    md[1] = 64;
    memcpy(md + 2, P + 50, 64);
    e_cmd("82 01");
    e_hex("E0 E2 00 00");
    e_mem(md, 66);
    e_send("00 00 00 00");
    assert_int_equal(trustm_write_metadata(T, NONE, 0xE0E2, md, 66), TMA_OK);
    e_cmd("81 01");
    e_hex("E0 E2");
    e_send(ok_rsp(66, md, ""));
    assert_int_equal(trustm_read_metadata(T, NONE, 0xE0E2, out, sizeof(out), &n), TMA_OK);
    assert_int_equal(n, 66);
    e_cmd("83 01");
    e_hex("31 00 42");
    e_mem(P + 70, 66);
    e_send("00 00 00 00");
    assert_int_equal(trustm_set_object_protected(T, NONE, TRUSTM_UPD_FINAL, P + 70, 66), TMA_OK);
    assert_true(fake_ok());
    e_cmd("8C 01");
    e_hex("01 00");
    e_send(ok_rsp(256, P + 11, ""));
    assert_int_equal(trustm_get_random(T, NONE, TRUSTM_RNG_DRNG, out, 256), TMA_OK);
    assert_memory_equal(out, P + 11, 256);
    /* the longest pre-master prefix */
    e_cmd("8C 04");
    e_hex("00 08 E1 03 41 00 3A");
    e_mem(P + 90, 58);
    e_send("00 00 00 00");
    assert_int_equal(trustm_random_to_session(T, NONE, TRUSTM_RNG_PREMASTER, 0xE103, P + 90, 58,
                                              8, NULL),
                     TMA_OK);
    assert_true(fake_ok());
    e_cmd("B0 E2");
    e_hex("01 00 42");
    e_mem(P + 13, 66);
    e_send(cat("00 00 00 23 01 00 20", X, 32, ""));
    assert_int_equal(trustm_sha256(T, NONE, P + 13, 66, d), TMA_OK);
    assert_memory_equal(d, X, 32);
    e_cmd("B0 E2");
    e_hex("11 00 06 E0 E1 FF 00 00 FF");
    e_send(cat("00 00 00 23 01 00 20", Y, 32, ""));
    assert_int_equal(trustm_sha256_oid(T, NONE, 0xE0E1, 0xFF00, 0xFF, d), TMA_OK);
    assert_memory_equal(d, Y, 32);
    assert_true(fake_ok());
    /* streamed: 66 bytes, then 66 more with the context, then final */
    memcpy(ctx, P + 200, sizeof(ctx));
    e_cmd("B0 E2");
    e_hex("00 00 42");
    e_mem(P + 15, 66);
    e_hex("07 00 00");
    e_send(cat("00 00 00 D4 06 00 D1", ctx, sizeof(ctx), ""));
    e_cmd("B0 E2");
    e_hex("02 00 42");
    e_mem(P + 16, 66);
    e_hex("06 00 D1");
    e_mem(ctx, sizeof(ctx));
    e_hex("07 00 00");
    ctx[0] ^= 0x5A;
    e_send(cat("00 00 00 D4 06 00 D1", ctx, sizeof(ctx), ""));
    e_cmd("B0 E2");
    e_hex("03 00 00 06 00 D1");
    e_mem(ctx, sizeof(ctx));
    e_send(cat("00 00 00 23 01 00 20", R, 32, ""));
    assert_int_equal(trustm_hash_start(&h), TMA_OK);
    assert_int_equal(trustm_hash_update(T, NONE, &h, P + 15, 66), TMA_OK);
    assert_int_equal(trustm_hash_update(T, NONE, &h, P + 16, 66), TMA_OK);
    assert_int_equal(trustm_hash_finish(T, NONE, &h, d), TMA_OK);
    assert_memory_equal(d, R, 32);
    assert_true(fake_ok());
}

#if TRUSTM_CFG_V3
static void worst_case_symmetric(void **state)
{
    static uint8_t out[300];
    size_t n = 0;
    (void)state;
    e_cmd("B9 83");
    e_hex("01 00 02 E2 00 02 00 01 02");
    e_send("00 00 00 00");
    assert_int_equal(trustm_gen_sym_key(T, NONE, TRUSTM_ALG_AES256, 0xE200, TRUSTM_KU_ENC, NULL,
                                        0, NULL),
                     TMA_OK);
    /* CBC: 64 bytes (copied) and the IV */
    e_cmd("94 09");
    e_hex("E2 00 01 00 40");
    e_mem(P + 3, 64);
    e_hex("41 00 10");
    e_mem(P + 80, 16);
    e_send(ok_rsp(64, P + 4, "61 00 40"));
    assert_int_equal(trustm_sym_encrypt(T, NONE, TRUSTM_SYM_CBC, 0xE200, P + 80, P + 3, 64, out,
                                        sizeof(out), &n),
                     TMA_OK);
    assert_int_equal(n, 64);
    assert_memory_equal(out, P + 4, 64);
    e_cmd("95 08");
    e_hex("E2 00 01 00 40");
    e_mem(P + 5, 64);
    e_send(ok_rsp(64, P + 6, "61 00 40"));
    assert_int_equal(trustm_sym_decrypt(T, NONE, TRUSTM_SYM_ECB, 0xE200, NULL, P + 5, 64, out,
                                        sizeof(out), &n),
                     TMA_OK);
    e_cmd("94 0B");
    e_hex("E2 00 01 00 42");
    e_mem(P + 7, 66);
    e_send(ok_rsp(16, P + 8, "61 00 10"));
    assert_int_equal(trustm_sym_encrypt(T, NONE, TRUSTM_SYM_CMAC, 0xE200, NULL, P + 7, 66, out,
                                        sizeof(out), &n),
                     TMA_OK);
    e_cmd("94 22");
    e_hex("F1 D0 01 00 42");
    e_mem(P + 9, 66);
    e_send(ok_rsp(64, P + 10, "61 00 40"));
    assert_int_equal(trustm_hmac(T, NONE, TRUSTM_SYM_HMAC_SHA512, 0xF1D0, P + 9, 66, out,
                                 sizeof(out), &n),
                     TMA_OK);
    assert_int_equal(n, 64);
    assert_true(fake_ok());
    /* HMAC verify: a 66-byte message and a 64-byte MAC fill the buffer */
    e_cmd("95 22");
    e_hex("F1 D1 01 00 44 E1 00");
    e_mem(P + 11, 66);
    e_hex("43 00 40");
    e_mem(P + 12, 64);
    e_send("00 00 00 00");
    assert_int_equal(trustm_hmac_verify(T, NONE, TRUSTM_SYM_HMAC_SHA512, 0xF1D1, 0xE100, P + 11,
                                        66, P + 12, 64),
                     TMA_OK);
    e_cmd("95 22");
    e_hex("F1 D1 01 00 00 43 00 00");
    e_send("00 00 00 00");
    assert_int_equal(trustm_clear_auto_state(T, NONE, TRUSTM_SYM_HMAC_SHA512, 0xF1D1), TMA_OK);
    assert_true(fake_ok());
}
#endif

/* Freed stack frames stay poisoned, so a field read from one is reported. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_stack_use_after_return=1";
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(open_app_fresh_and_restore, setup),
        cmocka_unit_test_setup(close_hibernate_with_wrong_length_is_malformed, setup),
        cmocka_unit_test_setup(failing_command_reads_last_error_code, setup),
        cmocka_unit_test_setup(failing_command_without_code_is_nocode, setup),
        cmocka_unit_test_setup(stack_errors_pass_through, setup),
        cmocka_unit_test_setup(get_random_trng_32, setup),
        cmocka_unit_test_setup(random_into_session, setup),
        cmocka_unit_test_setup(read_uid_and_metadata, setup),
        cmocka_unit_test_setup(response_larger_than_buffer_is_too_small, setup),
        cmocka_unit_test_setup(chained_read_of_1728_bytes, setup),
        cmocka_unit_test_setup(chained_write_of_1728_bytes, setup),
        cmocka_unit_test_setup(write_failure_in_second_chunk_stops, setup),
        cmocka_unit_test_setup(erase_lock_counter_metadata, setup),
        cmocka_unit_test_setup(ecdsa_sign_p256_spec_example, setup),
        cmocka_unit_test_setup(ecdsa_sign_strips_chip_padding_and_gives_rs, setup),
        cmocka_unit_test_setup(ecdsa_sign_garbage_is_malformed, setup),
        cmocka_unit_test_setup(genkeypair_p256_into_e0f1, setup),
        cmocka_unit_test_setup(genkeypair_export, setup),
        cmocka_unit_test_setup(verify_with_host_key_and_certificate, setup),
        cmocka_unit_test_setup(ecdh_export_and_session, setup),
        cmocka_unit_test_setup(derive_prf_and_hkdf, setup),
        cmocka_unit_test_setup(derive_with_long_salt_and_info_is_zero_copy, setup),
        cmocka_unit_test_setup(sha256_one_shot_and_oid, setup),
        cmocka_unit_test_setup(sha256_long_input_streams_in_chip, setup),
        cmocka_unit_test_setup(streamed_hash_with_exported_context, setup),
        cmocka_unit_test_setup(protected_update_manifest_and_fragments, setup),
#if TRUSTM_CFG_RSA
        cmocka_unit_test_setup(rsa_sign_encrypt_decrypt, setup),
#endif
#if TRUSTM_CFG_V3
        cmocka_unit_test_setup(symmetric_keys_modes_and_hmac, setup),
#endif
        cmocka_unit_test_setup(worst_case_verify, setup),
        cmocka_unit_test_setup(worst_case_keys, setup),
        cmocka_unit_test_setup(worst_case_data_random_hash, setup),
#if TRUSTM_CFG_V3
        cmocka_unit_test_setup(worst_case_symmetric, setup),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
