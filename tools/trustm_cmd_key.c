/* trustm CLI: keys, CSR, certificates, trust anchors, sign/verify,
 * personalize, bind, connect. */
#include "trustm_key.h"
#include "trustm/metadata.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/asn1.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha1.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <limits.h>
#include <unistd.h>

/* --help: usage on stdout, exit 0; a missing sub-command: usage on
 * stderr, exit 2 (every command names its flag 'help'). */
#define HELP(text)                               \
    do {                                         \
        fputs(text, help ? stdout : stderr);     \
        return help ? 0 : 2;                     \
    } while (0)

#define CERT_OBJ_MAX 1728u
#define MAX_CHAIN 4

/* ---- small helpers ---------------------------------------------------------- */

static const struct curve curves[] = {
    {"p256", TRUSTM_ALG_P256, MBEDTLS_ECP_DP_SECP256R1, 32},
    {"p384", TRUSTM_ALG_P384, MBEDTLS_ECP_DP_SECP384R1, 48},
};

const struct curve *curve_by_name(const char *s)
{
    size_t i;
    for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        if (!strcmp(s, curves[i].name)) return &curves[i];
    }
    return NULL;
}

static const struct curve *curve_by_grp(mbedtls_ecp_group_id grp)
{
    size_t i;
    for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        if (curves[i].grp == grp) return &curves[i];
    }
    return NULL;
}

/* Key usage words of an ECC key (the only keys this tool generates). Enc
 * (0x02) is not one: the chip decrypts with RSA keys only, so an ECC key
 * with it alone could do nothing at all. */
int parse_usage(const char *s, uint8_t *out)
{
    char tmp[128];
    char *tok, *save = NULL;
    *out = 0;
    if (strlen(s) >= sizeof(tmp)) return -1;
    strcpy(tmp, s);
    for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (!strcmp(tok, "auth")) *out |= TRUSTM_KU_AUTH;
        else if (!strcmp(tok, "sign")) *out |= TRUSTM_KU_SIGN;
        else if (!strcmp(tok, "agreement")) *out |= TRUSTM_KU_AGREE;
        else return -1;
    }
    return *out ? 0 : -1;
}

/* A software pk holding only a public point (for PEM output and checks). */
static int pub_pk(mbedtls_pk_context *pk, mbedtls_ecp_group_id grp, const uint8_t *pt, size_t n)
{
    mbedtls_ecp_keypair *ec;
    mbedtls_pk_init(pk);
    if (mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0) return -1;
    ec = mbedtls_pk_ec(*pk);
    if (mbedtls_ecp_group_load(&ec->grp, grp) != 0 ||
        mbedtls_ecp_point_read_binary(&ec->grp, &ec->Q, pt, n) != 0 ||
        mbedtls_ecp_check_pubkey(&ec->grp, &ec->Q) != 0) {
        mbedtls_pk_free(pk);
        return -1;
    }
    return 0;
}

/* Public key (uncompressed point) and curve of a PEM/DER public key file. */
static int load_pubkey_file(const char *path, const struct curve **cv, uint8_t *pt, size_t *n)
{
    uint8_t *buf;
    size_t len;
    mbedtls_pk_context pk;
    int ret;
    if (read_file(path, &buf, &len, 1u << 16) != 0) return 1;
    mbedtls_pk_init(&pk);
    ret = mbedtls_pk_parse_public_key(&pk, buf, len + 1); /* PEM needs the NUL */
    if (ret != 0) ret = mbedtls_pk_parse_public_key(&pk, buf, len);
    free(buf);
    if (ret != 0 || mbedtls_pk_get_type(&pk) != MBEDTLS_PK_ECKEY ||
        (*cv = curve_by_grp(mbedtls_pk_ec(pk)->grp.id)) == NULL ||
        mbedtls_ecp_point_write_binary(&mbedtls_pk_ec(pk)->grp, &mbedtls_pk_ec(pk)->Q,
                                       MBEDTLS_ECP_PF_UNCOMPRESSED, n, pt, 97) != 0) {
        mbedtls_pk_free(&pk);
        return fail("'%s' is not a P-256/P-384 public key (PEM or DER)", path);
    }
    mbedtls_pk_free(&pk);
    return 0;
}

int print_pub_pem(struct outfile *out, mbedtls_ecp_group_id grp, const uint8_t *pt, size_t n)
{
    mbedtls_pk_context pk;
    unsigned char pem[512];
    if (pub_pk(&pk, grp, pt, n) != 0) return fail("the chip returned an invalid public key");
    if (mbedtls_pk_write_pubkey_pem(&pk, pem, sizeof(pem)) != 0) {
        mbedtls_pk_free(&pk);
        return fail("cannot encode the public key");
    }
    mbedtls_pk_free(&pk);
    return out_finish(out, pem, strlen((char *)pem));
}

int rng_init(struct rng *r)
{
    mbedtls_entropy_init(&r->e);
    mbedtls_ctr_drbg_init(&r->d);
    if (mbedtls_ctr_drbg_seed(&r->d, mbedtls_entropy_func, &r->e,
                              (const unsigned char *)"trustm-cli", 10) != 0) {
        return fail("host random generator failed");
    }
    return 0;
}

void rng_free(struct rng *r)
{
    mbedtls_ctr_drbg_free(&r->d);
    mbedtls_entropy_free(&r->e);
}

int chipkey_bind(struct chipkey *k, struct dev *d, uint16_t slot, const struct curve *cv,
                        const uint8_t *pt, size_t n)
{
    struct tma_tls_signer s;
    struct tma_span pub;
    tma_status st;
    k->signer.chip = &d->chip;
    k->signer.key_oid = slot;
    k->signer.protect = d->protect;
    s.ctx = &k->signer;
    s.sign = tma_tls_chip_sign;
    pub.ptr = pt;
    pub.len = n;
    mbedtls_pk_init(&k->pk);
    st = tma_tls_key_bind(&k->key, &k->pk, cv->grp, pub, &s);
    return st == TMA_OK ? 0 : fail_st(st, "cannot use the public key");
}

static int check_csr(const unsigned char *pem, size_t pem_len)
{
    mbedtls_x509_csr csr;
    unsigned char hash[64];
    const mbedtls_md_info_t *md;
    int ok = 0;
    mbedtls_x509_csr_init(&csr);
    if (mbedtls_x509_csr_parse(&csr, pem, pem_len) == 0 &&
        (md = mbedtls_md_info_from_type(csr.sig_md)) != NULL &&
        mbedtls_md(md, csr.cri.p, csr.cri.len, hash) == 0 &&
        mbedtls_pk_verify(&csr.pk, csr.sig_md, hash, mbedtls_md_get_size(md), csr.sig.p,
                          csr.sig.len) == 0) {
        ok = 1;
    }
    mbedtls_x509_csr_free(&csr);
    return ok;
}

/* PKCS#10 signed by the chip key. pem must hold 4096 bytes. */
int make_csr(struct chipkey *k, const char *subject, unsigned char *pem, size_t cap)
{
    mbedtls_x509write_csr w;
    struct rng r;
    int ret;
    if (rng_init(&r) != 0) return 1;
    mbedtls_x509write_csr_init(&w);
    mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_csr_set_key(&w, &k->pk);
    if (mbedtls_x509write_csr_set_subject_name(&w, subject) != 0) {
        mbedtls_x509write_csr_free(&w);
        rng_free(&r);
        return fail("bad subject '%s' (e.g. 'CN=dev-001,O=Example')", subject);
    }
    ret = mbedtls_x509write_csr_pem(&w, pem, cap, mbedtls_ctr_drbg_random, &r.d);
    mbedtls_x509write_csr_free(&w);
    rng_free(&r);
    if (ret != 0) {
        if (k->key.last_signer_status != TMA_OK) {
            return fail_st(k->key.last_signer_status, "the chip did not sign the CSR");
        }
        return fail("cannot write the CSR (-0x%04X)", (unsigned)-ret);
    }
    if (!check_csr(pem, strlen((char *)pem) + 1)) {
        return fail("the CSR signature does not verify with the given public key: "
                    "the key slot holds a different key");
    }
    return 0;
}

/* LcsO of an object; 0 if absent (treated as unlocked creation). */
int obj_locked(struct dev *d, uint16_t oid, bool *locked)
{
    uint8_t md[64];
    size_t n = 0;
    struct trustm_md m;
    tma_status st = trustm_read_metadata(&d->chip, d->protect, oid, md, sizeof(md), &n);
    if (st != TMA_OK) return fail_st(st, "cannot read the metadata of 0x%04X", oid);
    if (trustm_md_decode(md, n, &m) != TMA_OK) return fail("metadata of 0x%04X does not decode", oid);
    /* Not writable: operational with a change condition other than ALW
     * (nearly all are 'LcsO < op'), or a change condition that is NEV
     * (absent means NEV, spec 8.1), e.g. the factory objects 0xE0E0/0xE0F0. */
    *locked = ((m.present & TRUSTM_MDF_LCSO) && m.lcso >= TRUSTM_LCS_OPERATIONAL &&
               !(m.change.ptr != NULL && m.change.len == 1 && m.change.ptr[0] == 0x00)) ||
              m.change.ptr == NULL || (m.change.len == 1 && m.change.ptr[0] == 0xFF);
    return 0;
}

/* Whether an access condition of oid is met for this session, as far as
 * the host can tell before the command: ALW, LcsO comparisons against the
 * object's LcsO, Conf(0xE140) when the shielded connection is up. Any other
 * condition (Int, Auto, Luc, SecSta, LcsG/LcsA) counts as not met, so a
 * multi-step command refuses it before its first irreversible step.
 * exec: the Execute condition instead of Change. words: the condition
 * rendered for the message. */
static int obj_ac_ok(struct dev *d, uint16_t oid, bool exec, bool *ok, char *words, size_t cap)
{
    uint8_t md[64];
    size_t n = 0;
    struct trustm_md m;
    struct trustm_ac ac;
    const struct tma_span *cond;
    unsigned t, c;
    uint8_t lcso;
    tma_status st = trustm_read_metadata(&d->chip, d->protect, oid, md, sizeof(md), &n);
    *ok = false;
    if (st != TMA_OK) return fail_st(st, "cannot read the metadata of 0x%04X", oid);
    if (trustm_md_decode(md, n, &m) != TMA_OK) return fail("metadata of 0x%04X does not decode", oid);
    cond = exec ? &m.execute : &m.change;
    if (cond->ptr == NULL) {
        snprintf(words, cap, "NEV");
        return 0; /* absent: NEV */
    }
    if (trustm_ac_render(cond->ptr, cond->len, words, cap) != TMA_OK) snprintf(words, cap, "?");
    if (trustm_ac_decode(cond->ptr, cond->len, &ac) != TMA_OK) return 0;
    lcso = (m.present & TRUSTM_MDF_LCSO) ? m.lcso : TRUSTM_LCS_CREATION;
    for (t = 0; t < ac.ntok && !*ok; t++) {
        bool all = ac.ncond[t] > 0;
        for (c = 0; c < ac.ncond[t] && all; c++) {
            const struct trustm_ac_cond *k = &ac.cond[t][c];
            switch (k->id) {
            case TRUSTM_AC_ALW: break;
            case TRUSTM_AC_LCSO:
                all = (k->op == TRUSTM_AC_EQ && lcso == k->arg) || (k->op == TRUSTM_AC_LT && lcso < k->arg) ||
                      (k->op == TRUSTM_AC_GT && lcso > k->arg);
                break;
            case TRUSTM_AC_CONF: all = k->arg == 0xE140 && d->protect == TRUSTM_PROTECT_BOTH; break;
            default: all = false; break;
            }
        }
        *ok = all;
    }
    return 0;
}

int obj_change_ok(struct dev *d, uint16_t oid, bool *ok, char *words, size_t cap)
{
    return obj_ac_ok(d, oid, false, ok, words, cap);
}

int obj_exec_ok(struct dev *d, uint16_t oid, bool *ok, char *words, size_t cap)
{
    return obj_ac_ok(d, oid, true, ok, words, cap);
}

/* Builds a certificate object (TLS-identity wrapper, or one DER). */
int build_certobj(bool der_only, const struct tma_span *certs, int n, uint8_t *out,
                         size_t cap, size_t *out_len)
{
    size_t total = 0;
    int i;
    if (der_only) {
        if (certs[0].len > cap) return -1;
        memcpy(out, certs[0].ptr, certs[0].len);
        *out_len = certs[0].len;
        return 0;
    }
    for (i = 0; i < n; i++) total += 3 + certs[i].len;
    if (6 + total > cap || total > 0xFFFF - 3) return -1;
    out[0] = 0xC0;
    out[1] = (uint8_t)((total + 3) >> 8);
    out[2] = (uint8_t)(total + 3);
    out[3] = (uint8_t)(total >> 16);
    out[4] = (uint8_t)(total >> 8);
    out[5] = (uint8_t)total;
    *out_len = 6;
    for (i = 0; i < n; i++) {
        out[*out_len] = (uint8_t)(certs[i].len >> 16);
        out[*out_len + 1] = (uint8_t)(certs[i].len >> 8);
        out[*out_len + 2] = (uint8_t)certs[i].len;
        memcpy(out + *out_len + 3, certs[i].ptr, certs[i].len);
        *out_len += 3 + certs[i].len;
    }
    return 0;
}

/* Validates and writes a prepared object: size, lock, rollback. */
int write_object(struct dev *d, uint16_t oid, const uint8_t *obj, size_t len,
                        const char *what)
{
    size_t max_size = 0, used = 0, ol = 0;
    bool locked = false;
    uint8_t *old;
    int rc;
    if (obj_sizes(d, oid, &max_size, &used) != 0 || obj_locked(d, oid, &locked) != 0) return 1;
    if (len > max_size) {
        return fail("%s (%zu bytes) does not fit object 0x%04X (%zu bytes); nothing written", what,
                    len, oid, max_size);
    }
    if (locked) {
        char words[96];
        bool ok = false;
        /* locked, but renewable by its owner: say how */
        if (obj_change_ok(d, oid, &ok, words, sizeof(words)) == 0 && strstr(words, "Int(0x") != NULL) {
            return fail("object 0x%04X is locked (change condition %s); nothing written: renew it with a "
                        "signed data set ('trustm update build', 'trustm update apply')", oid, words);
        }
        return fail("object 0x%04X is locked (operational, or change condition NEV); nothing written", oid);
    }
    old = malloc(max_size + 1);
    if (old == NULL) return fail("out of memory");
    if (obj_read(d, oid, old, max_size, &ol) != 0) {
        free(old);
        return 1;
    }
    rc = obj_replace(d, oid, obj, len, old, ol);
    free(old);
    return rc;
}

void thumbprints(const uint8_t *der, size_t n, char *sha1, char *sha256)
{
    uint8_t h[32];
    int i;
    mbedtls_sha1_ret(der, n, h);
    for (i = 0; i < 20; i++) sprintf(sha1 + 2 * i, "%02X", h[i]);
    mbedtls_sha256_ret(der, n, h, 0);
    for (i = 0; i < 32; i++) sprintf(sha256 + 2 * i, "%02X", h[i]);
}

/* ---- keygen ----------------------------------------------------------------- */

int do_keygen(struct dev *d, uint16_t slot, const struct curve *cv, uint8_t usage,
                     uint8_t *pt, size_t *n)
{
    uint8_t buf[160];
    struct trustm_keypair kp;
    tma_status st = trustm_gen_keypair(&d->chip, d->protect, cv->alg, slot, usage, buf,
                                       sizeof(buf), &kp);
    if (st != TMA_OK) return fail_st(st, "key generation in 0x%04X failed", slot);
    if (kp.pub.len != 1 + 2 * cv->bytes || kp.pub.len > 97) {
        return fail("the chip returned a public key of unexpected size");
    }
    memcpy(pt, kp.pub.ptr, kp.pub.len);
    *n = kp.pub.len;
    return 0;
}

int cmd_keygen(int argc, char **argv)
{
    bool help = false;
    const char *slot_s = NULL, *curve_s = "p256", *usage_s = "auth,sign", *out = NULL;
    const struct opt opts[] = {{"--slot", 1, &slot_s, NULL}, {"--curve", 1, &curve_s, NULL},
                               {"--usage", 1, &usage_s, NULL}, {"--out", 1, &out, NULL},
                               {NULL, 0, NULL, NULL}};
    int np, rc = 1;
    uint16_t slot;
    const struct curve *cv;
    uint8_t usage, pt[97];
    size_t n = 0;
    struct dev d;
    struct outfile of;

    if (parse_opts(argc, argv, opts, NULL, 0, &np, &help) != 0) return 1;
    if (help)
        HELP("usage: trustm keygen --slot 0xE0F1 [--curve p256|p384] [--usage auth,sign,agreement]\n"
             "                     [--out pub.pem]\n"
             "Generates a key pair inside the chip (the private key never leaves it) and\n"
             "prints the public key as PEM. Default usage: auth,sign.\n");
    if (slot_s == NULL || parse_oid(slot_s, &slot) != 0 || !tool_oid_is_ecc_key(slot)) {
        return fail("keygen: --slot must be an ECC key slot 0xE0F0..0xE0F3");
    }
    if ((cv = curve_by_name(curve_s)) == NULL) return fail("keygen: --curve must be p256 or p384");
    if (parse_usage(usage_s, &usage) != 0) {
        return fail("keygen: bad --usage '%s' (auth,sign,agreement)", usage_s);
    }
    /* The output first: a key generated for a file that cannot be written
     * would be a key whose public half is lost. */
    if (out_prepare(&of, out) != 0) return 1;
    if (dev_open(&d) != 0) {
        outfile_abort(&of);
        return 1;
    }
    if (do_keygen(&d, slot, cv, usage, pt, &n) == 0) rc = print_pub_pem(&of, cv->grp, pt, n);
    outfile_abort(&of);
    dev_close(&d);
    return rc;
}

/* ---- csr ---------------------------------------------------------------------- */

/* y for x on a short-Weierstrass curve with p = 3 (mod 4) (P-256, P-384),
 * with the parity asked for. */
static int lift_x(const mbedtls_ecp_group *grp, const mbedtls_mpi *x, int odd, mbedtls_ecp_point *R)
{
    mbedtls_mpi rhs, t, e;
    int ret = -1;
    mbedtls_mpi_init(&rhs);
    mbedtls_mpi_init(&t);
    mbedtls_mpi_init(&e);
    /* rhs = x^3 - 3x + b (A is implicit -3 for these curves) */
    if (mbedtls_mpi_mul_mpi(&t, x, x) || mbedtls_mpi_mod_mpi(&t, &t, &grp->P) ||
        mbedtls_mpi_mul_mpi(&rhs, &t, x) || mbedtls_mpi_mod_mpi(&rhs, &rhs, &grp->P) ||
        mbedtls_mpi_mul_int(&t, x, 3) || mbedtls_mpi_sub_mpi(&rhs, &rhs, &t) ||
        mbedtls_mpi_add_mpi(&rhs, &rhs, &grp->B) || mbedtls_mpi_mod_mpi(&rhs, &rhs, &grp->P) ||
        /* y = rhs^((p+1)/4) */
        mbedtls_mpi_add_int(&e, &grp->P, 1) || mbedtls_mpi_shift_r(&e, 2) ||
        mbedtls_mpi_exp_mod(&R->Y, &rhs, &e, &grp->P, NULL)) {
        goto out;
    }
    if (mbedtls_mpi_get_bit(&R->Y, 0) != (odd ? 1 : 0) &&
        mbedtls_mpi_sub_mpi(&R->Y, &grp->P, &R->Y) != 0) {
        goto out;
    }
    if (mbedtls_mpi_copy(&R->X, x) || mbedtls_mpi_lset(&R->Z, 1)) goto out;
    ret = mbedtls_ecp_check_pubkey(grp, R) == 0 ? 0 : -1; /* on the curve? */
out:
    mbedtls_mpi_free(&rhs);
    mbedtls_mpi_free(&t);
    mbedtls_mpi_free(&e);
    return ret;
}

/* The two public keys an ECDSA signature (DER) over digest e can come from:
 * Q = r^-1 (s R - e G) for R = (r, y) with either y. */
static int recover_candidates(const mbedtls_ecp_group *grp, const uint8_t *dg, size_t dl,
                              const uint8_t *sig, size_t sl, mbedtls_ecp_point out[2], int *n)
{
    mbedtls_mpi r, sv, e, rinv, u1, u2;
    const unsigned char *p = sig;
    const unsigned char *end = sig + sl;
    size_t len;
    int k, ret = -1;
    *n = 0;
    mbedtls_mpi_init(&r); mbedtls_mpi_init(&sv); mbedtls_mpi_init(&e);
    mbedtls_mpi_init(&rinv); mbedtls_mpi_init(&u1); mbedtls_mpi_init(&u2);
    if (mbedtls_asn1_get_tag((unsigned char **)&p, end, &len,
                             MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) ||
        mbedtls_asn1_get_mpi((unsigned char **)&p, end, &r) ||
        mbedtls_asn1_get_mpi((unsigned char **)&p, end, &sv) ||
        mbedtls_mpi_read_binary(&e, dg, dl) ||
        mbedtls_mpi_inv_mod(&rinv, &r, &grp->N) ||
        mbedtls_mpi_mul_mpi(&u1, &rinv, &sv) || mbedtls_mpi_mod_mpi(&u1, &u1, &grp->N) ||
        mbedtls_mpi_mul_mpi(&u2, &rinv, &e) || mbedtls_mpi_mod_mpi(&u2, &u2, &grp->N) ||
        mbedtls_mpi_sub_mpi(&u2, &grp->N, &u2)) {
        goto out;
    }
    for (k = 0; k < 2; k++) {
        mbedtls_ecp_point R;
        mbedtls_ecp_point_init(&R);
        if (lift_x(grp, &r, k, &R) == 0 &&
            mbedtls_ecp_muladd((mbedtls_ecp_group *)grp, &out[*n], &u1, &R, &u2, &grp->G) == 0) {
            (*n)++;
        }
        mbedtls_ecp_point_free(&R);
    }
    ret = *n > 0 ? 0 : -1;
out:
    mbedtls_mpi_free(&r); mbedtls_mpi_free(&sv); mbedtls_mpi_free(&e);
    mbedtls_mpi_free(&rinv); mbedtls_mpi_free(&u1); mbedtls_mpi_free(&u2);
    return ret;
}

/* The chip never exports a stored key's public half; two signatures on
 * different random digests pin it down (each allows two keys; the common
 * one is it). Costs two CalcSign. */
static int recover_pubkey(struct dev *d, uint16_t slot, const struct curve **cv, uint8_t *pt,
                          size_t *n)
{
    uint8_t md[64], dg[2][48], sig[2][TMA_TLS_MAX_SIG_DER];
    size_t ml = 0, sl[2];
    struct trustm_md m;
    mbedtls_ecp_group grp;
    mbedtls_ecp_point c[2][2];
    int nc[2] = {0, 0}, i, j, k, rc = 1, found = 0;
    tma_status st;

    st = trustm_read_metadata(&d->chip, d->protect, slot, md, sizeof(md), &ml);
    if (st != TMA_OK) return fail_st(st, "cannot read the metadata of 0x%04X", slot);
    if (trustm_md_decode(md, ml, &m) != TMA_OK || !(m.present & TRUSTM_MDF_ALGORITHM)) {
        return fail("0x%04X holds no key", slot);
    }
    *cv = NULL;
    for (i = 0; i < (int)(sizeof(curves) / sizeof(curves[0])); i++) {
        if (curves[i].alg == m.algorithm) *cv = &curves[i];
    }
    if (*cv == NULL) return fail("0x%04X holds a key this tool cannot use (not P-256/P-384)", slot);
    mbedtls_ecp_group_init(&grp);
    for (i = 0; i < 2; i++) for (j = 0; j < 2; j++) mbedtls_ecp_point_init(&c[i][j]);
    if (mbedtls_ecp_group_load(&grp, (*cv)->grp) != 0) goto out;
    for (i = 0; i < 2; i++) {
        st = trustm_get_random(&d->chip, d->protect, TRUSTM_RNG_TRNG, dg[i], (*cv)->bytes);
        if (st == TMA_OK) {
            st = trustm_sign(&d->chip, d->protect, TRUSTM_SIG_ECDSA, slot, dg[i], (*cv)->bytes,
                             sig[i], sizeof(sig[i]), &sl[i]);
        }
        if (st != TMA_OK) {
            fail_st(st, "cannot sign with 0x%04X to learn its public key%s", slot,
                    st == TMA_CHIP_ERROR(0x07) && d->protect == TRUSTM_PROTECT_NONE
                        ? " (chip error 0x07: its Execute condition is not met; a bound key needs --binding FILE)"
                        : "");
            goto out;
        }
        if (recover_candidates(&grp, dg[i], (*cv)->bytes, sig[i], sl[i], c[i], &nc[i]) != 0) {
            fail("the signature of 0x%04X does not lead to a public key", slot);
            goto out;
        }
    }
    for (j = 0; j < nc[0]; j++) {
        for (k = 0; k < nc[1]; k++) {
            if (mbedtls_ecp_point_cmp(&c[0][j], &c[1][k]) == 0) {
                if (mbedtls_ecp_point_write_binary(&grp, &c[0][j], MBEDTLS_ECP_PF_UNCOMPRESSED, n,
                                                   pt, 97) == 0) {
                    found++;
                }
            }
        }
    }
    if (found != 1) {
        fail("the public key of 0x%04X could not be determined; pass --pubkey", slot);
        goto out;
    }
    rc = 0;
out:
    for (i = 0; i < 2; i++) for (j = 0; j < 2; j++) mbedtls_ecp_point_free(&c[i][j]);
    mbedtls_ecp_group_free(&grp);
    return rc;
}

/* Public key for a slot: --pubkey file, the certificate in the paired
 * certificate object (0xE0Fx -> 0xE0Ex) when it is that key's, or recovered
 * from two signatures. */
static int slot_pubkey(struct dev *d, uint16_t slot, const char *pub_file, const struct curve **cv,
                       uint8_t *pt, size_t *n)
{
    uint8_t buf[CERT_OBJ_MAX];
    mbedtls_x509_crt chain;
    tma_status st;
    const mbedtls_ecp_keypair *ec;
    uint8_t rec[97];
    size_t rn = 0;
    const struct curve *rcv = NULL;
    if (pub_file != NULL) return load_pubkey_file(pub_file, cv, pt, n);
    if (recover_pubkey(d, slot, &rcv, rec, &rn) != 0) return 1;
    *cv = rcv;
    memcpy(pt, rec, rn);
    *n = rn;
    /* Cross-check with the paired certificate when there is one: a
     * certificate for another key is reported, not silently reused. */
    mbedtls_x509_crt_init(&chain);
    st = tma_tls_chip_load_certs(&d->chip, d->protect, (uint16_t)(slot - 0x10), buf, sizeof(buf),
                                 &chain, NULL);
    if (st == TMA_OK && mbedtls_pk_get_type(&chain.pk) == MBEDTLS_PK_ECKEY) {
        uint8_t cp[97];
        size_t cn = 0;
        ec = mbedtls_pk_ec(chain.pk);
        if (mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q, MBEDTLS_ECP_PF_UNCOMPRESSED, &cn, cp,
                                           sizeof(cp)) == 0 &&
            (cn != rn || memcmp(cp, rec, rn) != 0)) {
            fprintf(stderr, "trustm: note: the certificate in 0x%04X is for another key\n",
                    slot - 0x10);
        }
    }
    mbedtls_x509_crt_free(&chain);
    return 0;
}

int cmd_csr(int argc, char **argv)
{
    bool help = false, new_key = false;
    const char *slot_s = NULL, *subject = NULL, *out = NULL, *pub_file = NULL, *curve_s = "p256",
               *usage_s = "auth,sign";
    const struct opt opts[] = {{"--slot", 1, &slot_s, NULL},    {"--subject", 1, &subject, NULL},
                               {"--out", 1, &out, NULL},        {"--pubkey", 1, &pub_file, NULL},
                               {"--new-key", 0, NULL, &new_key}, {"--curve", 1, &curve_s, NULL},
                               {"--usage", 1, &usage_s, NULL},  {NULL, 0, NULL, NULL}};
    int np, rc = 1;
    uint16_t slot;
    const struct curve *cv = NULL;
    uint8_t pt[97], usage;
    size_t n = 0;
    struct dev d;
    struct chipkey k;
    unsigned char pem[4096];
    struct outfile of;

    if (parse_opts(argc, argv, opts, NULL, 0, &np, &help) != 0) return 1;
    if (help)
        HELP("usage: trustm csr --slot 0xE0F1 --subject 'CN=dev-001,O=Example' [--out FILE]\n"
             "                  [--pubkey pub.pem | --new-key [--curve p256|p384] [--usage ...]]\n"
             "A PKCS#10 request signed by the chip key in SLOT. The chip never exports a\n"
             "stored key's public half: it comes from --pubkey (keygen's output), from a\n"
             "new key (--new-key), or is recovered from two chip signatures (ECDSA public\n"
             "key recovery; costs two CalcSign).\n"
             "The request is checked before it is printed.\n");
    if (slot_s == NULL || parse_oid(slot_s, &slot) != 0 || !tool_oid_is_ecc_key(slot)) {
        return fail("csr: --slot must be an ECC key slot 0xE0F0..0xE0F3");
    }
    if (subject == NULL || strncmp(subject, "CN=", 3) != 0) {
        return fail("csr: --subject 'CN=...' is required");
    }
    if (check_subject(subject) != 0) return 1;
    if (new_key && pub_file != NULL) return fail("csr: --new-key and --pubkey exclude each other");
    if (new_key && ((cv = curve_by_name(curve_s)) == NULL || parse_usage(usage_s, &usage) != 0)) {
        return fail("csr: bad --curve or --usage");
    }
    {
        const char *outs[1] = {out}, *out_names[1] = {"--out"}, *ins[1] = {pub_file}, *in_names[1] = {"--pubkey"};
        if (out_clash("csr", outs, out_names, 1, ins, in_names, 1) != 0) return 1;
    }
    /* The output first (--new-key generates a key; recovery costs two
     * signatures). */
    if (out_prepare(&of, out) != 0) return 1;
    if (dev_open(&d) != 0) {
        outfile_abort(&of);
        return 1;
    }
    if (new_key ? do_keygen(&d, slot, cv, usage, pt, &n) != 0
                : slot_pubkey(&d, slot, pub_file, &cv, pt, &n) != 0) {
        goto out;
    }
    if (chipkey_bind(&k, &d, slot, cv, pt, n) != 0) goto out;
    if (make_csr(&k, subject, pem, sizeof(pem)) == 0) rc = out_finish(&of, pem, strlen((char *)pem));
    mbedtls_pk_free(&k.pk);
out:
    outfile_abort(&of);
    dev_close(&d);
    return rc;
}

/* ---- cert ------------------------------------------------------------------- */

static int output_certs(const char *out, const mbedtls_x509_crt *chain, bool all, bool der)
{
    const mbedtls_x509_crt *c;
    size_t cap = 65536, len = 0;
    uint8_t *buf = malloc(cap);
    int rc;
    if (buf == NULL) return fail("out of memory");
    for (c = chain; c != NULL && c->raw.p != NULL; c = all ? c->next : NULL) {
        if (der) {
            if (len + c->raw.len > cap) break;
            memcpy(buf + len, c->raw.p, c->raw.len);
            len += c->raw.len;
        } else if (pem_write("CERTIFICATE", c->raw.p, c->raw.len, (char *)buf + len, cap - len) == 0) {
            len += strlen((char *)buf + len);
        }
        if (!all) break;
    }
    rc = write_out(out, buf, len);
    free(buf);
    return rc;
}

int cmd_cert(int argc, char **argv)
{
    bool help = false, pem = false, der = false, chain_f = false, der_obj = false;
    const char *oid_s = NULL, *out = NULL;
    const struct opt opts[] = {{"--oid", 1, &oid_s, NULL},   {"--out", 1, &out, NULL},
                               {"--pem", 0, NULL, &pem},     {"--der", 0, NULL, &der},
                               {"--chain", 0, NULL, &chain_f}, {"--der-object", 0, NULL, &der_obj},
                               {NULL, 0, NULL, NULL}};
    const char *pos[2];
    int np, rc = 1;
    uint16_t oid;
    struct dev d;

    if (parse_opts(argc, argv, opts, pos, 2, &np, &help) != 0) return 1;
    if (help || np == 0)
        HELP("usage: trustm cert read  --oid 0xE0E1 [--pem|--der] [--chain] [--out FILE]\n"
             "       trustm cert write --oid 0xE0E1 FILE [--chain] [--der-object]\n"
             "read: the certificate (leaf; --chain: all) of a certificate object, PEM by default.\n"
             "write: FILE holds PEM or DER certificates, leaf first. The object gets the\n"
             "TLS-identity wrapper (0xC0) with the leaf, or the whole chain with --chain;\n"
             "--der-object stores the leaf as plain DER. Refused before anything is written\n"
             "when it does not fit the object or the object is locked; read back after.\n");
    if (strcmp(pos[0], "read") != 0 && strcmp(pos[0], "write") != 0) {
        return fail("cert: unknown action '%s' (read or write)", pos[0]);
    }
    if (oid_s == NULL || parse_oid(oid_s, &oid) != 0 || !tool_oid_is_cert(oid)) {
        return fail("cert: --oid must be a certificate object 0xE0E0..0xE0E3");
    }
    if (pem && der) return fail("cert: --pem and --der exclude each other");
    if (!strcmp(pos[0], "read")) {
        uint8_t buf[CERT_OBJ_MAX];
        mbedtls_x509_crt chain;
        tma_status st;
        if (np != 1) return fail("cert read: unexpected argument '%s'", pos[1]);
        if (dev_open(&d) != 0) return 1;
        mbedtls_x509_crt_init(&chain);
        st = tma_tls_chip_load_certs(&d.chip, d.protect, oid, buf, sizeof(buf), &chain, NULL);
        if (st == TMA_ERR(TMA_LAYER_TLS, TMA_C_NOT_FOUND)) {
            fail("cert read: 0x%04X holds no certificate", oid);
        } else if (st != TMA_OK) {
            fail_st(st, "cert read: 0x%04X", oid);
        } else {
            rc = output_certs(out, &chain, chain_f, der);
        }
        mbedtls_x509_crt_free(&chain);
        dev_close(&d);
        return rc;
    }
    if (!strcmp(pos[0], "write")) {
        struct tma_span certs[MAX_CHAIN];
        uint8_t *store = NULL;
        uint8_t obj[8192];
        size_t ol = 0;
        int nc;
        if (np != 2) return fail("cert write: the certificate FILE is required");
        if (chain_f && der_obj) return fail("cert write: --der-object holds one certificate, not a --chain");
        nc = load_certs_file(pos[1], &store, certs, MAX_CHAIN);
        if (nc < 0) return 1;
        if (build_certobj(der_obj, certs, chain_f ? nc : 1, obj, sizeof(obj), &ol) != 0) {
            free(store);
            return fail("cert write: the certificates are too large for any certificate object");
        }
        free(store);
        if (dev_open(&d) != 0) return 1;
        rc = write_object(&d, oid, obj, ol, "the certificate object");
        if (rc == 0) printf("wrote %zu bytes to 0x%04X\n", ol, oid);
        dev_close(&d);
        return rc;
    }
    return fail("cert: unknown action '%s' (read or write)", pos[0]);
}

/* ---- trust-anchor ------------------------------------------------------------ */

int data_file(const char *name, char *path, size_t cap)
{
    /* $TRUSTM_DATA_DIR, then next to the installed binary
     * (<prefix>/bin/trustm -> <prefix>/share/trustm-azure), then the install
     * directory configured at build time, then the source tree. */
    char exe[PATH_MAX], rel[PATH_MAX + 32];
    const char *dirs[4];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    int i;
    dirs[0] = getenv("TRUSTM_DATA_DIR");
    dirs[1] = NULL;
    if (n > 0) {
        char *slash;
        exe[n] = 0;
        slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = 0;
            snprintf(rel, sizeof(rel), "%s/../share/trustm-azure", exe);
            dirs[1] = rel;
        }
    }
    dirs[2] = TRUSTM_TOOL_DATA_DIR;
    dirs[3] = TRUSTM_TOOL_SRC_DATA_DIR;
    for (i = 0; i < 4; i++) {
        if (dirs[i] == NULL) continue;
        snprintf(path, cap, "%s/%s", dirs[i], name);
        if (access(path, R_OK) == 0) return 0;
    }
    return fail("data file %s not found (set TRUSTM_DATA_DIR)", name);
}

int ta_prepare(const char *file, uint8_t **store, struct tma_span *cert)
{
    mbedtls_x509_crt c;
    /* Room for as many as a file may bring (the caller has one span): a
     * file with two used to write the second past the caller's variable. */
    struct tma_span certs[MAX_CHAIN];
    int n = load_certs_file(file, store, certs, MAX_CHAIN);
    if (n < 0) return 1;
    /* On failure *store is freed and NULL: personalize frees it again on
     * its way out (a double free before). */
    if (n != 1) {
        free(*store);
        *store = NULL;
        return fail("'%s' holds %d certificates; a trust anchor object takes exactly one", file, n);
    }
    *cert = certs[0];
    mbedtls_x509_crt_init(&c);
    if (mbedtls_x509_crt_parse_der(&c, cert->ptr, cert->len) != 0 || !c.ca_istrue) {
        mbedtls_x509_crt_free(&c);
        free(*store);
        *store = NULL;
        return fail("'%s' is not a CA certificate (basicConstraints CA:TRUE)", file);
    }
    mbedtls_x509_crt_free(&c);
    return 0;
}

/* The reminder that a written trust anchor can be replaced until its
 * object is locked, with the condition that allows it. */
static int ta_unlocked_note(struct dev *d, uint16_t oid)
{
    char words[96];
    bool ok = false;
    if (obj_ac_ok(d, oid, false, &ok, words, sizeof(words)) != 0) return 1;
    printf("note: 0x%04X is not locked: until it is ('trustm lock --oid 0x%04X --yes', or "
           "'personalize --lock'), a write that meets its change condition (%s) can replace it\n",
           oid, oid, words);
    return 0;
}

int cmd_trust_anchor(int argc, char **argv)
{
    bool help = false, azure = false;
    const char *oid_s = "0xE0E8", *backup_s = "0xF1E0";
    const struct opt opts[] = {{"--oid", 1, &oid_s, NULL}, {"--azure", 0, NULL, &azure},
                               {"--backup-oid", 1, &backup_s, NULL}, {NULL, 0, NULL, NULL}};
    const char *pos[2];
    int np, rc = 1;
    uint16_t oid, boid;
    struct dev d;
    struct tma_span c1, c2;
    uint8_t *s1 = NULL, *s2 = NULL;
    size_t max1 = 0, max2 = 0;
    bool l1 = false, l2 = false;
    char p1[512], p2[512];

    memset(&d, 0, sizeof(d));
    if (parse_opts(argc, argv, opts, pos, 2, &np, &help) != 0) return 1;
    if (help || np == 0)
        HELP("usage: trustm trust-anchor write [--oid 0xE0E8] FILE\n"
             "       trustm trust-anchor write [--oid 0xE0E8] --azure [--backup-oid 0xF1E0]\n"
             "Writes one CA certificate (PEM or DER) as the server trust anchor.\n"
             "--azure writes the roots Azure IoT Hub uses: DigiCert Global Root G2 into --oid\n"
             "and Microsoft RSA Root Certificate Authority 2017 (1452 bytes, too large for a\n"
             "1200-byte trust-anchor object) into --backup-oid, a 1500-byte data object.\n"
             "Everything is checked before the first byte is written.\n");
    if (strcmp(pos[0], "write") != 0) return fail("trust-anchor: unknown action '%s' (write)", pos[0]);
    if (parse_oid(oid_s, &oid) != 0 || !tool_oid_is_ta(oid)) {
        return fail("trust-anchor: --oid must be a trust anchor object (0xE0E8, 0xE0E9, 0xE0EF)");
    }
    if (azure == (np == 2)) return fail("trust-anchor write: give a FILE or --azure (not both)");
    if (azure) {
        if (parse_oid(backup_s, &boid) != 0 || boid == oid || tool_oid_is_key(boid) || tool_oid_is_cert(boid)) {
            return fail("trust-anchor: bad --backup-oid '%s'", backup_s);
        }
        if (data_file("DigiCert_Global_Root_G2.der", p1, sizeof(p1)) ||
            data_file("Microsoft_RSA_Root_Certificate_Authority_2017.der", p2, sizeof(p2))) {
            return 1;
        }
        if (ta_prepare(p1, &s1, &c1) != 0) return 1;
        if (ta_prepare(p2, &s2, &c2) != 0) {
            free(s1);
            return 1;
        }
    } else if (ta_prepare(pos[1], &s1, &c1) != 0) {
        return 1;
    }
    if (dev_open(&d) != 0) goto done;
    /* Check both objects before writing either. */
    if (obj_sizes(&d, oid, &max1, NULL) != 0 || obj_locked(&d, oid, &l1) != 0) goto done;
    if (c1.len > max1) {
        fail("trust anchor (%zu bytes) does not fit object 0x%04X (%zu bytes); nothing written",
             c1.len, oid, max1);
        goto done;
    }
    if (l1) {
        fail("object 0x%04X is locked; nothing written", oid);
        goto done;
    }
    if (azure) {
        if (obj_sizes(&d, boid, &max2, NULL) != 0 || obj_locked(&d, boid, &l2) != 0) goto done;
        if (c2.len > max2 || l2) {
            fail("backup root (%zu bytes) does not fit or 0x%04X is locked; nothing written",
                 c2.len, boid);
            goto done;
        }
    }
    if (write_object(&d, oid, c1.ptr, c1.len, "the trust anchor") != 0) goto done;
    printf("trust anchor written to 0x%04X (%zu bytes) from %s\n", oid, c1.len, azure ? p1 : pos[1]);
    if (azure) {
        if (write_object(&d, boid, c2.ptr, c2.len, "the backup root") != 0) goto done;
        printf("backup root written to 0x%04X (%zu bytes) from %s\n", boid, c2.len, p2);
    }
    /* Both were unlocked (checked above) and stay so: the chip trusts
     * whatever is written there next (docs/security.md, rule 1). */
    if (ta_unlocked_note(&d, oid) != 0 || (azure && ta_unlocked_note(&d, boid) != 0)) goto done;
    rc = 0;
done:
    dev_close(&d);
    free(s1);
    free(s2);
    return rc;
}

/* ---- sign / verify ------------------------------------------------------------ */

static int digest_of(const char *in, const char *hex, uint8_t *dg, size_t *dl)
{
    if ((in == NULL) == (hex == NULL)) return fail("give exactly one of --in FILE or --digest HEX");
    if (in != NULL) {
        uint8_t *buf;
        size_t n;
        if (read_file(in, &buf, &n, 1u << 30) != 0) return 1;
        mbedtls_sha256_ret(buf, n, dg, 0);
        free(buf);
        *dl = 32;
        return 0;
    } else {
        long l = parse_hex(hex, dg, 64);
        if (l < 10 || l > 64) return fail("--digest must be 10..64 bytes of hex");
        *dl = (size_t)l;
        return 0;
    }
}

int cmd_sign(int argc, char **argv)
{
    bool help = false;
    const char *slot_s = NULL, *in = NULL, *hex = NULL, *out = NULL;
    const struct opt opts[] = {{"--slot", 1, &slot_s, NULL}, {"--in", 1, &in, NULL},
                               {"--digest", 1, &hex, NULL}, {"--out", 1, &out, NULL},
                               {NULL, 0, NULL, NULL}};
    int np, rc = 1;
    uint16_t slot;
    uint8_t dg[64], sig[160];
    size_t dl = 0, sl = 0;
    struct dev d;
    tma_status st;
    struct outfile of;

    if (parse_opts(argc, argv, opts, NULL, 0, &np, &help) != 0) return 1;
    if (help)
        HELP("usage: trustm sign --slot 0xE0F1 (--in FILE | --digest HEX) [--out sig.der]\n"
             "ECDSA signature (DER, as 'openssl dgst -sha256 -verify' expects) over the\n"
             "SHA-256 of FILE, or over a given digest. Hex on stdout unless --out.\n");
    if (slot_s == NULL || parse_oid(slot_s, &slot) != 0 || !tool_oid_is_ecc_key(slot)) {
        return fail("sign: --slot must be an ECC key slot 0xE0F0..0xE0F3");
    }
    {
        const char *outs[1] = {out}, *out_names[1] = {"--out"}, *ins[1] = {in}, *in_names[1] = {"--in"};
        if (out_clash("sign", outs, out_names, 1, ins, in_names, 1) != 0) return 1;
    }
    if (digest_of(in, hex, dg, &dl) != 0) return 1;
    /* The output first: a signature is a Security Monitor event. */
    if (out_prepare(&of, out) != 0) return 1;
    if (dev_open(&d) != 0) {
        outfile_abort(&of);
        return 1;
    }
    st = trustm_sign(&d.chip, d.protect, TRUSTM_SIG_ECDSA, slot, dg, dl, sig, sizeof(sig), &sl);
    if (st == TMA_CHIP_ERROR(0x07)) {
        /* A key bound to the platform binding signs only under it. */
        fail_st(st, "sign: the chip refused to sign with 0x%04X (chip error 0x07: its Execute "
                "condition is not met%s)", slot,
                d.protect == TRUSTM_PROTECT_NONE ? "; a bound key needs --binding FILE" : "");
    } else if (st == TMA_CHIP_ERROR(0x0B)) {
        /* What the chip answers for an empty key slot. */
        fail_st(st, "sign: the chip refused to sign with 0x%04X (chip error 0x0B: is there a key in "
                "it? 'trustm info' lists empty key slots as free)", slot);
    } else if (st != TMA_OK) {
        fail_st(st, "sign: the chip refused to sign with 0x%04X", slot);
    } else if (out == NULL) {
        print_hex(sig, sl);
        rc = 0;
    } else {
        rc = out_finish(&of, sig, sl);
    }
    outfile_abort(&of);
    dev_close(&d);
    return rc;
}

/* VerifySign takes a certificate object only when it holds one plain DER
 * certificate (spec 9.4); the TLS-identity wrapper (0xC0) that cert write,
 * personalize and the factory object 0xE0E0 hold is refused by the chip
 * ("invalid certificate format"). For a wrapper, key->cert_oid is replaced
 * by the leaf certificate's public key, so the chip still checks the
 * signature, with the key the object names. Other objects are left to the
 * chip. */
static int verify_key_of_object(struct dev *d, struct trustm_pubkey *key, uint8_t *pt, size_t cap)
{
    uint8_t obj[CERT_OBJ_MAX];
    mbedtls_x509_crt chain;
    const struct curve *cv;
    size_t pl = 0;
    uint16_t oid = key->cert_oid;
    int rc = 0;
    tma_status st;

    mbedtls_x509_crt_init(&chain);
    st = tma_tls_chip_load_certs(&d->chip, d->protect, oid, obj, sizeof(obj), &chain, NULL);
    if (st == TMA_ERR(TMA_LAYER_TLS, TMA_C_NOT_FOUND)) {
        rc = fail("verify: 0x%04X holds no certificate", oid);
    } else if (st == TMA_OK && obj[0] == 0xC0) {
        if (mbedtls_pk_get_type(&chain.pk) != MBEDTLS_PK_ECKEY ||
            (cv = curve_by_grp(mbedtls_pk_ec(chain.pk)->grp.id)) == NULL ||
            mbedtls_ecp_point_write_binary(&mbedtls_pk_ec(chain.pk)->grp, &mbedtls_pk_ec(chain.pk)->Q,
                                           MBEDTLS_ECP_PF_UNCOMPRESSED, &pl, pt, cap) != 0) {
            rc = fail("verify: the certificate in 0x%04X has no P-256/P-384 key", oid);
        } else {
            fprintf(stderr, "trustm: note: 0x%04X holds a TLS-identity wrapper, which VerifySign does "
                    "not take: verifying with its leaf certificate's public key\n", oid);
            key->cert_oid = 0;
            key->alg = cv->alg;
            key->key = pt;
            key->key_len = pl;
        }
    }
    mbedtls_x509_crt_free(&chain);
    return rc;
}

int cmd_verify(int argc, char **argv)
{
    bool help = false;
    const char *in = NULL, *hex = NULL, *sig_f = NULL, *pub_f = NULL, *cert_s = NULL;
    const struct opt opts[] = {{"--in", 1, &in, NULL},        {"--digest", 1, &hex, NULL},
                               {"--sig", 1, &sig_f, NULL},    {"--pubkey", 1, &pub_f, NULL},
                               {"--cert-oid", 1, &cert_s, NULL}, {NULL, 0, NULL, NULL}};
    int np, rc = 1;
    uint8_t dg[64], pt[97];
    size_t dl = 0, pl = 0, sl = 0;
    uint8_t *sig = NULL;
    struct trustm_pubkey key;
    const struct curve *cv = NULL;
    struct dev d;
    tma_status st;

    if (parse_opts(argc, argv, opts, NULL, 0, &np, &help) != 0) return 1;
    if (help)
        HELP("usage: trustm verify (--in FILE | --digest HEX) --sig sig.der\n"
             "                     (--pubkey pub.pem | --cert-oid 0xE0E1)\n"
             "Verifies a DER ECDSA signature on the chip (VerifySign) with a host public key\n"
             "or the certificate in a chip object (0xE0E0..0xE0E3). An object with one plain\n"
             "DER certificate ('cert write --der-object') goes to the chip as it is; the\n"
             "chip takes no other format, so for the TLS-identity wrapper that 'cert write',\n"
             "'personalize' and the factory (0xE0E0) store, the leaf certificate's public\n"
             "key is given to the chip instead (said in a note). Exit 0 only when it is valid.\n");
    if (sig_f == NULL) return fail("verify: --sig FILE is required");
    if ((pub_f == NULL) == (cert_s == NULL)) return fail("verify: give --pubkey or --cert-oid");
    memset(&key, 0, sizeof(key));
    if (cert_s != NULL && (parse_oid(cert_s, &key.cert_oid) != 0 || !tool_oid_is_cert(key.cert_oid))) {
        return fail("verify: --cert-oid must be 0xE0E0..0xE0E3");
    }
    if (digest_of(in, hex, dg, &dl) != 0) return 1;
    if (pub_f != NULL) {
        if (load_pubkey_file(pub_f, &cv, pt, &pl) != 0) return 1;
        key.alg = cv->alg;
        key.key = pt;
        key.key_len = pl;
    }
    if (read_file(sig_f, &sig, &sl, 512) != 0) return 1;
    if (!der_ecdsa_sig_ok(sig, sl)) {
        free(sig);
        return fail("verify: '%s' is not a DER ECDSA signature (SEQUENCE of two INTEGERs)", sig_f);
    }
    if (dev_open(&d) != 0) {
        free(sig);
        return 1;
    }
    if (cert_s != NULL && verify_key_of_object(&d, &key, pt, sizeof(pt)) != 0) {
        free(sig);
        dev_close(&d);
        return 1;
    }
    st = trustm_verify(&d.chip, d.protect, TRUSTM_SIG_ECDSA, dg, dl, sig, sl, &key);
    if (st == TMA_OK) {
        printf("signature valid\n");
        rc = 0;
    } else if (st == TMA_CHIP_ERROR(0x2C)) {
        fail("verify: signature does not verify");
    } else {
        fail_st(st, "verify: the chip could not check the signature");
    }
    free(sig);
    dev_close(&d);
    return rc;
}
