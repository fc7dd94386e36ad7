/* Fuzz the command layer's decoders: APDU responses (through a lenient fake
 * stack that returns the input as the chip's response), metadata and access
 * conditions, DER signatures and BIT STRINGs, certificate objects, UID.
 * First input byte selects the target; the rest is the data. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../unit/trustm_cmd_fake.h"
#include "trustm/certobj.h"
#include "trustm/cmd.h"
#include "trustm/der.h"
#include "trustm/metadata.h"
#include "trustm/uid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void responses(uint8_t which, const uint8_t *d, size_t n)
{
    static uint8_t buf[2048];
    static const uint8_t pt[65] = {0x04};
    struct trustm_pubkey peer = {0, TRUSTM_ALG_P256, pt, sizeof(pt)};
    struct trustm_keypair kp;
    struct trustm_hash h;
    uint8_t digest[32] = {0};
    size_t len;
    uint32_t a;
    uint32_t b;

    /* the response APDU: 4-byte header built from the input */
    buf[0] = (uint8_t)(which & 0x80 ? 0xFF : 0x00);
    buf[1] = 0;
    if (n > sizeof(buf) - 4) {
        n = sizeof(buf) - 4;
    }
    buf[2] = (uint8_t)(n >> 8);
    buf[3] = (uint8_t)n;
    memcpy(buf + 4, d, n);
    fake_lenient(buf, n + 4);
    switch (which & 0x0F) {
    case 0:
        (void)trustm_sign(fake_t, 0, TRUSTM_SIG_ECDSA, 0xE0F0, digest, 32, buf, sizeof(buf), &len);
        break;
    case 1: {
        uint8_t rs[132];
        (void)trustm_ecdsa_sign_rs(fake_t, 0, 0xE0F0, digest, 32, 66, rs);
        break;
    }
    case 2:
        (void)trustm_gen_keypair(fake_t, 0, TRUSTM_ALG_P256, TRUSTM_OID_EXPORT, 0, buf,
                                 sizeof(buf), &kp);
        if (kp.pub.len != 0 && (kp.pub.ptr < buf || kp.pub.ptr + kp.pub.len > buf + sizeof(buf))) {
            __builtin_trap();
        }
        break;
    case 3:
        (void)trustm_sha256(fake_t, 0, digest, 3, digest);
        break;
    case 4:
        (void)trustm_hash_start(&h);
        (void)trustm_hash_update(fake_t, 0, &h, digest, 3);
        (void)trustm_hash_finish(fake_t, 0, &h, digest);
        break;
    case 5:
        (void)trustm_read_data(fake_t, 0, 0xE0E0, 0, buf, 1728, &len);
        break;
    case 6:
        (void)trustm_counter_read(fake_t, 0, 0xE120, &a, &b);
        break;
    case 7:
        (void)trustm_ecdh(fake_t, 0, 0xE0F1, &peer, TRUSTM_OID_EXPORT, buf, 66, &len);
        break;
    case 8:
        (void)trustm_get_random(fake_t, 0, TRUSTM_RNG_TRNG, buf, 32);
        break;
#if TRUSTM_CFG_RSA
    case 9:
        (void)trustm_rsa_decrypt(fake_t, 0, 0xE0FC, buf, 128, TRUSTM_OID_EXPORT, buf + 256, 300,
                                 &len);
        break;
#endif
#if TRUSTM_CFG_V3
    case 10:
        (void)trustm_sym_encrypt(fake_t, 0, TRUSTM_SYM_ECB, 0xE200, NULL, digest, 32, buf, 64,
                                 &len);
        break;
    case 11: {
        uint8_t key[40];
        (void)trustm_gen_sym_key(fake_t, 0, TRUSTM_ALG_AES128, TRUSTM_OID_EXPORT, 0, key,
                                 sizeof(key), &len);
        break;
    }
#endif
    default:
        (void)trustm_close_app(fake_t, 0, buf);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t sel;
    const uint8_t *d;
    size_t n;

    if (size < 2) {
        return 0;
    }
    sel = data[0];
    d = data + 2;
    n = size - 2;
    switch (sel % 6) {
    case 0:
        responses(data[1], d, n);
        break;
    case 1: {
        struct trustm_md md;
        char w[128];
        if (trustm_md_decode(d, n, &md) == TMA_OK) {
            (void)trustm_ac_render(md.change.ptr, md.change.len, w, sizeof(w));
        }
        (void)trustm_ac_render(d, n, w, (size_t)data[1] % sizeof(w));
        (void)trustm_key_usage_render(data[1], w, 8);
        break;
    }
    case 2: {
        static uint8_t buf[4096 + 8];
        size_t len;
        size_t off;
        uint8_t rs[132];
        if (n > 4096) {
            n = 4096;
        }
        memcpy(buf, d, n);
        (void)trustm_der_sig_from_chip(buf, n, n + (data[1] & 7), &len);
        (void)trustm_der_sig_to_rs(d, n, (size_t)(data[1] % 67) + 1, rs);
        (void)trustm_der_sig_body(d, n, &off, &len);
        (void)trustm_der_bitstring(d, n, &off, &len);
        break;
    }
    case 3: {
        struct trustm_certobj o;
        struct tma_span c;
        if (trustm_certobj_parse(d, n, &o) == TMA_OK) {
            size_t i;
            for (i = 0; i < o.count; i++) {
                if (trustm_certobj_cert(&o, i, &c) != TMA_OK || c.ptr < d || c.ptr + c.len > d + n) {
                    __builtin_trap();
                }
            }
        }
        break;
    }
    case 4: {
        struct trustm_uid u;
        const char *p;
        const char *f;
        if (trustm_uid_decode(d, n, &u) == TMA_OK) {
            (void)trustm_uid_firmware(u.esw_build, &p, &f);
        }
        break;
    }
    default: {
        struct trustm_ac ac;
        uint8_t out[128]; /* 3 tokens of 7 three-byte conditions: 83 bytes */
        size_t len;
        /* decode -> encode must reproduce the input exactly */
        if (trustm_ac_decode(d, n, &ac) == TMA_OK) {
            if (trustm_ac_encode(&ac, out, sizeof(out), &len) != TMA_OK || len != n ||
                memcmp(out, d, n) != 0) {
                __builtin_trap();
            }
        }
        break;
    }
    }
    return 0;
}
