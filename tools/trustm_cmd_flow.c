/* trustm CLI: personalize (the whole seed flow in one command), bind
 * (platform binding + shielded connection) and connect (mutual TLS with the
 * chip identity). */
#include "trustm_key.h"

#include "trustm/crypto_ops.h"
#include "trustm/metadata.h"

#include <ctype.h>
#include <stdarg.h>
#include <mbedtls/bignum.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HELP(text)           \
    do {                     \
        fputs(text, stdout); \
        return 0;            \
    } while (0)

/* Azure device ids allow more, but these are the characters that also go
 * through an X.509 subject string and a MQTT client id unescaped. */
static int valid_device_id(const char *s)
{
    size_t n = strlen(s), i;
    if (n == 0 || n > 64) return 0;
    for (i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && !strchr("-._:@", s[i])) return 0;
    }
    return 1;
}

/* Progress lines (not in --json mode). */
static void say(bool quiet, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(bool quiet, const char *fmt, ...)
{
    va_list ap;
    if (quiet) return;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

/* A string as JSON string content. */
static void json_str(const char *p)
{
    for (; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if ((unsigned char)*p < 0x20) printf("\\u%04x", (unsigned char)*p);
        else putchar(*p);
    }
}

struct ca {
    mbedtls_x509_crt cert;
    mbedtls_pk_context key;
    char subject[512];
};

static int load_ca(struct ca *ca, const char *cert_f, const char *key_f)
{
    uint8_t *buf;
    size_t len;
    struct tma_span in;
    int ret;
    mbedtls_x509_crt_init(&ca->cert);
    mbedtls_pk_init(&ca->key);
    if (read_file(cert_f, &buf, &len, 1u << 20) != 0) return 1;
    in.ptr = buf;
    in.len = len;
    if (len == 0 || tma_tls_parse_certs(&ca->cert, in, NULL) != TMA_OK) {
        free(buf);
        return fail("personalize: '%s' holds no valid certificate", cert_f);
    }
    free(buf);
    if (!ca->cert.ca_istrue) return fail("personalize: '%s' is not a CA certificate", cert_f);
    if (mbedtls_x509_crt_check_key_usage(&ca->cert, MBEDTLS_X509_KU_KEY_CERT_SIGN) != 0) {
        return fail("personalize: '%s' may not sign certificates (its key usage lacks keyCertSign)", cert_f);
    }
    if (read_file(key_f, &buf, &len, 1u << 20) != 0) return 1;
    ret = mbedtls_pk_parse_key(&ca->key, buf, len + 1, NULL, 0);
    if (ret != 0) ret = mbedtls_pk_parse_key(&ca->key, buf, len, NULL, 0);
    mbedtls_platform_zeroize(buf, len);
    free(buf);
    if (ret != 0) return fail("personalize: '%s' is not a private key (PEM or DER, unencrypted)", key_f);
    if (mbedtls_pk_check_pair(&ca->cert.pk, &ca->key) != 0) {
        return fail("personalize: '%s' is not the key of '%s'", key_f, cert_f);
    }
    if (mbedtls_x509_dn_gets(ca->subject, sizeof(ca->subject), &ca->cert.subject) < 0) {
        return fail("personalize: the CA subject cannot be rendered");
    }
    return 0;
}

static void free_ca(struct ca *ca)
{
    mbedtls_x509_crt_free(&ca->cert);
    mbedtls_pk_free(&ca->key);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): 64-bit, so certificate dates past 2038 are right even
 * where time_t is 32 bits. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Unix seconds -> "YYYYMMDDhhmmss" (15 bytes with the NUL). */
static void fmt_time(int64_t t, char *out, size_t cap)
{
    int64_t z = (t >= 0 ? t : t - 86399) / 86400, sec = t - z * 86400, era, doe, yoe, y, doy, mp, d, m;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp + (mp < 10 ? 3 : -9);
    y += m <= 2;
    /* X.509 years end at 9999 (CA dates; --days adds at most 100 years) */
    snprintf(out, cap, "%04u%02u%02u%02u%02u%02u", (unsigned)(y % 10000), (unsigned)(m % 100),
             (unsigned)(d % 100), (unsigned)(sec / 3600 % 100), (unsigned)(sec / 60 % 60), (unsigned)(sec % 60));
}

static int64_t x509_time_s(const mbedtls_x509_time *t)
{
    return days_from_civil(t->year, t->mon, t->day) * 86400 + (int64_t)t->hour * 3600 + t->min * 60 + t->sec;
}

/* Readable form of fmt_time(): "YYYY-MM-DD hh:mm:ss UTC". */
static void fmt_date(int64_t t, char *out, size_t cap)
{
    char b[16];
    fmt_time(t, b, sizeof(b));
    snprintf(out, cap, "%.4s-%.2s-%.2s %.2s:%.2s:%.2s UTC", b, b + 4, b + 6, b + 8, b + 10, b + 12);
}

/* The lifetime below which --lock is refused when --days was not given:
 * a locked certificate object cannot take a renewed certificate, so the
 * device's identity ends with it (docs/trustm-cli.md, "Certificate
 * lifetime and --lock"). 20 years of 365.25 days. */
#define LOCK_MIN_DAYS 7305L

/* Issues the device certificate for the CSR's key, valid from 5 minutes ago
 * until not_after (Unix seconds). der/der_len: output. */
static int issue(struct ca *ca, mbedtls_pk_context *subject_key, const char *device_id, int64_t not_after,
                 uint8_t *der, size_t cap, size_t *der_len)
{
    mbedtls_x509write_cert w;
    struct rng r;
    mbedtls_mpi serial;
    uint8_t sbytes[16];
    char subject[200], nb[16], na[16];
    static const uint8_t eku[] = {0x30, 0x0A, 0x06, 0x08, 0x2B, 0x06, 0x01,
                                  0x05, 0x05, 0x07, 0x03, 0x02}; /* clientAuth */
    int ret, rc = 1;
    time_t now = time(NULL);

    if (rng_init(&r) != 0) return 1;
    mbedtls_x509write_crt_init(&w);
    mbedtls_mpi_init(&serial);
    if (mbedtls_ctr_drbg_random(&r.d, sbytes, sizeof(sbytes)) != 0) goto out;
    sbytes[0] &= 0x7F;
    sbytes[0] |= 0x40; /* positive, 16 bytes */
    snprintf(subject, sizeof(subject), "CN=%s", device_id);
    fmt_time((int64_t)now - 300, nb, sizeof(nb));
    fmt_time(not_after, na, sizeof(na));
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, subject_key);
    mbedtls_x509write_crt_set_issuer_key(&w, &ca->key);
    if (mbedtls_mpi_read_binary(&serial, sbytes, sizeof(sbytes)) != 0 ||
        mbedtls_x509write_crt_set_serial(&w, &serial) != 0 ||
        mbedtls_x509write_crt_set_subject_name(&w, subject) != 0 ||
        mbedtls_x509write_crt_set_issuer_name(&w, ca->subject) != 0 ||
        mbedtls_x509write_crt_set_validity(&w, nb, na) != 0 ||
        mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1) != 0 ||
        mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0 ||
        mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                            MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
                                            eku, sizeof(eku)) != 0 ||
        mbedtls_x509write_crt_set_subject_key_identifier(&w) != 0 ||
        mbedtls_x509write_crt_set_authority_key_identifier(&w) != 0) {
        fail("personalize: cannot build the device certificate");
        goto out;
    }
    ret = mbedtls_x509write_crt_der(&w, der, cap, mbedtls_ctr_drbg_random, &r.d);
    if (ret <= 0) {
        fail("personalize: the CA could not sign the certificate (-0x%04X)", (unsigned)-ret);
        goto out;
    }
    /* The DER is written at the end of the buffer. */
    memmove(der, der + cap - (size_t)ret, (size_t)ret);
    *der_len = (size_t)ret;
    rc = 0;
out:
    mbedtls_mpi_free(&serial);
    mbedtls_x509write_crt_free(&w);
    rng_free(&r);
    return rc;
}

/* mbedTLS verification flags as words ("the certificate validity has expired; ..."). */
static void flags_words(uint32_t flags, char *out, size_t cap)
{
    char buf[1024], *p, *q;
    size_t n = 0;
    out[0] = 0;
    if (mbedtls_x509_crt_verify_info(buf, sizeof(buf), "", flags) < 0) buf[0] = 0;
    for (p = buf; *p != 0 && n + 1 < cap; p = q) {
        q = strchr(p, '\n');
        if (q == NULL) q = p + strlen(p);
        n += (size_t)snprintf(out + n, cap - n, "%s%.*s", n ? "; " : "", (int)(q - p), p);
        if (n >= cap) n = cap - 1;
        if (*q == '\n') q++;
    }
    if (out[0] == 0) snprintf(out, cap, "flags 0x%x", (unsigned)flags);
}

/* der must be a certificate issued by ca that verifies against it (and, when
 * key is given, whose public key is key's). Prints the reason as words. */
static int check_issued(struct ca *ca, const uint8_t *der, size_t der_len, mbedtls_pk_context *key,
                        const char *what)
{
    mbedtls_x509_crt leaf;
    uint32_t flags = 0;
    int ret, rc = 1;
    char words[600];
    mbedtls_x509_crt_init(&leaf);
    ret = mbedtls_x509_crt_parse_der(&leaf, der, der_len);
    if (ret == 0) ret = mbedtls_x509_crt_verify(&leaf, &ca->cert, NULL, NULL, &flags, NULL, NULL);
    if (ret != 0) {
        flags_words(flags, words, sizeof(words));
        fail("personalize: %s: %s", what, words);
    } else if (key != NULL && tma_tls_key_matches_cert(key, &leaf) != TMA_OK) {
        fail("personalize: the issued certificate does not carry the chip key");
    } else {
        rc = 0;
    }
    mbedtls_x509_crt_free(&leaf);
    return rc;
}

/* Before the chip is touched: a trial certificate for a throw-away software
 * key of the same curve, issued and verified exactly as the real one will be
 * (catches an expired or not-yet-valid CA, a CA without keyCertSign, ...).
 * Its certificate-object size (plus the few bytes an ECDSA signature and a
 * serial can differ by) is what the object must hold. */
#define TRIAL_SLACK 16
static int trial_issue(struct ca *ca, const struct curve *cv, const char *id, int64_t not_after,
                       bool chain_f, size_t *out_obj_len)
{
    mbedtls_pk_context pk;
    struct rng r;
    uint8_t der[2048], obj[4096];
    size_t der_len = 0;
    struct tma_span chain[2];
    int rc = 1;
    if (rng_init(&r) != 0) return 1;
    mbedtls_pk_init(&pk);
    if (mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
        mbedtls_ecp_gen_key(cv->grp, mbedtls_pk_ec(pk), mbedtls_ctr_drbg_random, &r.d) != 0) {
        fail("personalize: host key generation for the trial certificate failed");
        goto out;
    }
    if (issue(ca, &pk, id, not_after, der, sizeof(der), &der_len) != 0) goto out;
    if (check_issued(ca, der, der_len, NULL,
                     "a certificate from this CA would not verify (trial with a host key; nothing changed)") != 0) goto out;
    chain[0].ptr = der;
    chain[0].len = der_len;
    chain[1].ptr = ca->cert.raw.p;
    chain[1].len = ca->cert.raw.len;
    if (build_certobj(false, chain, chain_f ? 2 : 1, obj, sizeof(obj), out_obj_len) != 0) {
        fail("personalize: the certificate object would exceed %zu bytes", sizeof(obj));
        goto out;
    }
    *out_obj_len += TRIAL_SLACK;
    rc = 0;
out:
    mbedtls_pk_free(&pk);
    rng_free(&r);
    return rc;
}

/* personalize --update-anchor: the signer certificate of protected updates
 * (one certificate, an EC P-256 or P-384 key: manifests are ECDSA-signed). */
static int ua_prepare(const char *file, uint8_t **store, struct tma_span *cert)
{
    struct tma_span certs[4];
    mbedtls_x509_crt c;
    mbedtls_ecp_group_id grp = MBEDTLS_ECP_DP_NONE;
    int n = load_certs_file(file, store, certs, 4);
    if (n < 0) return 1;
    if (n != 1) {
        free(*store);
        *store = NULL;
        return fail("personalize: '%s' holds %d certificates; --update-anchor takes exactly one", file, n);
    }
    *cert = certs[0];
    mbedtls_x509_crt_init(&c);
    if (mbedtls_x509_crt_parse_der(&c, cert->ptr, cert->len) == 0 && mbedtls_pk_can_do(&c.pk, MBEDTLS_PK_ECKEY)) {
        grp = mbedtls_pk_ec(c.pk)->grp.id;
    }
    mbedtls_x509_crt_free(&c);
    if (grp != MBEDTLS_ECP_DP_SECP256R1 && grp != MBEDTLS_ECP_DP_SECP384R1) {
        free(*store);
        *store = NULL;
        return fail("personalize: '%s' does not hold an EC P-256 or P-384 key (the update signer's)", file);
    }
    return 0;
}

/* Change condition 'LcsO < op || Int(anchor)': writable until the object is
 * locked, and after that by a protected update signed for the anchor. */
static tma_status set_change_int(struct dev *d, uint16_t oid, uint16_t anchor)
{
    uint8_t md[11] = {0x20, 0x09, 0xD0, 0x07, 0xE1, 0xFC, 0x07, 0xFE, 0x21, 0, 0};
    md[9] = (uint8_t)(anchor >> 8);
    md[10] = (uint8_t)anchor;
    return trustm_write_metadata(&d->chip, d->protect, oid, md, sizeof(md));
}

/* Set by personalize --bind --lock: the key slot is locked right after the
 * binding, so bind's note about an unlocked key would only confuse. */
static bool bind_lock_follows;

int cmd_personalize(int argc, char **argv)
{
    bool help = false, do_bind = false, do_lock = false, azure = false, chain_f = false,
         json = false, exec_open = false;
    const char *id = NULL, *ca_cert = NULL, *ca_key = NULL, *slot_s = "0xE0F1",
               *cert_s = "0xE0E1", *ta_s = "0xE0E8", *ta_file = NULL, *days_s = NULL,
               *curve_s = "p256", *out = NULL, *csr_out = NULL, *bind_out = NULL,
               *ua_file = NULL, *ua_s = NULL;
    const struct opt opts[] = {
        {"--device-id", 1, &id, NULL},     {"--ca-cert", 1, &ca_cert, NULL},
        {"--ca-key", 1, &ca_key, NULL},    {"--slot", 1, &slot_s, NULL},
        {"--cert-oid", 1, &cert_s, NULL},  {"--ta-oid", 1, &ta_s, NULL},
        {"--trust-anchor", 1, &ta_file, NULL}, {"--azure", 0, NULL, &azure},
        {"--days", 1, &days_s, NULL},      {"--curve", 1, &curve_s, NULL},
        {"--out", 1, &out, NULL},          {"--csr-out", 1, &csr_out, NULL},
        {"--chain", 0, NULL, &chain_f},    {"--bind", 0, NULL, &do_bind},
        {"--binding-out", 1, &bind_out, NULL}, {"--lock", 0, NULL, &do_lock},
        {"--json", 0, NULL, &json}, {"--key-exec-open", 0, NULL, &exec_open},
        {"--update-anchor", 1, &ua_file, NULL}, {"--update-anchor-oid", 1, &ua_s, NULL},
        {NULL, 0, NULL, NULL}};
    int np, rc = 1;
    uint16_t slot, cert_oid, ta_oid, ua_oid = 0xE0EF;
    struct tma_span ua = {NULL, 0};
    uint8_t *ua_store = NULL;
    bool ta_locked_now = false, bk_locked_now = false, ua_was_locked = false;
    unsigned long days = 0;
    int64_t now_s = (int64_t)time(NULL), not_after, ca_end;
    char until[40];
    bool capped = false;
    const struct curve *cv;
    struct ca ca;
    struct tma_span ta = {NULL, 0}, backup = {NULL, 0};
    uint8_t *ta_store = NULL, *backup_store = NULL;
    const uint16_t backup_oid = 0xF1E0;
    struct outfile of_out, of_csr;
    uint8_t *old_ta = NULL, *old_bk = NULL;
    size_t old_ta_len = 0, old_bk_len = 0;
    bool ta_written = false, bk_written = false;
    bool key_replaced = false, cert_written = false, out_written = false;
    size_t trial_len = 0;
    struct dev d;
    uint8_t pt[97];
    size_t pl = 0;
    struct chipkey k;
    bool key_bound = false, locked = false, ta_was_locked = false, bk_was_locked = false;
    unsigned char csr[4096];
    uint8_t der[2048], obj[4096];
    size_t der_len = 0, obj_len = 0, max_cert = 0, max_ta = 0;
    char subj[600], sha1[41], sha256[65], ta_hex[8], ua_hex[8];

    if (parse_opts(argc, argv, opts, NULL, 0, &np, &help) != 0) return 1;
    if (help)
        HELP("usage: trustm personalize --device-id ID --ca-cert ca.pem --ca-key ca.key\n"
             "         [--slot 0xE0F1] [--cert-oid 0xE0E1] [--curve p256|p384] [--days N]\n"
             "         [--trust-anchor FILE | --azure] [--ta-oid 0xE0E8] [--chain]\n"
             "         (--azure: DigiCert Global Root G2 -> --ta-oid, Microsoft RSA Root CA\n"
             "          2017 -> 0xF1E0, as 'trust-anchor write --azure')\n"
             "         [--out device.pem] [--csr-out device.csr]\n"
             "         [--bind --binding-out FILE [--key-exec-open]] [--lock] [--json]\n"
             "         [--update-anchor SIGNER.pem [--update-anchor-oid 0xE0EF]]\n"
             "The seed's personalization in one command: a key pair generated in SLOT, a CSR\n"
             "signed by that key, the device certificate (CN=ID, clientAuth) issued by the\n"
             "CA, verified against the CA, then the trust anchor and last the certificate\n"
             "written to the chip (TLS-identity wrapper; --chain adds the CA certificate).\n"
             "--bind pairs host and chip (see 'trustm bind') and makes the key usable only\n"
             "over the shielded connection (Execute 'Conf(0xE140)'; --key-exec-open keeps\n"
             "its Execute condition as it is); --lock locks the certificate object, the\n"
             "key slot and, written or not, the trust anchor object (--ta-oid) and the\n"
             "backup root 0xF1E0, which the samples read by default: left unlocked,\n"
             "anyone on the bus could put a CA of their own there.\n"
             "The certificate ends with the CA certificate (its notAfter); --days N ends\n"
             "it N days from now, never after the CA. --lock is refused when the\n"
             "certificate would end within 20 years, unless --days was given (then a\n"
             "warning): a locked certificate object cannot take a renewed certificate\n"
             "(docs/trustm-cli.md, \"Certificate lifetime and --lock\").\n"
             "--update-anchor writes the certificate of an update signer (EC P-256/P-384) to\n"
             "0xE0EF (--update-anchor-oid: 0xE0E2, 0xE0E3, 0xE0E8, 0xE0E9, 0xE0EF; type TA,\n"
             "change 'LcsO < op') and sets the change condition of the certificate object, the\n"
             "trust anchor and 0xF1E0 to 'LcsO < op || Int(anchor)': once locked, they take\n"
             "only a data set signed with the signer's key ('trustm update'), and --lock needs\n"
             "no 20-year certificate. --lock also locks the update anchor: it can never be\n"
             "replaced (docs/trustm-cli.md, \"Renewing locked objects: protected update\").\n"
             "Prints what IoT Hub / DPS enrollment needs: the subject, the SHA-1 and\n"
             "SHA-256 thumbprints and the end of validity (--json: one JSON object, no\n"
             "progress lines).\n"
             "Every input is checked before the chip is touched: the CA (a trial certificate\n"
             "for a host key is issued and verified first), the object sizes and locks, and\n"
             "the output files (created first). A key cannot be un-generated: if a chip step\n"
             "fails after the key generation, objects already written are restored and the\n"
             "error says what the chip now holds (docs/trustm-cli.md).\n");
    if (id == NULL || !valid_device_id(id)) {
        return fail("personalize: %s%.80s%s: 1..64 characters of A-Z a-z 0-9 - . _ : @ "
                    "(it becomes the X.509 CN, limited to 64 characters)",
                    id == NULL ? "--device-id is required" : "bad --device-id '", id == NULL ? "" : id,
                    id == NULL ? "" : "'");
    }
    if (ca_cert == NULL || ca_key == NULL) return fail("personalize: --ca-cert and --ca-key are required");
    if (parse_oid(slot_s, &slot) != 0 || !tool_oid_is_ecc_key(slot)) return fail("personalize: --slot must be 0xE0F0..0xE0F3");
    if (parse_oid(cert_s, &cert_oid) != 0 || !tool_oid_is_cert(cert_oid)) return fail("personalize: --cert-oid must be 0xE0E0..0xE0E3");
    if (parse_oid(ta_s, &ta_oid) != 0 || !tool_oid_is_ta(ta_oid)) return fail("personalize: --ta-oid must be 0xE0E8, 0xE0E9 or 0xE0EF");
    if (days_s != NULL && parse_uint(days_s, 1, 36500, &days) != 0) return fail("personalize: --days takes 1..36500");
    if ((cv = curve_by_name(curve_s)) == NULL) return fail("personalize: --curve must be p256 or p384");
    if (ta_file != NULL && azure) return fail("personalize: --trust-anchor and --azure exclude each other");
    if (ua_s != NULL && ua_file == NULL) return fail("personalize: --update-anchor-oid goes with --update-anchor FILE");
    if (ua_s != NULL && (parse_oid(ua_s, &ua_oid) != 0 || !(tool_oid_is_ta(ua_oid) || ua_oid == 0xE0E2 || ua_oid == 0xE0E3))) {
        return fail("personalize: --update-anchor-oid must be 0xE0E2, 0xE0E3, 0xE0E8, 0xE0E9 or 0xE0EF");
    }
    if (ua_file != NULL && (ua_oid == cert_oid || ua_oid == ta_oid)) {
        return fail("personalize: the update anchor 0x%04X cannot also be the %s", ua_oid,
                    ua_oid == cert_oid ? "certificate object (--cert-oid)" : "trust anchor (--ta-oid)");
    }
    if (do_bind && bind_out == NULL) return fail("personalize: --bind needs --binding-out FILE for the host copy of the secret");
    if (exec_open && !do_bind) return fail("personalize: --key-exec-open only goes with --bind");
    if (do_bind && access(bind_out, F_OK) == 0) {
        return fail("personalize: '%s' exists; refusing to overwrite a binding secret", bind_out);
    }
    {
        const char *outs[3] = {out, csr_out, do_bind ? bind_out : NULL};
        const char *out_names[3] = {"--out", "--csr-out", "--binding-out"};
        const char *ins[4] = {ca_cert, ca_key, ta_file, ua_file};
        const char *in_names[4] = {"--ca-cert", "--ca-key", "--trust-anchor", "--update-anchor"};
        if (out_clash("personalize", outs, out_names, 3, ins, in_names, 4) != 0) return 1;
    }
    of_out.fd = of_csr.fd = -1;
    if (load_ca(&ca, ca_cert, ca_key) != 0) {
        free_ca(&ca);
        return 1;
    }
    /* The certificate ends with the CA's (a chain is checked with every
     * certificate's validity: past the CA's notAfter the device's would be
     * refused anyway); --days N ends it earlier. */
    ca_end = x509_time_s(&ca.cert.valid_to);
    not_after = days_s != NULL ? now_s + (int64_t)days * 86400 : ca_end;
    if (not_after > ca_end) {
        not_after = ca_end;
        capped = true;
    }
    fmt_date(not_after, until, sizeof(until));
    /* With an update anchor a locked certificate can be renewed: no floor. */
    if (do_lock && ua_file == NULL && not_after - now_s < LOCK_MIN_DAYS * 86400) {
        if (days_s == NULL) {
            fail("personalize: --lock refused: the certificate would end on %s (the CA's notAfter), in "
                 "%lld days; locked, 0x%04X could never take a renewed certificate. Use a CA that lives "
                 "at least %ld days more, or accept the date with --days, or leave out --lock "
                 "(docs/trustm-cli.md)", until, (long long)((not_after - now_s) / 86400), cert_oid,
                 LOCK_MIN_DAYS);
            goto out_ca;
        }
        fprintf(stderr, "trustm: warning: --lock with a certificate that ends on %s (in %lld days): "
                        "the locked 0x%04X cannot take a renewed one\n",
                until, (long long)((not_after - now_s) / 86400), cert_oid);
    }
    if (capped && days_s != NULL) {
        fprintf(stderr, "trustm: note: --days %lu ends after the CA (%s): the certificate ends with it\n",
                days, until);
    }
    if (trial_issue(&ca, cv, id, not_after, chain_f, &trial_len) != 0) goto out_ca;
    if (out != NULL && outfile_open(&of_out, out, 0644, false) != 0) goto out_ca;
    if (csr_out != NULL && outfile_open(&of_csr, csr_out, 0644, false) != 0) goto out_ca;
    if (ta_file != NULL || azure) {
        char p[512];
        if (azure && data_file("DigiCert_Global_Root_G2.der", p, sizeof(p)) != 0) goto out_ca;
        if (ta_prepare(azure ? p : ta_file, &ta_store, &ta) != 0) goto out_ca;
        if (azure && (data_file("Microsoft_RSA_Root_Certificate_Authority_2017.der", p, sizeof(p)) != 0 ||
                      ta_prepare(p, &backup_store, &backup) != 0)) {
            goto out_ca;
        }
    }
    if (ua_file != NULL && ua_prepare(ua_file, &ua_store, &ua) != 0) goto out_ca;
    if (dev_open(&d) != 0) goto out_ca;

    /* 1. Check the objects before touching anything. */
    if (obj_sizes(&d, cert_oid, &max_cert, NULL) != 0 || obj_locked(&d, cert_oid, &locked) != 0) goto out;
    if (locked) {
        fail("personalize: 0x%04X is locked; nothing changed", cert_oid);
        goto out;
    }
    if (trial_len > max_cert) {
        fail("personalize: the certificate object (about %zu bytes) does not fit 0x%04X (%zu bytes); "
             "nothing changed", trial_len - TRIAL_SLACK, cert_oid, max_cert);
        goto out;
    }
    if (ta.ptr != NULL) {
        if (obj_sizes(&d, ta_oid, &max_ta, NULL) != 0 || obj_locked(&d, ta_oid, &locked) != 0) goto out;
        if (locked || ta.len > max_ta) {
            fail("personalize: the trust anchor does not fit 0x%04X or it is locked; nothing changed", ta_oid);
            goto out;
        }
    }
    if (backup.ptr != NULL) {
        size_t max_b = 0;
        if (obj_sizes(&d, backup_oid, &max_b, NULL) != 0 || obj_locked(&d, backup_oid, &locked) != 0) goto out;
        if (locked || backup.len > max_b) {
            fail("personalize: the backup root does not fit 0x%04X or it is locked; nothing changed", backup_oid);
            goto out;
        }
    }
    /* --lock also locks the trust anchor objects the samples read by
     * default (--ta-oid, and 0xF1E0, read whenever it holds a certificate)
     * when this run does not write them: an unlocked one takes a plaintext
     * write from anyone on the bus, and the device would trust that CA.
     * One already locked is left as it is. */
    if (do_lock && ta.ptr == NULL && obj_locked(&d, ta_oid, &ta_was_locked) != 0) goto out;
    if (do_lock && backup.ptr == NULL && obj_locked(&d, backup_oid, &bk_was_locked) != 0) goto out;
    if (ua.ptr != NULL) {
        /* The anchor is written and its metadata set; the trust anchors'
         * change condition is set unless they are locked already. */
        size_t max_u = 0;
        if (obj_sizes(&d, ua_oid, &max_u, NULL) != 0 || obj_locked(&d, ua_oid, &ua_was_locked) != 0) goto out;
        if (ua_was_locked || ua.len > max_u) {
            fail("personalize: the update anchor does not fit 0x%04X (%zu bytes) or it is locked; nothing changed",
                 ua_oid, max_u);
            goto out;
        }
        if (obj_locked(&d, ta_oid, &ta_locked_now) != 0 || obj_locked(&d, backup_oid, &bk_locked_now) != 0) goto out;
    }
    if (obj_locked(&d, slot, &locked) != 0) goto out;
    if (locked) {
        fail("personalize: key slot 0x%04X is locked; nothing changed", slot);
        goto out;
    }
    {
        /* A condition the chip would refuse at the write must stop us
         * before the key generation (e.g. Conf(0xE140) without --binding). */
        const uint16_t oids[5] = {slot, cert_oid, ta.ptr != NULL ? ta_oid : 0,
                                  backup.ptr != NULL ? backup_oid : 0, ua.ptr != NULL ? ua_oid : 0};
        char words[128];
        bool ok = false;
        int i;
        for (i = 0; i < 5; i++) {
            if (oids[i] == 0) continue;
            if (obj_change_ok(&d, oids[i], &ok, words, sizeof(words)) != 0) goto out;
            if (!ok) {
                fail("personalize: the change condition of 0x%04X (%s) is not met by this session; "
                     "nothing changed", oids[i], words);
                goto out;
            }
        }
        /* The CSR needs a signature by the new key: a key slot that a
         * binding restricted (Execute Conf(0xE140)) signs only over the
         * shielded connection. */
        if (ua.ptr != NULL) {
            /* the chip evaluates the anchor's Execute condition for every update */
            if (obj_exec_ok(&d, ua_oid, &ok, words, sizeof(words)) != 0) goto out;
            if (!ok) {
                fail("personalize: the Execute condition of the update anchor 0x%04X (%s) is not met "
                     "by this session; nothing changed", ua_oid, words);
                goto out;
            }
        }
        if (obj_exec_ok(&d, slot, &ok, words, sizeof(words)) != 0) goto out;
        if (!ok) {
            fail("personalize: the Execute condition of key slot 0x%04X (%s) is not met by this "
                 "session, so the chip could not sign the CSR%s; nothing changed", slot, words,
                 d.protect == TRUSTM_PROTECT_NONE && strstr(words, "Conf(0xE140)") != NULL
                     ? " (the chip is bound: give --binding FILE)" : "");
            goto out;
        }
    }

    /* 2. Key on the chip, CSR signed by it (checked), certificate from the CA. */
    say(json, "[1/5] generating a %s key in 0x%04X\n", cv->name, slot);
    key_replaced = true; /* from here on the old key may be gone */
    if (do_keygen(&d, slot, cv, TRUSTM_KU_AUTH | TRUSTM_KU_SIGN, pt, &pl) != 0) goto out;
    if (chipkey_bind(&k, &d, slot, cv, pt, pl) != 0) goto out;
    key_bound = true;
    say(json, "[2/5] CSR for CN=%s signed by the chip key\n", id);
    snprintf(subj, sizeof(subj), "CN=%s", id);
    if (make_csr(&k, subj, csr, sizeof(csr)) != 0) goto out;
    if (csr_out != NULL && outfile_commit(&of_csr, csr, strlen((char *)csr)) != 0) goto out;
    say(json, "[3/5] certificate issued by %s\n", ca.subject);
    if (issue(&ca, &k.pk, id, not_after, der, sizeof(der), &der_len) != 0) goto out;
    if (check_issued(&ca, der, der_len, &k.pk, "the issued certificate does not verify against the CA") != 0) goto out;
    {
        struct tma_span chain[2];
        chain[0].ptr = der;
        chain[0].len = der_len;
        chain[1].ptr = ca.cert.raw.p;
        chain[1].len = ca.cert.raw.len;
        if (build_certobj(false, chain, chain_f ? 2 : 1, obj, sizeof(obj), &obj_len) != 0 ||
            obj_len > max_cert) {
            fail("personalize: the certificate object (%zu bytes) does not fit 0x%04X (%zu bytes)",
                 obj_len, cert_oid, max_cert);
            goto out;
        }
    }
    /* The certificate file before the objects: if a chip write fails now,
     * the file holds the certificate of the key that is in the slot. */
    if (out != NULL) {
        char pem[4096];
        if (pem_write("CERTIFICATE", der, der_len, pem, sizeof(pem)) != 0) {
            fail("personalize: cannot encode the certificate as PEM");
            goto out;
        }
        if (outfile_commit(&of_out, (uint8_t *)pem, strlen(pem)) != 0) goto out;
        out_written = true;
    }

    /* 3. Trust anchor, then the certificate last (each restored on failure;
     * the trust anchors also when a later write fails). */
    if (ta.ptr != NULL) {
        say(json, "[4/5] trust anchor -> 0x%04X\n", ta_oid);
        if ((old_ta = malloc(max_ta + 1)) == NULL ||
            obj_read(&d, ta_oid, old_ta, max_ta, &old_ta_len) != 0) {
            if (old_ta == NULL) fail("out of memory");
            goto out;
        }
        if (backup.ptr != NULL) {
            size_t max_b = 0;
            if (obj_sizes(&d, backup_oid, &max_b, NULL) != 0) goto out;
            if ((old_bk = malloc(max_b + 1)) == NULL ||
                obj_read(&d, backup_oid, old_bk, max_b, &old_bk_len) != 0) {
                if (old_bk == NULL) fail("out of memory");
                goto out;
            }
        }
        if (write_object(&d, ta_oid, ta.ptr, ta.len, "the trust anchor") != 0) goto out;
        ta_written = true;
        if (backup.ptr != NULL) {
            say(json, "      backup root (Microsoft RSA Root CA 2017) -> 0x%04X\n", backup_oid);
            if (write_object(&d, backup_oid, backup.ptr, backup.len, "the backup root") != 0) goto out;
            bk_written = true;
        }
    } else {
        say(json, "[4/5] trust anchor unchanged (no --trust-anchor / --azure)\n");
    }
    say(json, "[5/5] certificate -> 0x%04X\n", cert_oid);
    if (write_object(&d, cert_oid, obj, obj_len, "the certificate object") != 0) goto out;
    cert_written = true;
    if (ua.ptr != NULL) {
        /* 6. The update authority, last: its certificate (type TA, change
         * 'LcsO < op', so --lock freezes it), then the objects it may renew. */
        static const uint8_t ua_md[] = {0x20, 0x08, 0xD0, 0x03, 0xE1, 0xFC, 0x07, 0xE8, 0x01, 0x11};
        const uint16_t upd[3] = {cert_oid, ta_locked_now ? 0 : ta_oid, bk_locked_now ? 0 : backup_oid};
        tma_status st = TMA_OK;
        uint16_t at = ua_oid;
        int i;
        say(json, "      update anchor -> 0x%04X (type TA)\n", ua_oid);
        if (write_object(&d, ua_oid, ua.ptr, ua.len, "the update anchor") != 0) goto ua_failed;
        st = trustm_write_metadata(&d.chip, d.protect, ua_oid, ua_md, sizeof(ua_md));
        for (i = 0; i < 3 && st == TMA_OK; i++) {
            if (upd[i] == 0) {
                say(json, "      0x%04X is locked already: not made updatable\n", i == 1 ? ta_oid : backup_oid);
                continue;
            }
            at = upd[i];
            st = set_change_int(&d, upd[i], ua_oid);
            if (st == TMA_OK) say(json, "      0x%04X: change 'LcsO < op || Int(0x%04X)'\n", upd[i], ua_oid);
        }
        if (st != TMA_OK) {
            fail_st(st, "personalize: cannot set the metadata of 0x%04X", at);
            goto ua_failed;
        }
    }
    thumbprints(der, der_len, sha1, sha256);
    snprintf(ta_hex, sizeof(ta_hex), "0x%04X", ta_oid);
    snprintf(ua_hex, sizeof(ua_hex), "0x%04X", ua_oid);
    if (!json) {
        printf("device id:          %s\nsubject:            CN=%s\nissuer:             %s\n"
               "thumbprint SHA-1:   %s\nthumbprint SHA-256: %s\n"
               "key slot:           0x%04X\ncertificate object: 0x%04X\nvalid until:        %s%s\n",
               id, id, ca.subject, sha1, sha256, slot, cert_oid, until,
               days_s == NULL || capped ? " (the CA's notAfter)" : "");
    }
    rc = 0;
    if (0) {
    ua_failed:
        /* The key, its certificate and the trust anchors are in place; nothing
         * is locked. Keep them (the certificate matches the key). */
        fail("personalize: the update anchor was not installed in full; the key, certificate and trust "
             "anchors are written and nothing is locked: check 0x%04X with 'trustm metadata show' and "
             "run 'personalize' again", ua_oid);
        ta_written = bk_written = false;
    }
out:
    if (rc != 0 && (ta_written || bk_written)) {
        /* The certificate did not make it: the trust anchors go back too. */
        tma_status rb = TMA_OK, rb2 = TMA_OK;
        if (ta_written) {
            rb = old_ta_len > 0 ? trustm_write_data(&d.chip, d.protect, ta_oid, TRUSTM_WRITE_ERASE, 0,
                                                    old_ta, old_ta_len)
                                : trustm_erase_data(&d.chip, d.protect, ta_oid);
        }
        if (bk_written) {
            rb2 = old_bk_len > 0 ? trustm_write_data(&d.chip, d.protect, backup_oid, TRUSTM_WRITE_ERASE,
                                                     0, old_bk, old_bk_len)
                                 : trustm_erase_data(&d.chip, d.protect, backup_oid);
        }
        if (rb != TMA_OK || rb2 != TMA_OK) {
            /* (not 'trustm cert read': it reads certificate objects only) */
            uint16_t bad_oid = rb != TMA_OK ? ta_oid : backup_oid;
            fail("personalize: the previous trust anchor could not be restored to 0x%04X; check it with "
                 "'trustm data read --oid 0x%04X'",
                 bad_oid, bad_oid);
        }
    }
    free(old_ta);
    free(old_bk);
    if (rc != 0 && key_replaced && !cert_written) {
        /* A key cannot be un-generated: say exactly what the chip holds. */
        fail("personalize: FAILED AFTER THE KEY GENERATION: key slot 0x%04X may hold a new key that "
             "0x%04X's certificate does not match; %s; run personalize again",
             slot, cert_oid, out_written ? "its certificate is in the --out file ('trustm cert write')"
                                          : "the device cannot authenticate until then");
    }
    if (key_bound) mbedtls_pk_free(&k.pk);
    dev_close(&d);
    g.quiet = json;
    if (rc == 0 && do_bind) {
        char slot_hex[8];
        char *bargv[] = {"bind", "--out", (char *)bind_out, "--key-oid", slot_hex, NULL, NULL};
        snprintf(slot_hex, sizeof(slot_hex), "0x%04X", slot);
        if (exec_open) {
            bargv[3] = "--key-exec-open";
            bargv[4] = NULL;
        }
        bind_lock_follows = do_lock;
        rc = cmd_bind(exec_open ? 4 : 5, bargv);
        bind_lock_follows = false;
    }
    if (rc == 0 && do_lock) {
        char list[64];
        char *largv[] = {"lock", "--oid", list, "--yes", NULL};
        int ln = snprintf(list, sizeof(list), "0x%04X", cert_oid);
        if (!ta_was_locked) ln += snprintf(list + ln, sizeof(list) - (size_t)ln, ",0x%04X", ta_oid);
        if (!bk_was_locked) ln += snprintf(list + ln, sizeof(list) - (size_t)ln, ",0x%04X", backup_oid);
        if (ua.ptr != NULL) ln += snprintf(list + ln, sizeof(list) - (size_t)ln, ",0x%04X", ua_oid);
        snprintf(list + ln, sizeof(list) - (size_t)ln, ",0x%04X", slot);
        rc = cmd_lock(4, largv);
    }
    if (rc == 0 && json) {
        printf("{\"device_id\":\"%s\",\"subject\":\"CN=%s\",\"issuer\":\"", id, id);
        json_str(ca.subject);
        printf("\",\"thumbprint_sha1\":\"%s\",\"thumbprint_sha256\":\"%s\","
               "\"key_slot\":\"0x%04X\",\"certificate_oid\":\"0x%04X\","
               "\"trust_anchor_oid\":%s%s%s,\"bound\":%s,\"key_shielded_only\":%s,\"locked\":%s,"
               "\"not_after\":\"%s\",\"update_anchor_oid\":%s%s%s}\n",
               sha1, sha256, slot, cert_oid, ta.ptr ? "\"" : "", ta.ptr ? ta_hex : "null",
               ta.ptr ? "\"" : "", do_bind ? "true" : "false", do_bind && !exec_open ? "true" : "false",
               do_lock ? "true" : "false", until, ua.ptr ? "\"" : "", ua.ptr ? ua_hex : "null",
               ua.ptr ? "\"" : "");
    }
out_ca:
    outfile_abort(&of_out);
    outfile_abort(&of_csr);
    free(ta_store);
    free(backup_store);
    free(ua_store);
    free_ca(&ca);
    return rc;
}

/* ---- bind ------------------------------------------------------------------ */

#define BIND_KEYS_MAX 6


/* Whether the key's Execute condition is exactly Conf(0xE140), whether its
 * metadata is frozen (LcsO op; the Execute tag changes only while LcsO < op,
 * spec 8.2), and the condition in words. */
static int key_exec_state(struct dev *d, uint16_t oid, bool *out_conf, bool *out_locked, char *words,
                          size_t cap)
{
    uint8_t md[64];
    size_t n = 0;
    struct trustm_md m;
    tma_status st = trustm_read_metadata(&d->chip, d->protect, oid, md, sizeof(md), &n);
    if (st != TMA_OK) return fail_st(st, "bind: cannot read the metadata of key 0x%04X", oid);
    if (trustm_md_decode(md, n, &m) != TMA_OK) return fail("bind: the metadata of 0x%04X does not decode", oid);
    *out_conf = m.execute.ptr != NULL && m.execute.len == 3 && m.execute.ptr[0] == 0x20 &&
                m.execute.ptr[1] == 0xE1 && m.execute.ptr[2] == 0x40;
    *out_locked = (m.present & TRUSTM_MDF_LCSO) && m.lcso >= TRUSTM_LCS_OPERATIONAL;
    if (m.execute.ptr == NULL) {
        snprintf(words, cap, "NEV");
    } else if (trustm_ac_render(m.execute.ptr, m.execute.len, words, cap) != TMA_OK) {
        snprintf(words, cap, "?");
    }
    return 0;
}

int cmd_bind(int argc, char **argv)
{
    bool help = false;
    const char *out = NULL, *keys_s = "0xE0F1";
    bool force = false, exec_open = false;
    const struct opt opts[] = {{"--out", 1, &out, NULL}, {"--force", 0, NULL, &force},
                               {"--key-oid", 1, &keys_s, NULL},
                               {"--key-exec-open", 0, NULL, &exec_open},
                               {NULL, 0, NULL, NULL}};
    int np, rc = 1;
    uint16_t keys[BIND_KEYS_MAX];
    bool key_todo[BIND_KEYS_MAX];
    size_t nkeys = 0, ki;
    struct outfile of;
    struct dev d;
    uint8_t secret[64], host[64], md[TRUSTM_MD_MAX];
    size_t ml = 0, i;
    struct rng r;
    bool locked = false;
    tma_status st;
    /* Change: LcsO < op || Conf(E140); read: LcsO < op; type PTFBIND. */
    static const uint8_t chg[] = {0xE1, 0xFC, 0x07, 0xFE, 0x20, 0xE1, 0x40};
    static const uint8_t rd[] = {0xE1, 0xFC, 0x07};
    struct trustm_md_builder b;

    if (parse_opts(argc, argv, opts, NULL, 0, &np, &help) != 0) return 1;
    if (help)
        HELP("usage: trustm bind --out FILE [--force] [--key-oid 0xE0F1[,0xE0F2..]] [--key-exec-open]\n"
             "Platform binding: a 64-byte secret (chip TRNG mixed with host randomness) is\n"
             "written to 0xE140 (type PTFBIND, change 'LcsO<op || Conf(E140)', read\n"
             "'LcsO<op'), 0xE140 is locked so the secret can no longer be read, and the host\n"
             "copy is kept in FILE (mode 0600). Then a shielded-connection handshake proves\n"
             "the pairing. Afterwards pass --binding FILE (or $TRUSTM_BINDING) so every\n"
             "command runs over the shielded connection.\n"
             "An existing FILE is never replaced (it may be another chip's binding) unless\n"
             "--force is given; the file is created before the chip is written.\n"
             "Then the Execute condition of each --key-oid key (default 0xE0F1) becomes\n"
             "'Conf(0xE140)': the chip uses the key only for a command that arrives as a\n"
             "protected record under this binding, so the chip on another board, or a bus\n"
             "attacker, cannot have it sign. It is set over the shielded connection and can\n"
             "be changed while the key slot is not locked ('trustm lock' freezes it).\n"
             "--key-exec-open leaves the key's Execute condition as it is (e.g. ALW).\n");
    if (out == NULL) out = g.binding;
    if (parse_key_list(keys_s, keys, BIND_KEYS_MAX, &nkeys) != 0) {
        return fail("bind: --key-oid takes up to %d key objects 0xE0F0..0xE0F3, 0xE0FC, 0xE0FD, "
                    "separated by commas", BIND_KEYS_MAX);
    }
    if (out == NULL) return fail("bind: --out FILE is required (where the host copy of the secret goes)");
    if (g.binding != NULL && strcmp(out, g.binding) == 0 && access(out, F_OK) == 0) {
        /* Rebinding over the shielded connection writes a new file elsewhere. */
        return fail("bind: '%s' holds the current binding; give a different --out", out);
    }
    if (outfile_open(&of, out, 0600, !force) != 0) return 1;
    if (rng_init(&r) != 0) {
        outfile_abort(&of);
        return 1;
    }
    if (dev_open(&d) != 0) {
        outfile_abort(&of);
        rng_free(&r);
        return 1;
    }
    if (obj_locked(&d, 0xE140, &locked) != 0) goto out;
    if (locked && d.protect == TRUSTM_PROTECT_NONE) {
        fail("bind: 0xE140 is already locked: this chip is bound (use --binding with its secret)");
        goto out;
    }
    /* Which keys still need Conf(0xE140) on Execute, and whether the chip
     * will take it: checked before anything is written. */
    for (ki = 0; ki < nkeys; ki++) {
        bool klocked = false, already = false;
        char words[128];
        key_todo[ki] = false;
        if (exec_open) continue;
        if (key_exec_state(&d, keys[ki], &already, &klocked, words, sizeof(words)) != 0) goto out;
        if (already) continue;
        if (klocked) {
            fail("bind: key 0x%04X is locked, so its Execute condition (%s) cannot become "
                 "Conf(0xE140); nothing changed (--key-exec-open binds without it)", keys[ki], words);
            goto out;
        }
        key_todo[ki] = true;
    }
    st = trustm_get_random(&d.chip, d.protect, TRUSTM_RNG_TRNG, secret, sizeof(secret));
    if (st != TMA_OK || mbedtls_ctr_drbg_random(&r.d, host, sizeof(host)) != 0) {
        fail_st(st, "bind: no random secret");
        goto out;
    }
    for (i = 0; i < sizeof(secret); i++) secret[i] ^= host[i];
    /* Without --force the host copy is linked to FILE (fails if it exists)
     * before the chip is written, so the removal below only ever removes the
     * file this command created. With --force FILE is replaced only after the
     * chip accepted the secret. */
    if (!force && outfile_commit(&of, secret, sizeof(secret)) != 0) goto out;
    st = trustm_write_data(&d.chip, d.protect, 0xE140, TRUSTM_WRITE_ERASE, 0, secret, sizeof(secret));
    if (st != TMA_OK) {
        if (!force) unlink(out);
        fail_st(st, force ? "bind: cannot write the secret to 0xE140 ('%s' unchanged)"
                          : "bind: cannot write the secret to 0xE140 (host file '%s' removed)", out);
        goto out;
    }
    if (force && outfile_commit(&of, secret, sizeof(secret)) != 0) goto out;
    if (!locked) {
        trustm_md_begin(&b, md, sizeof(md));
        trustm_md_add(&b, TRUSTM_MD_CHANGE, chg, sizeof(chg));
        trustm_md_add(&b, TRUSTM_MD_READ, rd, sizeof(rd));
        trustm_md_add_u8(&b, TRUSTM_MD_TYPE, 0x22);
        if (trustm_md_end(&b, &ml) != TMA_OK ||
            (st = trustm_write_metadata(&d.chip, d.protect, 0xE140, md, ml)) != TMA_OK) {
            fail_st(st, "bind: cannot set the metadata of 0xE140");
            goto out;
        }
        st = trustm_set_lcso(&d.chip, d.protect, 0xE140, TRUSTM_LCS_OPERATIONAL);
        if (st != TMA_OK) {
            fail_st(st, "bind: cannot lock 0xE140");
            goto out;
        }
    }
    /* Prove it: handshake with the new secret and a protected GetRandom. */
    st = trustm_shield_set_secret(&d.chip, trustm_crypto_mbedtls(), secret, sizeof(secret));
    if (st == TMA_OK) st = trustm_shield_handshake(&d.chip);
    if (st == TMA_OK) st = trustm_get_random(&d.chip, TRUSTM_PROTECT_BOTH, TRUSTM_RNG_TRNG, host, 16);
    if (st != TMA_OK) {
        fail_st(st, "bind: the shielded connection with the new secret failed");
        goto out;
    }
    if (!g.quiet) {
        printf("bound: secret in 0xE140 (locked), host copy in %s; shielded connection works\n", out);
    }
    /* The binding means something only when the key needs it: Execute of
     * each key becomes Conf(0xE140), written over the shielded connection
     * and read back. */
    for (ki = 0; ki < nkeys; ki++) {
        bool ok = false, klocked = false;
        char words[128];
        if (!exec_open) {
            if (key_todo[ki]) {
                static const uint8_t conf[] = {0x20, 0xE1, 0x40};
                trustm_md_begin(&b, md, sizeof(md));
                trustm_md_add(&b, TRUSTM_MD_EXECUTE, conf, sizeof(conf));
                st = trustm_md_end(&b, &ml);
                if (st == TMA_OK) st = trustm_write_metadata(&d.chip, TRUSTM_PROTECT_BOTH, keys[ki], md, ml);
                if (st != TMA_OK) {
                    fail("bind: the chip is bound (host copy in %s), but the Execute condition of "
                         "key 0x%04X could not be set to Conf(0xE140) (%s), so it still signs in "
                         "plaintext; run 'trustm --binding %s metadata set --oid 0x%04X --execute "
                         "\"Conf(0xE140)\"'", out, keys[ki], tma_status_str(st), out, keys[ki]);
                    goto out;
                }
            }
            d.protect = TRUSTM_PROTECT_BOTH;
            if (key_exec_state(&d, keys[ki], &ok, &klocked, words, sizeof(words)) != 0) goto out;
            if (!ok) {
                fail("bind: the chip is bound (host copy in %s), but key 0x%04X's Execute condition "
                     "reads back as '%s', not Conf(0xE140)", out, keys[ki], words);
                goto out;
            }
        }
        if (!g.quiet) {
            if (exec_open) {
                printf("key 0x%04X: Execute condition left as it was (--key-exec-open)\n", keys[ki]);
            } else {
                printf("key 0x%04X: Execute Conf(0xE140): the chip signs with it only over the shielded "
                       "connection\n", keys[ki]);
            }
        }
        if (!g.quiet && !exec_open && !klocked && !bind_lock_follows) {
            printf("note: key 0x%04X is not locked: until it is ('trustm --binding %s lock --oid 0x%04X "
                   "--yes'), a metadata write can still undo Conf(0xE140)\n", keys[ki], out, keys[ki]);
        }
    }
    rc = 0;
out:
    mbedtls_platform_zeroize(secret, sizeof(secret));
    mbedtls_platform_zeroize(host, sizeof(host));
    outfile_abort(&of);
    rng_free(&r);
    dev_close(&d);
    return rc;
}

/* ---- connect --------------------------------------------------------------- */

int cmd_connect(int argc, char **argv)
{
    bool help = false, prove = false;
    const char *host = NULL, *port = NULL, *address = NULL, *ca_f = NULL, *ca_oids = NULL,
               *cert_s = "0xE0E1", *key_s = "0xE0F1", *send = NULL, *expect = NULL,
               *count_s = "1";
    const struct opt opts[] = {{"--host", 1, &host, NULL},      {"--port", 1, &port, NULL},
                               {"--address", 1, &address, NULL}, {"--ca", 1, &ca_f, NULL},
                               {"--ca-oid", 1, &ca_oids, NULL}, {"--cert-oid", 1, &cert_s, NULL},
                               {"--key-oid", 1, &key_s, NULL},  {"--send", 1, &send, NULL},
                               {"--expect", 1, &expect, NULL},  {"--connects", 1, &count_s, NULL},
                               {"--prove", 0, NULL, &prove},    {NULL, 0, NULL, NULL}};
    int np, rc = 1;
    uint16_t cert_oid, key_oid;
    unsigned long count;
    struct dev d;
    uint8_t obj[1728];
    mbedtls_x509_crt chain, anchors;
    struct tma_tls_chip_signer signer;
    struct tma_tls_chip_rng crng;
    struct tma_tls_rng rng;
    struct tma_tls_key key;
    mbedtls_pk_context pk;
    struct tma_tls_client *cl = NULL;
    struct tma_tls_client_config cfg;
    tma_status st;
    unsigned long i;
    bool pk_bound = false;
    uint8_t *own_buf = NULL;

    if (parse_opts(argc, argv, opts, NULL, 0, &np, &help) != 0) return 1;
    if (help)
        HELP("usage: trustm connect --host NAME --port N [--address IP]\n"
             "         [--ca FILE | --ca-oid 0xE0E8[,0xF1E0]] [--cert-oid 0xE0E1] [--key-oid 0xE0F1]\n"
             "         [--send TEXT [--expect TEXT]] [--connects N] [--prove]\n"
             "A mutual-TLS handshake (TLS 1.2+, server verified against the trust anchors,\n"
             "host name checked) with the client certificate chain read from --cert-oid\n"
             "and the private key operation done by the chip with --key-oid. Entropy from\n"
             "the chip. Reconnects (--connects) resume the session when the server allows,\n"
             "without a new signature. --prove checks the key slot against the certificate\n"
             "first (costs one signature).\n");
    if (host == NULL || port == NULL) return fail("connect: --host and --port are required");
    {
        unsigned long pn;
        if (*host == '\0') return fail("connect: --host must not be empty");
        if (parse_uint(port, 1, 65535, &pn) != 0) return fail("connect: --port takes 1..65535, not '%s'", port);
        if (address != NULL && *address == '\0') return fail("connect: --address must not be empty");
    }
    if (parse_oid(cert_s, &cert_oid) != 0 || !tool_oid_is_cert(cert_oid)) return fail("connect: bad --cert-oid");
    if (parse_oid(key_s, &key_oid) != 0 || !tool_oid_is_ecc_key(key_oid)) return fail("connect: bad --key-oid");
    if (parse_uint(count_s, 1, 100, &count) != 0) return fail("connect: --connects takes 1..100");
    if (ca_f != NULL && ca_oids != NULL) return fail("connect: --ca and --ca-oid exclude each other");
    if (expect != NULL && send == NULL) return fail("connect: --expect needs --send");
    if (ca_oids == NULL) ca_oids = "0xE0E8";
    {
        /* The list's syntax before the chip is touched. */
        char tmp[128];
        char *tok, *save = NULL;
        uint16_t o;
        if (strlen(ca_oids) >= sizeof(tmp)) return fail("connect: --ca-oid list too long");
        strcpy(tmp, ca_oids);
        if (tmp[0] == '\0' || tmp[0] == ',' || tmp[strlen(tmp) - 1] == ',' || strstr(tmp, ",,") != NULL) {
            return fail("connect: --ca-oid needs object ids separated by single commas, not '%s'", ca_oids);
        }
        for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (parse_oid(tok, &o) != 0) return fail("connect: bad --ca-oid '%s'", tok);
        }
    }
    if (dev_open(&d) != 0) return 1;
    mbedtls_x509_crt_init(&chain);
    mbedtls_x509_crt_init(&anchors);
    mbedtls_pk_init(&pk);
    st = tma_tls_chip_load_certs(&d.chip, d.protect, cert_oid, obj, sizeof(obj), &chain, NULL);
    if (st != TMA_OK) {
        fail_st(st, "connect: no client certificate in 0x%04X", cert_oid);
        goto out;
    }
    signer.chip = &d.chip;
    signer.key_oid = key_oid;
    signer.protect = d.protect;
    st = tma_tls_chip_key_bind(&key, &pk, &signer, &chain, prove);
    if (st != TMA_OK) {
        fail_st(st, "connect: the key in 0x%04X cannot be used with the certificate in 0x%04X",
                key_oid, cert_oid);
        goto out;
    }
    pk_bound = true;
    /* Trust anchors: a file, or chip objects (DER each). Collected as DER. */
    {
        uint8_t *ca_buf = NULL;
        size_t ca_len = 0;
        if (ca_f != NULL) {
            if (read_file(ca_f, &ca_buf, &ca_len, 1u << 20) != 0) goto out;
        } else {
            char tmp[128];
            char *tok, *save = NULL;
            const mbedtls_x509_crt *c;
            if (strlen(ca_oids) >= sizeof(tmp)) {
                fail("connect: --ca-oid list too long");
                goto out;
            }
            strcpy(tmp, ca_oids);
            for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                uint16_t o;
                if (parse_oid(tok, &o) != 0) {
                    fail("connect: bad --ca-oid '%s'", tok);
                    goto out;
                }
                st = tma_tls_chip_load_certs(&d.chip, d.protect, o, obj, sizeof(obj), &anchors, NULL);
                if (st != TMA_OK) {
                    fail_st(st, "connect: no trust anchor in 0x%04X", o);
                    goto out;
                }
            }
            for (c = &anchors; c != NULL && c->raw.p != NULL; c = c->next) ca_len += c->raw.len;
            ca_buf = malloc(ca_len ? ca_len : 1);
            if (ca_buf == NULL) {
                fail("connect: out of memory");
                goto out;
            }
            ca_len = 0;
            for (c = &anchors; c != NULL && c->raw.p != NULL; c = c->next) {
                memcpy(ca_buf + ca_len, c->raw.p, c->raw.len);
                ca_len += c->raw.len;
            }
        }
        crng.chip = &d.chip;
        crng.protect = d.protect;
        rng.ctx = &crng;
        rng.fill = tma_tls_chip_random;
        memset(&cfg, 0, sizeof(cfg));
        cfg.host = host;
        cfg.port = port;
        cfg.address = address;
        cfg.ca.ptr = ca_buf;
        cfg.ca.len = ca_len;
        /* The whole chain the object holds (leaf first) goes to the server. */
        {
            const mbedtls_x509_crt *c;
            size_t total = 0;
            for (c = &chain; c != NULL && c->raw.p != NULL; c = c->next) total += c->raw.len;
            own_buf = malloc(total);
            if (own_buf == NULL) {
                free(ca_buf);
                fail("connect: out of memory");
                goto out;
            }
            total = 0;
            for (c = &chain; c != NULL && c->raw.p != NULL; c = c->next) {
                memcpy(own_buf + total, c->raw.p, c->raw.len);
                total += c->raw.len;
            }
            cfg.own_chain.ptr = own_buf;
            cfg.own_chain.len = total;
        }
        cfg.own_key = &pk;
        cfg.rng = &rng;
        cfg.timeout_ms = 10000;
        cl = calloc(1, sizeof(*cl));
        st = cl == NULL ? TMA_ERR(TMA_LAYER_TLS, TMA_C_INTERNAL) : tma_tls_client_init(cl, &cfg);
        free(ca_buf);
        if (st != TMA_OK) {
            fail("connect: %s", cl ? tma_tls_client_error(cl) : "out of memory");
            free(cl);
            cl = NULL;
            goto out;
        }
    }
    for (i = 1; i <= count; i++) {
        st = tma_tls_client_connect(cl);
        if (st != TMA_OK) {
            /* The chip's refusal (0x07) reaches us only as the TLS layer's
             * text; a bound key is the usual reason. */
            const char *e = tma_tls_client_error(cl);
            bool refused = d.protect == TRUSTM_PROTECT_NONE &&
                           strstr(e, tma_status_str(TMA_CHIP_ERROR(0x07))) != NULL;
            fail("connect: %s%s", e,
                 refused ? " (chip error 0x07: the key's Execute condition is not met; a bound key "
                           "needs --binding FILE)" : "");
            goto out;
        }
        if (send != NULL) {
            struct tma_transport t = tma_tls_client_transport(cl);
            char buf[512];
            size_t got = 0, want = expect ? strlen(expect) : 0;
            int32_t n = t.send(t.ctx, (const uint8_t *)send, strlen(send));
            if (n != (int32_t)strlen(send)) {
                fail("connect: send failed: %s", n < 0 ? tma_status_str(n) : "short write");
                goto out;
            }
            while (got < want && got < sizeof(buf) - 1) {
                n = t.recv(t.ctx, (uint8_t *)buf + got, sizeof(buf) - 1 - got);
                if (n <= 0) {
                    fail("connect: no answer: %s", n < 0 ? tma_status_str(n) : "timeout");
                    goto out;
                }
                got += (size_t)n;
            }
            buf[got] = 0;
            if (expect != NULL && strncmp(buf, expect, want) != 0) {
                /* The server's bytes, one line, no control characters. */
                char shown[4 * sizeof(buf)];
                size_t j, k = 0;
                for (j = 0; j < got && k + 5 < sizeof(shown); j++) {
                    unsigned char c = (unsigned char)buf[j];
                    if (c < 0x20 || c == 0x7F) {
                        k += (size_t)snprintf(shown + k, sizeof(shown) - k, "\\x%02X", c);
                    } else {
                        shown[k++] = (char)c;
                    }
                }
                shown[k] = '\0';
                fail("connect: got '%s', expected '%s'", shown, expect);
                goto out;
            }
        }
        printf("connect %lu: ok, TLS 1.2 mutual authentication, resumed=%s, chip signatures so far=%u\n",
               i, tma_tls_client_resumed(cl) ? "yes" : "no", (unsigned)key.sign_count);
        tma_tls_client_close(cl);
    }
    rc = 0;
out:
    if (cl != NULL) {
        tma_tls_client_deinit(cl);
        free(cl);
    }
    if (pk_bound) mbedtls_pk_free(&pk);
    free(own_buf);
    mbedtls_x509_crt_free(&chain);
    mbedtls_x509_crt_free(&anchors);
    dev_close(&d);
    return rc;
}
