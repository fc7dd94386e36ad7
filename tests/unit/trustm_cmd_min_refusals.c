/*
 * The command layer built without RSA (TRUSTM_CFG_RSA=0, with V3 and the
 * shield also off: trustm_cmd_only_min) refuses RSA work with CMD
 * UNSUPPORTED before any APDU. scripts/coverage showed the key-generation
 * refusal never ran (trustm_gen_keypair() with an RSA algorithm); the RSA
 * signature schemes are checked here too, next to an ECC control that
 * still reaches the chip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "trustm/cmd.h"
#include "trustm_cmd_fake.h"

#if TRUSTM_CFG_RSA
#error "this test is for the command layer built with TRUSTM_CFG_RSA=0"
#endif

#define UNSUPPORTED TMA_ERR(TMA_LAYER_CMD, TMA_C_UNSUPPORTED)

static void rsa_is_refused(void **s)
{
    static uint8_t buf[600];
    uint8_t digest[64];
    uint8_t sig[256];
    size_t n = 0;
    struct trustm_keypair kp;
    struct trustm_pubkey k = {0, TRUSTM_ALG_RSA1024, buf, 140};
    (void)s;
    memset(digest, 0x11, sizeof(digest));
    memset(buf, 0x30, sizeof(buf));
    fake_reset();
    assert_int_equal(trustm_gen_keypair(fake_t, 0, TRUSTM_ALG_RSA1024, 0xE0FC, TRUSTM_KU_SIGN, buf,
                                        sizeof(buf), &kp),
                     UNSUPPORTED);
    assert_int_equal(trustm_gen_keypair(fake_t, 0, TRUSTM_ALG_RSA2048, 0xE0FD, TRUSTM_KU_SIGN, buf,
                                        sizeof(buf), &kp),
                     UNSUPPORTED);
    assert_int_equal(trustm_sign(fake_t, 0, TRUSTM_SIG_RSA_SHA256, 0xE0FC, digest, 32, sig,
                                 sizeof(sig), &n),
                     UNSUPPORTED);
    assert_int_equal(trustm_verify(fake_t, 0, TRUSTM_SIG_RSA_SHA512, digest, 64, sig, 128, &k),
                     UNSUPPORTED);
    assert_true(fake_ok()); /* nothing was sent */
}

static void ecc_still_reaches_the_chip(void **s)
{
    static uint8_t buf[200];
    struct trustm_keypair kp;
    (void)s;
    fake_reset();
    /* GenKeyPair P-256 goes out (any bytes) and is answered with an error
     * (Sta FF, then the last-error read): only that it was sent matters */
    fake_expect(NULL, 0, (const uint8_t *)"\xFF\x00\x00\x00", 4);
    fake_expect(NULL, 0, (const uint8_t *)"\x00\x00\x00\x01\x07", 5); /* last error 07 */
    assert_int_not_equal(trustm_gen_keypair(fake_t, 0, TRUSTM_ALG_P256, 0xE0F1, TRUSTM_KU_SIGN,
                                            buf, sizeof(buf), &kp),
                         UNSUPPORTED);
    assert_true(fake_ok());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rsa_is_refused),
        cmocka_unit_test(ecc_still_reaches_the_chip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
