/* Protected update (SetObjectProtected) driven by Infineon's own code with
 * Infineon's own data: optiga_util_protected_update_start/continue/final and
 * the command layer's SetObjectProtected handler, fed with the example data
 * sets of examples/optiga/protected_update_data_set/ (signed with Infineon's
 * sample key; the sets and the example's trust anchor, metadata and shared
 * secret come from $OPTIGA_SRC at build time, protupd_sets.h). Run as the
 * example runs them: the trust anchor into E0E3 (metadata: Execute ALW, type
 * TA), the shared secret into F1D1 (Execute ALW, type UPDATSEC), then per set
 * the target's metadata, start / continue / final and the version tag reset
 * to 0. Every result is checked: data read back equal to the payload (the
 * confidential one decrypted on the host with mbedTLS), metadata read back,
 * the ECC and RSA keys used through optiga_crypt and their signatures verified
 * by mbedTLS with the key the payload carried. Refusals: a flipped manifest
 * byte (0x802C), a flipped fragment byte (0x802D), an integrity-only
 * manifest for a target whose Change AC also wants Conf (0x8007). Prints
 * ok/FAIL lines; exit 1 on a failure. No Infineon code in this file. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/aes.h>
#include <mbedtls/bignum.h>
#include <mbedtls/cipher.h>
#include <mbedtls/cmac.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>

#include "optiga_crypt.h"
#include "optiga_util.h"

#include "driver.h"
#include "protupd_sets.h"

static optiga_util_t *u;
static optiga_crypt_t *c;

/* start / continue / final of one set as the example sends them; @p man,
 * @p cont, @p fin replace the set's arrays (corrupted copies) when not NULL.
 * Returns the first failing status; *step names the call. A failed sequence
 * is ended with final(NULL), which releases the library's strict lock. */
static optiga_lib_status_t pu_run(const struct pu_set *s, const uint8_t *man, const uint8_t *cont,
                                  const uint8_t *fin, const char **step)
{
    optiga_lib_status_t st;
    *step = "start";
    st = RUN(optiga_util_protected_update_start(u, 0x01, man ? man : s->man, s->man_len));
    if (st == 0 && s->cont) {
        *step = "continue";
        st = RUN(optiga_util_protected_update_continue(u, cont ? cont : s->cont, s->cont_len));
    }
    if (st == 0) {
        *step = "final";
        st = RUN(optiga_util_protected_update_final(u, fin ? fin : s->fin, s->fin_len));
    }
    if (st != 0) {
        (void)RUN(optiga_util_protected_update_final(u, NULL, 0));
    }
    return st;
}

static optiga_lib_status_t wmeta(uint16_t oid, const uint8_t *md, uint8_t n)
{
    return RUN(optiga_util_write_metadata(u, oid, md, n));
}

static size_t rmeta(uint16_t oid, uint8_t *md, size_t cap)
{
    uint16_t n = (uint16_t)cap;
    return RUN(optiga_util_read_metadata(u, oid, md, &n)) == 0 ? n : 0;
}

/* the object's version tag C1, -1 when absent */
static long version_of(uint16_t oid)
{
    uint8_t md[64], l;
    size_t n = rmeta(oid, md, sizeof md);
    const uint8_t *v = pu_md_tag(md, n, 0xC1, &l);
    return v && l == 2 ? (long)(v[0] << 8 | v[1]) : -1;
}

static int data_equal(uint16_t oid, const uint8_t *want, size_t n)
{
    static uint8_t buf[1800];
    uint16_t len = sizeof buf;
    optiga_lib_status_t st = RUN(optiga_util_read_data(u, oid, 0, buf, &len));
    return st == 0 && len == n && memcmp(buf, want, n) == 0;
}

static void reset_version(const struct pu_set *s)
{
    optiga_lib_status_t st =
        wmeta(s->target, reset_version_tag_metadata, sizeof reset_version_tag_metadata);
    char step[96];
    snprintf(step, sizeof step, "version tag of %04X back to 0 (the example's reset)", s->target);
    report(st == 0 && version_of(s->target) == 0, step, "0x%04X", st);
}

/* a successful update of set @p i; returns 1 when applied */
static int apply(int i)
{
    const struct pu_set *s = &pu_sets[i];
    const char *where;
    char step[128];
    optiga_lib_status_t st = wmeta(s->target, s->md, s->md_len);
    snprintf(step, sizeof step, "target metadata %04X (%s)", s->target, s->name);
    report(st == 0, step, "0x%04X", st);
    st = pu_run(s, NULL, NULL, NULL, &where);
    snprintf(step, sizeof step, "optiga_util_protected_update %s", s->name);
    report(st == 0, step, "0x%04X at %s", st, where);
    snprintf(step, sizeof step, "%04X version tag after the update", s->target);
    report(version_of(s->target) == 3, step, "C1 = %ld (the manifest's 3)", version_of(s->target));
    return st == 0;
}

/* the integrity-only data set, with the refusals first: the object keeps its
 * content while the chip refuses a flipped manifest byte or fragment byte */
static void integrity_data(void)
{
    const struct pu_set *s = &pu_sets[PU_INT];
    static uint8_t before[700], after[700], plain[1800], man[512], frag[640];
    const char *where;
    optiga_lib_status_t st;
    long n = pu_plaintext(s, plain, sizeof plain);
    report(n == 658, "payload of data_object.h", "%ld bytes (608 + 50, digests removed)", n);
    for (size_t i = 0; i < sizeof before; i++) {
        before[i] = (uint8_t)(0xA5 ^ i);
    }
    st = RUN(optiga_util_write_data(u, s->target, OPTIGA_UTIL_ERASE_AND_WRITE, 0, before,
                                    sizeof before));
    report(st == 0, "E0E1 filled with 700 known bytes (plain write, before its Change AC)",
           "0x%04X", st);
    st = wmeta(s->target, s->md, s->md_len);
    report(st == 0, "target metadata E0E1: Change Int(E0E3)", "0x%04X", st);
    st = RUN(optiga_util_write_data(u, s->target, OPTIGA_UTIL_ERASE_AND_WRITE, 0, before, 4));
    report(st == 0x8007, "plain write to E0E1 now refused", "0x%04X (expected 0x8007)", st);

    memcpy(man, s->man, s->man_len);
    man[s->man_len - 20] ^= 0x01; /* a byte of the signature */
    st = pu_run(s, man, NULL, NULL, &where);
    report(st == 0x802C && !strcmp(where, "start"), "manifest with a flipped signature byte",
           "0x%04X at %s (expected 0x802C at start)", st, where);
    memcpy(man, s->man, s->man_len);
    man[40] ^= 0x80; /* a byte of the first fragment's digest, inside the signed manifest */
    st = pu_run(s, man, NULL, NULL, &where);
    report(st == 0x802C && !strcmp(where, "start"), "manifest with a flipped payload byte",
           "0x%04X at %s (expected 0x802C at start)", st, where);
    memcpy(frag, s->cont, s->cont_len);
    frag[100] ^= 0x01;
    st = pu_run(s, NULL, frag, NULL, &where);
    report(st == 0x802D && !strcmp(where, "continue"), "first fragment with a flipped byte",
           "0x%04X at %s (expected 0x802D at continue)", st, where);
    report(data_equal(s->target, before, sizeof before) && version_of(s->target) < 0,
           "E0E1 unchanged after the three refusals", "700 bytes as written, no version tag");

    if (!apply(PU_INT) || n <= 0) {
        return;
    }
    /* write type 1 (write at offset 0, not erase): the payload over the first
     * 658 bytes, the used size stays 700 */
    memcpy(after, before, sizeof before);
    memcpy(after, plain, (size_t)n);
    report(data_equal(s->target, after, sizeof after),
           "E0E1 read back = the payload over the old content (write type 1)", "%ld + %zu bytes", n,
           sizeof before - (size_t)n);
    reset_version(s);

    /* a flipped byte in the final fragment: the first fragment was applied
     * already; the chip marks the version invalid (MSB set), and only the same
     * version may follow */
    memcpy(frag, s->fin, s->fin_len);
    frag[7] ^= 0x01;
    st = pu_run(s, NULL, NULL, frag, &where);
    report(st == 0x802D && !strcmp(where, "final"), "final fragment with a flipped byte",
           "0x%04X at %s (expected 0x802D at final)", st, where);
    report(version_of(s->target) == 0x8003, "E0E1 version marked invalid after the failed final",
           "C1 = 0x%04lX (expected 0x8003)", (unsigned long)version_of(s->target));
    st = pu_run(s, NULL, NULL, NULL, &where);
    report(st == 0 && version_of(s->target) == 3 && data_equal(s->target, after, sizeof after),
           "the same update again completes it", "0x%04X at %s", st, where);
    reset_version(s);
}

static void confidential_data(void)
{
    const struct pu_set *s = &pu_sets[PU_CONF];
    static uint8_t plain[1800];
    const char *where;
    optiga_lib_status_t st;
    long n = pu_plaintext(s, plain, sizeof plain);
    report(n == 814 && !memcmp(plain, "line1", 5),
           "data_object_confidentiality.h decrypted on the host (mbedTLS)", "%ld bytes: %.24s...",
           n, n > 0 ? (const char *)plain : "");
    st = wmeta(s->target, s->md, s->md_len);
    report(st == 0, "target metadata E0E1: Change Int(E0E3) && Conf(F1D1)", "0x%04X", st);
    st = pu_run(&pu_sets[PU_INT], NULL, NULL, NULL, &where);
    report(st == 0x8007 && !strcmp(where, "start"),
           "integrity-only manifest for that target refused (Conf not met)",
           "0x%04X at %s (expected 0x8007 at start)", st, where);
    st = pu_run(s, NULL, NULL, NULL, &where);
    report(st == 0, "optiga_util_protected_update confidentiality, data E0E1", "0x%04X at %s", st,
           where);
    report(n > 0 && data_equal(s->target, plain, (size_t)n),
           "E0E1 read back = the decrypted payload", "%ld bytes", n);
    reset_version(s);
}

static void metadata_update(void)
{
    const struct pu_set *s = &pu_sets[PU_META];
    uint8_t plain[64], md[64], l;
    long n = pu_plaintext(s, plain, sizeof plain);
    report(n == 13 && plain[0] == 0x20, "metadata_object_confidentiality.h decrypted", "%ld bytes",
           n);
    if (!apply(PU_META) || n <= 0) {
        return;
    }
    size_t m = rmeta(s->target, md, sizeof md);
    int ok = 1;
    /* every tag of the payload is now in the object's metadata */
    for (size_t i = 2; i + 1 < (size_t)n; i += 2u + plain[i + 1]) {
        const uint8_t *v = pu_md_tag(md, m, plain[i], &l);
        ok = ok && v && l == plain[i + 1] && !memcmp(v, plain + i + 2, l);
    }
    report(ok, "E0E2 metadata read back holds every tag of the payload", "%zu bytes", m);
}

/* sign SHA-256("protected update") with the key just imported; the signature
 * verifies with mbedTLS against the key the payload carried */
static void ecc_key(void)
{
    const struct pu_set *s = &pu_sets[PU_ECC];
    uint8_t plain[128], digest[32], sig[80];
    uint16_t sl = sizeof sig;
    long n = pu_plaintext(s, plain, sizeof plain);
    int ok = 0;
    report(n == 102 && plain[0] == 0x01 && plain[35] == 0x02,
           "ecc_key_object_confidentiality.h decrypted", "%ld bytes: 01 d, 02 X||Y", n);
    if (!apply(PU_ECC) || n != 102) {
        return;
    }
    mbedtls_sha256_ret((const uint8_t *)"protected update", 16, digest, 0);
    optiga_lib_status_t st =
        RUN(optiga_crypt_ecdsa_sign(c, digest, 32, OPTIGA_KEY_ID_E0F1, sig, &sl));
    report(st == 0, "optiga_crypt_ecdsa_sign with the imported E0F1", "0x%04X, %u bytes", st, sl);
    if (st == 0) {
        mbedtls_ecp_group g;
        mbedtls_ecp_point q;
        mbedtls_mpi r, sv;
        uint8_t pub[65] = {0x04};
        mbedtls_ecp_group_init(&g);
        mbedtls_ecp_point_init(&q);
        mbedtls_mpi_init(&r);
        mbedtls_mpi_init(&sv);
        memcpy(pub + 1, plain + 38, 64);
        /* r and s: the chip's two DER INTEGERs */
        ok = sig[0] == 0x02 && sig[2 + sig[1]] == 0x02 &&
             mbedtls_ecp_group_load(&g, MBEDTLS_ECP_DP_SECP256R1) == 0 &&
             mbedtls_ecp_point_read_binary(&g, &q, pub, sizeof pub) == 0 &&
             mbedtls_mpi_read_binary(&r, sig + 2, sig[1]) == 0 &&
             mbedtls_mpi_read_binary(&sv, sig + 4 + sig[1], sig[3 + sig[1]]) == 0 &&
             mbedtls_ecdsa_verify(&g, digest, 32, &q, &r, &sv) == 0;
        mbedtls_ecp_group_free(&g);
        mbedtls_ecp_point_free(&q);
        mbedtls_mpi_free(&r);
        mbedtls_mpi_free(&sv);
        report(ok, "its signature verifies with the payload's public key (mbedTLS)", "P-256");
    }
}

static void rsa_key(void)
{
    const struct pu_set *s = &pu_sets[PU_RSA];
    static uint8_t plain[300], sig[256];
    uint8_t digest[32];
    uint16_t sl = sizeof sig;
    long n = pu_plaintext(s, plain, sizeof plain);
    report(n == 269 && plain[0] == 0x01 && plain[131] == 0x02 && plain[262] == 0x03,
           "rsa_key_object_confidentiality.h decrypted", "%ld bytes: 01 d, 02 n, 03 e", n);
    if (!apply(PU_RSA) || n != 269) {
        return;
    }
    mbedtls_sha256_ret((const uint8_t *)"protected update", 16, digest, 0);
    optiga_lib_status_t st = RUN(optiga_crypt_rsa_sign(c, OPTIGA_RSASSA_PKCS1_V15_SHA256, digest,
                                                       32, OPTIGA_KEY_ID_E0FC, sig, &sl, 0));
    report(st == 0 && sl == 128, "optiga_crypt_rsa_sign with the imported E0FC", "0x%04X, %u bytes",
           st, sl);
    if (st == 0) {
        mbedtls_rsa_context rsa;
        mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V15, 0);
        int ok = mbedtls_rsa_import_raw(&rsa, plain + 134, 128, NULL, 0, NULL, 0, NULL, 0,
                                        plain + 265, 4) == 0 &&
                 mbedtls_rsa_complete(&rsa) == 0 &&
                 mbedtls_rsa_pkcs1_verify(&rsa, NULL, NULL, MBEDTLS_RSA_PUBLIC, MBEDTLS_MD_SHA256,
                                          32, digest, sig) == 0;
        mbedtls_rsa_free(&rsa);
        report(ok, "its signature verifies with the payload's n, e (mbedTLS)", "RSA-1024");
    }
}

/* the imported AES key used through the library's optiga_crypt_symmetric_* (ECB over 1,024
 * bytes, which the command layer chains; CBC; the caller's start/continue/final; CBC-MAC;
 * CMAC), every result = mbedTLS with the key the payload carried */
static void aes_modes(const uint8_t key[16])
{
    static const uint8_t iv[16] = "an IV, 16 bytes";
    static uint8_t p[1024], out[1100], want[1024], back[1024];
    uint8_t ivc[16], mac[16];
    uint32_t ol = sizeof out, bl = sizeof back;
    size_t n = 0;
    optiga_lib_status_t st;
    mbedtls_aes_context a;
    const mbedtls_cipher_info_t *cmac = mbedtls_cipher_info_from_type(MBEDTLS_CIPHER_AES_128_ECB);
    for (size_t i = 0; i < sizeof p; i++) {
        p[i] = (uint8_t)(i * 29 + 5);
    }
    mbedtls_aes_init(&a);
    mbedtls_aes_setkey_enc(&a, key, 128);
    for (n = 0; n < sizeof p; n += 16) {
        mbedtls_aes_crypt_ecb(&a, MBEDTLS_AES_ENCRYPT, p + n, want + n);
    }
    st = RUN(
        optiga_crypt_symmetric_encrypt_ecb(c, OPTIGA_KEY_ID_SECRET_BASED, p, sizeof p, out, &ol));
    report(st == 0 && ol == sizeof p && !memcmp(out, want, sizeof p),
           "optiga_crypt_symmetric_encrypt_ecb E200, 1,024 bytes (chained) = mbedTLS",
           "0x%04X, %u bytes", st, ol);
    st = RUN(optiga_crypt_symmetric_decrypt_ecb(c, OPTIGA_KEY_ID_SECRET_BASED, want, sizeof p, back,
                                                &bl));
    report(st == 0 && bl == sizeof p && !memcmp(back, p, sizeof p),
           "optiga_crypt_symmetric_decrypt_ecb of mbedTLS's ciphertext", "0x%04X, %u bytes", st,
           bl);
    memcpy(ivc, iv, 16);
    mbedtls_aes_crypt_cbc(&a, MBEDTLS_AES_ENCRYPT, 256, ivc, p, want);
    ol = sizeof out;
    st = RUN(optiga_crypt_symmetric_encrypt(c, OPTIGA_SYMMETRIC_CBC, OPTIGA_KEY_ID_SECRET_BASED, p,
                                            256, iv, sizeof iv, NULL, 0, out, &ol));
    report(st == 0 && ol == 256 && !memcmp(out, want, 256),
           "optiga_crypt_symmetric_encrypt CBC, 256 bytes = mbedTLS", "0x%04X, %u bytes", st, ol);
    bl = sizeof back;
    st = RUN(optiga_crypt_symmetric_decrypt(c, OPTIGA_SYMMETRIC_CBC, OPTIGA_KEY_ID_SECRET_BASED,
                                            want, 256, iv, sizeof iv, NULL, 0, back, &bl));
    report(st == 0 && bl == 256 && !memcmp(back, p, 256),
           "optiga_crypt_symmetric_decrypt CBC of mbedTLS's ciphertext", "0x%04X", st);
    /* the caller's sequence: CBC start 64, continue 128, final 64 = the same 256 bytes */
    {
        uint32_t l1 = 64, l2 = 128, l3 = 64;
        st = RUN(optiga_crypt_symmetric_encrypt_start(c, OPTIGA_SYMMETRIC_CBC,
                                                      OPTIGA_KEY_ID_SECRET_BASED, p, 64, iv,
                                                      sizeof iv, NULL, 0, 0, out, &l1));
        if (st == 0) {
            st = RUN(optiga_crypt_symmetric_encrypt_continue(c, p + 64, 128, out + 64, &l2));
        }
        if (st == 0) {
            st = RUN(optiga_crypt_symmetric_encrypt_final(c, p + 192, 64, out + 192, &l3));
        }
        report(st == 0 && l1 + l2 + l3 == 256 && !memcmp(out, want, 256),
               "optiga_crypt_symmetric_encrypt_start / _continue / _final CBC = mbedTLS", "0x%04X",
               st);
    }
    /* CBC-MAC (zero IV): the last block of the CBC encryption */
    memset(ivc, 0, 16);
    mbedtls_aes_crypt_cbc(&a, MBEDTLS_AES_ENCRYPT, 256, ivc, p, back);
    ol = sizeof mac;
    st = RUN(optiga_crypt_symmetric_encrypt(c, OPTIGA_SYMMETRIC_CBC_MAC, OPTIGA_KEY_ID_SECRET_BASED,
                                            p, 256, NULL, 0, NULL, 0, mac, &ol));
    report(st == 0 && ol == 16 && !memcmp(mac, back + 240, 16),
           "optiga_crypt_symmetric_encrypt CBC-MAC, 256 bytes = mbedTLS", "0x%04X, %u bytes", st,
           ol);
    ol = sizeof mac;
    st = RUN(optiga_crypt_symmetric_encrypt(c, OPTIGA_SYMMETRIC_CMAC, OPTIGA_KEY_ID_SECRET_BASED, p,
                                            100, NULL, 0, NULL, 0, mac, &ol));
    int ok = mbedtls_cipher_cmac(cmac, key, 128, p, 100, want) == 0;
    report(st == 0 && ok && ol == 16 && !memcmp(mac, want, 16),
           "optiga_crypt_symmetric_encrypt CMAC, 100 bytes = mbedTLS", "0x%04X, %u bytes", st, ol);
    mbedtls_aes_free(&a);
}

static void aes_key(void)
{
    const struct pu_set *s = &pu_sets[PU_AES];
    uint8_t plain[32], md[64], l;
    long n = pu_plaintext(s, plain, sizeof plain);
    report(n == 19 && plain[0] == 0x01 && plain[2] == 0x10,
           "aes_key_object_confidentiality.h decrypted", "%ld bytes: 01 00 10 key", n);
    if (!apply(PU_AES)) {
        return;
    }
    /* its algorithm and usage as the manifest gave them, then the key used */
    size_t m = rmeta(s->target, md, sizeof md);
    const uint8_t *alg = pu_md_tag(md, m, 0xE0, &l);
    int ok = alg && l == 1 && alg[0] == 0x81;
    const uint8_t *use = pu_md_tag(md, m, 0xE1, &l);
    report(ok && use && l == 1 && use[0] == 0x02, "E200 metadata: algorithm AES-128, usage Enc",
           "%zu bytes", m);
    if (n == 19) {
        aes_modes(plain + 3);
    }
}

#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
/* the integrity set again with OPTIGA_UTIL_SET_COMMS_PROTECTION_LEVEL(FULL) before the start: the
 * library keeps the level for the whole strict sequence (start, continue, final protected) */
static void shielded(void)
{
    const struct pu_set *s = &pu_sets[PU_INT];
    static uint8_t plain[1800], want[1800];
    uint16_t len = sizeof want;
    const char *where;
    long n = pu_plaintext(s, plain, sizeof plain);
    optiga_lib_status_t st = RUN(optiga_util_read_data(u, s->target, 0, want, &len));
    if (st != 0 || n <= 0 || len < n) {
        report(0, "E0E1 read before the protected update", "0x%04X, %u bytes", st, len);
        return;
    }
    memcpy(want, plain, (size_t)n);
    st = wmeta(s->target, s->md, s->md_len);
    OPTIGA_UTIL_SET_COMMS_PROTECTION_LEVEL(u, OPTIGA_COMMS_FULL_PROTECTION);
    if (st == 0) {
        st = pu_run(s, NULL, NULL, NULL, &where);
    }
    report(st == 0 && version_of(s->target) == 3 && data_equal(s->target, want, len),
           "integrity set under full protection (start / continue / final protected)",
           "0x%04X, E0E1 = the payload over the old content", st);
}
#endif

int main(void)
{
    optiga_lib_status_t st;
    u = optiga_util_create(0, cb, NULL);
    c = optiga_crypt_create(0, cb, NULL);
    if (!u || !c) {
        printf("FAIL optiga_util_create / optiga_crypt_create\n");
        return 1;
    }
    st = RUN(optiga_util_open_application(u, 0));
    report(st == 0, "optiga_util_open_application(0)", "0x%04X", st);
    /* the example's preconditions 1 and 2 */
    st = wmeta(PU_TRUST_ANCHOR, trust_anchor_metadata, sizeof trust_anchor_metadata);
    report(st == 0, "E0E3 metadata: Execute ALW, type trust anchor", "0x%04X", st);
    st = RUN(optiga_util_write_data(u, PU_TRUST_ANCHOR, OPTIGA_UTIL_ERASE_AND_WRITE, 0,
                                    trust_anchor, sizeof trust_anchor));
    report(st == 0, "E0E3 := the example's trust anchor certificate", "0x%04X, %zu bytes", st,
           sizeof trust_anchor);
    st = wmeta(PU_SECRET, confidentiality_oid_metadata, sizeof confidentiality_oid_metadata);
    report(st == 0, "F1D1 metadata: Execute ALW, type UPDATSEC", "0x%04X", st);
    st = RUN(optiga_util_write_data(u, PU_SECRET, OPTIGA_UTIL_ERASE_AND_WRITE, 0, shared_secret,
                                    sizeof shared_secret));
    report(st == 0, "F1D1 := the example's shared secret", "0x%04X, %zu bytes", st,
           sizeof shared_secret);

    integrity_data();
    confidential_data();
    aes_key();
    ecc_key();
    metadata_update();
    rsa_key();
#ifdef OPTIGA_COMMS_SHIELDED_CONNECTION
    shielded();
#endif

    st = RUN(optiga_util_close_application(u, 0));
    report(st == 0, "optiga_util_close_application(0)", "0x%04X", st);
    optiga_crypt_destroy(c);
    optiga_util_destroy(u);
    printf("protupd: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
