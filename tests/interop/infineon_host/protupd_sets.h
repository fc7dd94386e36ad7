/* What the two protected-update drivers share (protupd_host.c over Infineon's
 * optiga_util, protupd_ours.c over libtrustm; each includes this once): the
 * table of Infineon's example data sets and the plaintext each one carries,
 * recovered on the host with mbedTLS. No Infineon code or data in this file:
 * the arrays come at build time from $OPTIGA_SRC
 * (the headers of examples/optiga/protected_update_data_set, and pu_example_data.h, which
 * tests/interop/infineon_host.sh cuts out of the example
 * examples/optiga/example_optiga_util_protected_update.c: trust_anchor, the
 * metadata arrays, shared_secret). */
#ifndef INTEROP_PROTUPD_SETS_H
#define INTEROP_PROTUPD_SETS_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <mbedtls/ccm.h>
#include <mbedtls/ssl.h>

#include "data_object.h"
#include "data_object_confidentiality.h"
#include "aes_key_object_confidentiality.h"
#include "ecc_key_object_confidentiality.h"
#include "metadata_object_confidentiality.h"
#include "rsa_key_object_confidentiality.h"
#include "pu_example_data.h"

/* OIDs the example uses */
#define PU_TRUST_ANCHOR 0xE0E3
#define PU_SECRET 0xF1D1

/* one data set as the example runs it: the target's metadata is written
 * first, then start / continue (if any) / final */
struct pu_set {
    const char *name;
    uint16_t target;
    const uint8_t *md;
    uint8_t md_len;
    const uint8_t *man, *cont, *fin;
    uint16_t man_len, cont_len, fin_len;
};

#define PU_ARR(a) a, (uint8_t)sizeof(a)
static const struct pu_set pu_sets[] = {
    {"integrity, data E0E1", 0xE0E1, PU_ARR(target_oid_metadata), manifest_int,
     int_continue_fragment_array, int_final_fragment_array, sizeof manifest_int,
     sizeof int_continue_fragment_array, sizeof int_final_fragment_array},
    {"confidentiality, data E0E1", 0xE0E1, PU_ARR(target_oid_metadata_with_confidentiality),
     manifest_int_conf, int_conf_continue_fragment_array, int_conf_final_fragment_array,
     sizeof manifest_int_conf, sizeof int_conf_continue_fragment_array,
     sizeof int_conf_final_fragment_array},
    {"AES-128 key E200", 0xE200, PU_ARR(target_oid_metadata), manifest_aes_key, NULL,
     aes_key_final_fragment_array, sizeof manifest_aes_key, 0, sizeof aes_key_final_fragment_array},
    {"ECC P-256 key E0F1", 0xE0F1, PU_ARR(target_key_oid_metadata), manifest_ecc_key, NULL,
     ecc_key_final_fragment_array, sizeof manifest_ecc_key, 0, sizeof ecc_key_final_fragment_array},
    {"metadata E0E2", 0xE0E2, PU_ARR(target_oid_metadata_for_secure_metadata_update),
     manifest_metadata, NULL, metadata_final_fragment_array, sizeof manifest_metadata, 0,
     sizeof metadata_final_fragment_array},
    {"RSA-1024 key E0FC", 0xE0FC, PU_ARR(target_key_oid_metadata), manifest_rsa_key, NULL,
     rsa_key_final_fragment_array, sizeof manifest_rsa_key, 0, sizeof rsa_key_final_fragment_array},
};
#define PU_SETS (sizeof pu_sets / sizeof pu_sets[0])
enum { PU_INT, PU_CONF, PU_AES, PU_ECC, PU_META, PU_RSA };

/* CBOR unsigned integer at *p (major type 0, at most 2 length bytes); -1 otherwise */
static long pu_cbor_uint(const uint8_t **p)
{
    const uint8_t *q = *p;
    long v;
    if (q[0] < 0x18) {
        v = q[0];
        q += 1;
    } else if (q[0] == 0x18) {
        v = q[1];
        q += 2;
    } else if (q[0] == 0x19) {
        v = (long)q[1] << 8 | q[2];
        q += 3;
    } else {
        return -1;
    }
    *p = q;
    return v;
}

/* payload size and version from the manifest: COSE_Sign1 header (12 bytes in
 * these sets: 84 43 A1 01 26 A1 04 42 TA TA 58 LL), then
 * [1, null, null, [type, size, version, ...] */
static int pu_size_version(const uint8_t *man, long *size, long *version)
{
    const uint8_t *p = man + 12;
    if (memcmp(p, "\x86\x01\xF6\xF6\x84", 5) != 0) {
        return -1;
    }
    p += 6; /* and the payload type (one byte: 0x20..0x22) */
    *size = pu_cbor_uint(&p);
    *version = pu_cbor_uint(&p);
    return *size > 0 && *version > 0 ? 0 : -1;
}

/* The plaintext payload of a set. Integrity only: the fragments without the
 * digests. Confidentiality: the recipient header's label and seed (after the
 * KDF id -65720 = 3A 00 01 00 B7 and key 5 = array(2)), key || nonce prefix =
 * TLS PRF SHA-256 (shared_secret, label || seed), each fragment AES-CCM with
 * nonce || fragment number and AD version || offset || size (Infineon's
 * protected_update_data_set tool, read for facts). Returns the length or -1. */
static long pu_plaintext(const struct pu_set *s, uint8_t *out, size_t cap)
{
    static const uint8_t kdf_id[] = {0x3A, 0x00, 0x01, 0x00, 0xB7, 0x05, 0x82};
    long size, version;
    const uint8_t *k = NULL;
    if (pu_size_version(s->man, &size, &version) != 0 || (size_t)size > cap) {
        return -1;
    }
    for (size_t i = 0; i + sizeof kdf_id < s->man_len; i++) {
        if (memcmp(s->man + i, kdf_id, sizeof kdf_id) == 0) {
            k = s->man + i + sizeof kdf_id;
            break;
        }
    }
    if (k == NULL) { /* integrity only */
        size_t n = s->cont ? s->cont_len - 32u : 0;
        if (n + s->fin_len != (size_t)size) {
            return -1;
        }
        if (s->cont) {
            memcpy(out, s->cont, n);
        }
        memcpy(out + n, s->fin, s->fin_len);
        return size;
    }
    uint8_t ls[96 + 2], key[27];
    size_t ll, sl;
    if ((k[0] & 0xE0) != 0x40 || (k[0] & 0x1F) > 23) {
        return -1;
    }
    ll = k[0] & 0x1Fu;
    if (k[1 + ll] != 0x58 || k[2 + ll] < 16 || k[2 + ll] > 64) {
        return -1;
    }
    sl = k[2 + ll];
    memcpy(ls, k + 1, ll);
    memcpy(ls + ll, k + 3 + ll, sl);
    if (mbedtls_ssl_tls_prf(MBEDTLS_SSL_TLS_PRF_SHA256, shared_secret, sizeof shared_secret, "", ls,
                            ll + sl, key, sizeof key) != 0) {
        return -1;
    }
    mbedtls_ccm_context ccm;
    mbedtls_ccm_init(&ccm);
    int bad = mbedtls_ccm_setkey(&ccm, MBEDTLS_CIPHER_ID_AES, key, 128) != 0;
    size_t off = 0;
    const uint8_t *frag[2] = {s->cont, s->fin};
    size_t flen[2] = {s->cont ? 608u : 0u, s->fin_len};
    unsigned no = 0;
    for (int i = 0; i < 2 && !bad; i++) {
        if (!frag[i]) {
            continue;
        }
        size_t n = flen[i] - 8;
        uint8_t nonce[13], ad[8];
        no++;
        memcpy(nonce, key + 16, 11);
        nonce[11] = (uint8_t)(no >> 8);
        nonce[12] = (uint8_t)no;
        ad[0] = (uint8_t)(version >> 8);
        ad[1] = (uint8_t)version;
        ad[2] = (uint8_t)(off >> 16);
        ad[3] = (uint8_t)(off >> 8);
        ad[4] = (uint8_t)off;
        ad[5] = (uint8_t)(size >> 16);
        ad[6] = (uint8_t)(size >> 8);
        ad[7] = (uint8_t)size;
        bad = off + n > (size_t)size || mbedtls_ccm_auth_decrypt(&ccm, n, nonce, 13, ad, 8, frag[i],
                                                                 out + off, frag[i] + n, 8) != 0;
        off += n;
    }
    mbedtls_ccm_free(&ccm);
    return bad || off != (size_t)size ? -1 : size;
}

/* a tag's value in metadata `20 LL T L V ...`; NULL when absent */
static const uint8_t *pu_md_tag(const uint8_t *md, size_t n, uint8_t tag, uint8_t *len)
{
    for (size_t i = 2; i + 1 < n; i += 2u + md[i + 1]) {
        if (md[i] == tag && i + 2u + md[i + 1] <= n) {
            *len = md[i + 1];
            return md + i + 2;
        }
    }
    return NULL;
}

#endif
