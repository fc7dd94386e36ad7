/* Infineon's example protected-update data sets (protupd_sets.h: from
 * $OPTIGA_SRC at build time) through OUR stack: libtrustm's
 * trustm_protected_update() on trustm_port_open(argv[1]) (e.g.
 * "sim:/path/sim.sock"), so libtrustm is checked against manifests and
 * fragments it did not make. The same preconditions as Infineon's example
 * (trust anchor E0E3, UPDATSEC F1D1, each target's metadata), then every set,
 * each result checked: data read back (the confidential payload decrypted
 * with mbedTLS), the metadata's tags, the AES key used by EncryptSym (ECB
 * against mbedTLS with the key the payload carried), the ECC and RSA keys
 * used by CalcSign (verified by mbedTLS). Refusals: a flipped manifest byte
 * (chip error 0x2C), a flipped fragment byte (0x2D), the object unchanged.
 * Prints ok/FAIL lines; exit 1 on a failure. No Infineon code in this file. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/aes.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>

#include "trustm/cmd.h"
#include "trustm/crypto_ops.h"
#include "trustm/port_open.h"
#include "trustm/trustm.h"

#include "protupd_sets.h"
#include "report.h"

static struct trustm t;
static uint8_t prot = TRUSTM_PROTECT_NONE; /* the SetObjectProtected APDUs' protection */

/* the set's fragments as trustm_protected_update() takes them: concatenated */
static size_t payload_of(const struct pu_set *s, uint8_t *out)
{
    size_t n = 0;
    if (s->cont) {
        memcpy(out, s->cont, s->cont_len);
        n = s->cont_len;
    }
    memcpy(out + n, s->fin, s->fin_len);
    return n + s->fin_len;
}

static tma_status update(const struct pu_set *s, const uint8_t *man, const uint8_t *frags, size_t n)
{
    return trustm_protected_update(&t, prot, man, s->man_len, frags, n);
}

static long version_of(uint16_t oid)
{
    uint8_t md[64], l;
    size_t n = 0;
    if (trustm_read_metadata(&t, TRUSTM_PROTECT_NONE, oid, md, sizeof md, &n) != TMA_OK) {
        return -2;
    }
    const uint8_t *v = pu_md_tag(md, n, 0xC1, &l);
    return v && l == 2 ? (long)(v[0] << 8 | v[1]) : -1;
}

static int data_equal(uint16_t oid, const uint8_t *want, size_t n)
{
    static uint8_t buf[1800];
    size_t len = 0;
    return trustm_read_data(&t, TRUSTM_PROTECT_NONE, oid, 0, buf, sizeof buf, &len) == TMA_OK &&
           len == n && memcmp(buf, want, n) == 0;
}

/* target metadata, the whole update, the version tag 3 */
static int apply(const struct pu_set *s)
{
    static uint8_t frags[1300];
    char step[128];
    tma_status st = trustm_write_metadata(&t, TRUSTM_PROTECT_NONE, s->target, s->md, s->md_len);
    snprintf(step, sizeof step, "target metadata %04X (%s)", s->target, s->name);
    report(st == TMA_OK, step, "%s", tma_status_str(st));
    st = update(s, s->man, frags, payload_of(s, frags));
    snprintf(step, sizeof step, "trustm_protected_update %s", s->name);
    report(st == TMA_OK, step, "%s", tma_status_str(st));
    snprintf(step, sizeof step, "%04X version tag after the update", s->target);
    report(version_of(s->target) == 3, step, "C1 = %ld", version_of(s->target));
    return st == TMA_OK;
}

static void reset_version(uint16_t oid)
{
    tma_status st = trustm_write_metadata(&t, TRUSTM_PROTECT_NONE, oid, reset_version_tag_metadata,
                                          sizeof reset_version_tag_metadata);
    report(st == TMA_OK && version_of(oid) == 0, "version tag back to 0", "%s", tma_status_str(st));
}

static void data_sets(void)
{
    static uint8_t before[700], after[700], plain[1800], man[512], frags[1300];
    const struct pu_set *s = &pu_sets[PU_INT];
    long n = pu_plaintext(s, plain, sizeof plain);
    tma_status st;
    for (size_t i = 0; i < sizeof before; i++) {
        before[i] = (uint8_t)(0x3C ^ i);
    }
    st = trustm_write_data(&t, TRUSTM_PROTECT_NONE, s->target, TRUSTM_WRITE_ERASE, 0, before,
                           sizeof before);
    report(st == TMA_OK, "E0E1 filled with 700 known bytes", "%s", tma_status_str(st));
    st = trustm_write_metadata(&t, TRUSTM_PROTECT_NONE, s->target, s->md, s->md_len);
    report(st == TMA_OK, "target metadata E0E1: Change Int(E0E3)", "%s", tma_status_str(st));
    size_t fl = payload_of(s, frags);
    memcpy(man, s->man, s->man_len);
    man[s->man_len - 1] ^= 0x01;
    st = update(s, man, frags, fl);
    report(st == TMA_CHIP_ERROR(0x2C), "manifest with a flipped signature byte", "%s (want 0x2C)",
           tma_status_str(st));
    frags[300] ^= 0x01;
    st = update(s, s->man, frags, fl);
    report(st == TMA_CHIP_ERROR(0x2D), "first fragment with a flipped byte", "%s (want 0x2D)",
           tma_status_str(st));
    report(data_equal(s->target, before, sizeof before) && version_of(s->target) == -1,
           "E0E1 unchanged after the refusals", "700 bytes, no version tag");
    if (apply(s) && n > 0) {
        /* write type 1: the payload over the first bytes, the used size stays 700 */
        memcpy(after, before, sizeof before);
        memcpy(after, plain, (size_t)n);
        report(data_equal(s->target, after, sizeof after),
               "E0E1 read back = the payload over the old content", "%ld + %zu bytes", n,
               sizeof before - (size_t)n);
    }
    reset_version(s->target);

    s = &pu_sets[PU_CONF];
    n = pu_plaintext(s, plain, sizeof plain);
    if (apply(s)) {
        report(n > 0 && data_equal(s->target, plain, (size_t)n),
               "E0E1 read back = the decrypted payload", "%ld bytes", n);
    }
    reset_version(s->target);
}

static void aes_key(void)
{
    const struct pu_set *s = &pu_sets[PU_AES];
    uint8_t plain[32], in[16], out[32], want[16];
    size_t ol = 0;
    long n = pu_plaintext(s, plain, sizeof plain);
    if (!apply(s) || n != 19) {
        return;
    }
    for (int i = 0; i < 16; i++) {
        in[i] = (uint8_t)(i * 17);
    }
    tma_status st = trustm_sym_encrypt(&t, TRUSTM_PROTECT_NONE, TRUSTM_SYM_ECB, 0xE200, NULL, in,
                                       16, out, sizeof out, &ol);
    mbedtls_aes_context a;
    mbedtls_aes_init(&a);
    int ok = mbedtls_aes_setkey_enc(&a, plain + 3, 128) == 0 &&
             mbedtls_aes_crypt_ecb(&a, MBEDTLS_AES_ENCRYPT, in, want) == 0;
    mbedtls_aes_free(&a);
    report(st == TMA_OK && ok && ol == 16 && !memcmp(out, want, 16),
           "EncryptSym ECB with the imported E200 = mbedTLS with the payload's key", "%s",
           tma_status_str(st));
}

static void ecc_key(void)
{
    const struct pu_set *s = &pu_sets[PU_ECC];
    uint8_t plain[128], digest[32], sig[80], pub[65] = {0x04};
    size_t sl = 0;
    long n = pu_plaintext(s, plain, sizeof plain);
    if (!apply(s) || n != 102) {
        return;
    }
    mbedtls_sha256_ret((const uint8_t *)"libtrustm", 9, digest, 0);
    tma_status st = trustm_sign(&t, TRUSTM_PROTECT_NONE, TRUSTM_SIG_ECDSA, 0xE0F1, digest, 32, sig,
                                sizeof sig, &sl);
    mbedtls_ecdsa_context e;
    mbedtls_ecdsa_init(&e);
    memcpy(pub + 1, plain + 38, 64);
    int ok = st == TMA_OK && mbedtls_ecp_group_load(&e.grp, MBEDTLS_ECP_DP_SECP256R1) == 0 &&
             mbedtls_ecp_point_read_binary(&e.grp, &e.Q, pub, sizeof pub) == 0 &&
             mbedtls_ecdsa_read_signature(&e, digest, 32, sig, sl) == 0;
    mbedtls_ecdsa_free(&e);
    report(ok, "CalcSign with the imported E0F1 verifies with the payload's key", "%s",
           tma_status_str(st));
}

static void metadata_update(void)
{
    const struct pu_set *s = &pu_sets[PU_META];
    uint8_t plain[64], md[64], l;
    size_t m = 0;
    long n = pu_plaintext(s, plain, sizeof plain);
    if (!apply(s) || n <= 0) {
        return;
    }
    tma_status st = trustm_read_metadata(&t, TRUSTM_PROTECT_NONE, s->target, md, sizeof md, &m);
    int ok = st == TMA_OK;
    for (size_t i = 2; ok && i + 1 < (size_t)n; i += 2u + plain[i + 1]) {
        const uint8_t *v = pu_md_tag(md, m, plain[i], &l);
        ok = v && l == plain[i + 1] && !memcmp(v, plain + i + 2, l);
    }
    report(ok, "E0E2 metadata holds every tag of the payload", "%s", tma_status_str(st));
}

static void rsa_key(void)
{
    const struct pu_set *s = &pu_sets[PU_RSA];
    static uint8_t plain[300], sig[256];
    uint8_t digest[32];
    size_t sl = 0;
    long n = pu_plaintext(s, plain, sizeof plain);
    if (!apply(s) || n != 269) {
        return;
    }
    mbedtls_sha256_ret((const uint8_t *)"libtrustm", 9, digest, 0);
    tma_status st = trustm_sign(&t, TRUSTM_PROTECT_NONE, TRUSTM_SIG_RSA_SHA256, 0xE0FC, digest, 32,
                                sig, sizeof sig, &sl);
    mbedtls_rsa_context rsa;
    mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V15, 0);
    int ok = st == TMA_OK && sl == 128 &&
             mbedtls_rsa_import_raw(&rsa, plain + 134, 128, NULL, 0, NULL, 0, NULL, 0, plain + 265,
                                    4) == 0 &&
             mbedtls_rsa_complete(&rsa) == 0 &&
             mbedtls_rsa_pkcs1_verify(&rsa, NULL, NULL, MBEDTLS_RSA_PUBLIC, MBEDTLS_MD_SHA256, 32,
                                      digest, sig) == 0;
    mbedtls_rsa_free(&rsa);
    report(ok, "CalcSign with the imported E0FC verifies with the payload's n, e", "%s",
           tma_status_str(st));
}

/* the integrity set again over the shielded connection (factory binding secret 01..40 of the
 * simulator's E140), every SetObjectProtected APDU protected both ways */
static void shielded(void)
{
    static uint8_t plain[1800], want[1800];
    uint8_t pbs[64];
    const struct pu_set *s = &pu_sets[PU_INT];
    long n = pu_plaintext(s, plain, sizeof plain);
    size_t len = 0;
    for (unsigned i = 0; i < sizeof pbs; i++) {
        pbs[i] = (uint8_t)(i + 1);
    }
    tma_status st = trustm_shield_set_secret(&t, trustm_crypto_mbedtls(), pbs, sizeof pbs);
    report(st == TMA_OK, "trustm_shield_set_secret (the factory binding secret)", "%s",
           tma_status_str(st));
    /* E0E1 holds the confidential set's 814 bytes: the integrity payload over its start */
    st = trustm_read_data(&t, TRUSTM_PROTECT_NONE, s->target, 0, want, sizeof want, &len);
    if (st != TMA_OK || n <= 0 || len < (size_t)n) {
        report(0, "E0E1 read before the shielded update", "%s, %zu bytes", tma_status_str(st), len);
        return;
    }
    memcpy(want, plain, (size_t)n);
    prot = TRUSTM_PROTECT_BOTH;
    if (apply(s)) {
        report(data_equal(s->target, want, len) && trustm_shield_state(&t) != 0,
               "E0E1 after the shielded update = the payload over the old content",
               "shield state %u", trustm_shield_state(&t));
    }
    prot = TRUSTM_PROTECT_NONE;
}

/* one of the example's preconditions: OID's metadata, then its data */
static void provision(uint16_t oid, const uint8_t *md, size_t md_len, const uint8_t *data, size_t len,
                      const char *step)
{
    tma_status st = trustm_write_metadata(&t, TRUSTM_PROTECT_NONE, oid, md, md_len);
    if (st == TMA_OK) {
        st = trustm_write_data(&t, TRUSTM_PROTECT_NONE, oid, TRUSTM_WRITE_ERASE, 0, data, len);
    }
    report(st == TMA_OK, step, "%s", tma_status_str(st));
}

int main(int argc, char **argv)
{
    struct trustm_port port;
    struct trustm_port_handle *h;
    tma_status st;
    if (argc != 2) {
        fprintf(stderr, "usage: %s DEVICE\n", argv[0]);
        return 2;
    }
    st = trustm_port_open(argv[1], &port, &h);
    if (st != TMA_OK) {
        printf("FAIL trustm_port_open %s: %s\n", argv[1], tma_status_str(st));
        return 1;
    }
    trustm_init(&t, &port, NULL);
    st = trustm_open(&t);
    if (st == TMA_OK) {
        st = trustm_open_app(&t, TRUSTM_PROTECT_NONE, NULL);
    }
    report(st == TMA_OK, "trustm_open, trustm_open_app", "%s", tma_status_str(st));
    provision(PU_TRUST_ANCHOR, trust_anchor_metadata, sizeof trust_anchor_metadata, trust_anchor,
              sizeof trust_anchor, "E0E3: the example's trust anchor (metadata, certificate)");
    provision(PU_SECRET, confidentiality_oid_metadata, sizeof confidentiality_oid_metadata, shared_secret,
              sizeof shared_secret, "F1D1: the example's shared secret (metadata, data)");
    data_sets();
    aes_key();
    ecc_key();
    metadata_update();
    rsa_key();
    shielded();
    trustm_deinit(&t);
    trustm_port_close(h);
    printf("protupd_ours: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
