/* Certificate and SAS helpers (OpenSSL 3) shared by plugin and CLI. */
#define _POSIX_C_SOURCE 200809L
#include "localhub_pki.h"
#include "localhub_parse.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int localhub_cert_cn(X509 *cert, char *out, size_t outsz)
{
    X509_NAME *name;
    int idx, len;
    ASN1_STRING *data;
    if (!cert || !out || outsz == 0) return -1;
    name = X509_get_subject_name(cert);
    idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (idx < 0) return -1;
    /* Exactly one CN: a second one would make the identity ambiguous. */
    if (X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0) return -1;
    data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    len = ASN1_STRING_length(data);
    if (len <= 0 || (size_t)len >= outsz) return -1;
    memcpy(out, ASN1_STRING_get0_data(data), (size_t)len);
    out[len] = '\0';
    if (strlen(out) != (size_t)len) return -1; /* embedded NUL */
    return 0;
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int localhub_cert_thumbprints(X509 *cert, char sha1[41], char sha256[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!cert) return -1;
    if (sha1) {
        if (!X509_digest(cert, EVP_sha1(), md, &n) || n != 20) return -1;
        to_hex(md, 20, sha1);
    }
    if (sha256) {
        if (!X509_digest(cert, EVP_sha256(), md, &n) || n != 32) return -1;
        to_hex(md, 32, sha256);
    }
    return 0;
}

int localhub_thumb_matches(X509 *cert, const char *thumb)
{
    char s1[41], s256[65];
    if (!cert || !thumb || !thumb[0]) return 0;
    if (localhub_cert_thumbprints(cert, s1, s256)) return 0;
    return strcasecmp(thumb, s1) == 0 || strcasecmp(thumb, s256) == 0;
}

X509 *localhub_cert_load_file(const char *path)
{
    X509 *c = NULL;
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    c = PEM_read_X509(f, NULL, NULL, NULL);
    if (!c) {
        rewind(f);
        c = d2i_X509_fp(f, NULL); /* accept DER too */
    }
    fclose(f);
    return c;
}

X509 *localhub_cert_from_pem(const char *pem)
{
    BIO *b;
    X509 *c;
    if (!pem) return NULL;
    b = BIO_new_mem_buf(pem, -1);
    if (!b) return NULL;
    c = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    return c;
}

char *localhub_cert_to_pem(X509 *cert)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *out = NULL;
    long n;
    if (!b) return NULL;
    if (PEM_write_bio_X509(b, cert)) {
        n = BIO_get_mem_data(b, &data);
        out = malloc((size_t)n + 1);
        if (out) {
            memcpy(out, data, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free(b);
    return out;
}

int localhub_cert_time_valid(X509 *cert)
{
    return X509_cmp_current_time(X509_get0_notBefore(cert)) < 0 &&
           X509_cmp_current_time(X509_get0_notAfter(cert)) > 0;
}

int localhub_cert_client_usage_ok(X509 *cert)
{
    /* A key that its certificate reserves for other uses (a TLS server, CA
     * signing) must not authenticate a device, whoever issued it: the check
     * a TLS server's own verification would make with purpose sslclient,
     * which the TLS shim (it accepts every chain) leaves to the plugin. */
    return cert && X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 0) == 1;
}

int localhub_verify_chain(X509 *leaf, STACK_OF(X509) *untrusted, const char *const *anchors_pem, int n)
{
    int result = -1;
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;
    X509 **anchors = NULL;
    if (!leaf || n <= 0) return -1;
    anchors = calloc((size_t)n, sizeof(*anchors));
    store = X509_STORE_new();
    ctx = X509_STORE_CTX_new();
    if (!anchors || !store || !ctx) goto out;
    for (int i = 0; i < n; i++) {
        anchors[i] = localhub_cert_from_pem(anchors_pem[i]);
        if (anchors[i]) X509_STORE_add_cert(store, anchors[i]);
    }
    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
    if (!X509_STORE_CTX_init(ctx, store, leaf, untrusted)) goto out;
    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_ANY);
    if (X509_verify_cert(ctx) == 1) {
        STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
        X509 *top = sk_X509_value(chain, sk_X509_num(chain) - 1);
        /* The anchor is the first trusted certificate in the built chain. */
        for (int k = 1; k < sk_X509_num(chain) && result < 0; k++) {
            X509 *c = sk_X509_value(chain, k);
            for (int i = 0; i < n; i++) {
                if (anchors[i] && X509_cmp(anchors[i], c) == 0) {
                    result = i;
                    break;
                }
            }
        }
        (void)top;
    }
out:
    if (anchors) {
        for (int i = 0; i < n; i++) X509_free(anchors[i]);
        free(anchors);
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return result;
}

int localhub_verify_pop(X509 *ca, X509 *verif, const char *code)
{
    char cn[256];
    EVP_PKEY *pk;
    if (!ca || !verif || !code) return -1;
    if (localhub_cert_cn(verif, cn, sizeof(cn)) || strcmp(cn, code) != 0) return -1;
    pk = X509_get0_pubkey(ca);
    if (!pk || X509_verify(verif, pk) != 1) return -1;
    return 0;
}

static int b64_decode(const char *in, unsigned char *out, size_t outsz, size_t *outlen)
{
    size_t n = strlen(in);
    int len;
    unsigned char tmp[512];
    if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(tmp)) return -1;
    len = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)n);
    if (len < 0) return -1;
    if (n >= 1 && in[n - 1] == '=') len--;
    if (n >= 2 && in[n - 2] == '=') len--;
    if ((size_t)len > outsz) return -1;
    memcpy(out, tmp, (size_t)len);
    OPENSSL_cleanse(tmp, sizeof(tmp));
    *outlen = (size_t)len;
    return 0;
}

int localhub_key_b64_len(const char *key_b64)
{
    unsigned char key[384];
    size_t klen = 0;
    int rc;
    if (!key_b64) return -1;
    rc = b64_decode(key_b64, key, sizeof(key), &klen) ? -1 : (int)klen;
    OPENSSL_cleanse(key, sizeof(key));
    return rc;
}

int localhub_hmac_b64(const char *key_b64, const char *msg, char *out, size_t outsz)
{
    unsigned char key[256], mac[32];
    size_t klen = 0;
    unsigned int maclen = 0;
    int rc = -1;
    if (!key_b64 || !msg || !out || outsz < 45) return -1;
    if (b64_decode(key_b64, key, sizeof(key), &klen)) goto out;
    if (!HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), mac, &maclen)) goto out;
    EVP_EncodeBlock((unsigned char *)out, mac, 32);
    rc = 0;
out:
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(mac, sizeof(mac));
    return rc;
}

int localhub_sas_sig_ok(const char *sr_encoded, int64_t se, const char *sig_enc, const char *key_b64)
{
    char msg[600], expect[64], got[128];
    int ok = 0;
    if (!sr_encoded || !sig_enc || !key_b64 || !key_b64[0]) return 0;
    if (snprintf(msg, sizeof(msg), "%s\n%lld", sr_encoded, (long long)se) >= (int)sizeof(msg)) return 0;
    if (localhub_hmac_b64(key_b64, msg, expect, sizeof(expect))) return 0;
    if (localhub_url_decode(sig_enc, strlen(sig_enc), got, sizeof(got)) < 0) goto out;
    if (strlen(got) == strlen(expect) && CRYPTO_memcmp(got, expect, strlen(expect)) == 0) ok = 1;
out:
    OPENSSL_cleanse(expect, sizeof(expect));
    return ok;
}

int localhub_random_key_b64(char out[45])
{
    unsigned char k[32];
    if (RAND_bytes(k, sizeof(k)) != 1) return -1;
    EVP_EncodeBlock((unsigned char *)out, k, 32);
    OPENSSL_cleanse(k, sizeof(k));
    return 0;
}

int localhub_random_hex(char *out, size_t nbytes)
{
    unsigned char b[64];
    if (nbytes > sizeof(b) || RAND_bytes(b, (int)nbytes) != 1) return -1;
    for (size_t i = 0; i < nbytes; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
    return 0;
}

static EVP_PKEY *rsa_key(void)
{
    return EVP_RSA_gen(2048);
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ex;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ex) return -1;
    X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
    return 0;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long days)
{
    X509 *c = X509_new();
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    if (!c) return NULL;
    X509_set_version(c, 2);
    RAND_bytes(serial, sizeof(serial));
    serial[0] &= 0x7F;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(c), -3600);
    X509_gmtime_adj(X509_getm_notAfter(c), days * 86400L);
    X509_set_pubkey(c, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "O", MBSTRING_ASC, (const unsigned char *)"localhub", -1, -1, 0);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(c));
    if (!issuer) {
        add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign");
        add_ext(c, c, NID_subject_key_identifier, "hash");
    }
    (void)issuer_key;
    return c;
}

static int write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
    FILE *f;
    int rc = -1;
    mode_t old = umask(077);
    f = fopen(path, "w");
    umask(old);
    if (!f) return -1;
    if (cert ? PEM_write_X509(f, cert) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)) rc = 0;
    if (fclose(f)) rc = -1;
    return rc;
}

/* Server certificate for localhost / 127.0.0.1 / ::1 (and @extra_dns) with
 * key @sk, signed by @ca / @ck, valid for @days. */
static X509 *issue_server(EVP_PKEY *sk, X509 *ca, EVP_PKEY *ck, const char *extra_dns, long days)
{
    X509 *srv = make_cert(sk, "localhost", ca, ck, days);
    char san[512];
    if (!srv) return NULL;
    snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1%s%s", extra_dns && *extra_dns ? ",DNS:" : "",
             extra_dns && *extra_dns ? extra_dns : "");
    if (add_ext(srv, ca, NID_basic_constraints, "critical,CA:FALSE") ||
        add_ext(srv, ca, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
        add_ext(srv, ca, NID_ext_key_usage, "serverAuth") || add_ext(srv, ca, NID_subject_alt_name, san) ||
        add_ext(srv, ca, NID_authority_key_identifier, "keyid:always") || !X509_sign(srv, ck, EVP_sha256())) {
        X509_free(srv);
        return NULL;
    }
    return srv;
}

int localhub_make_server_pki(const char *ca_cert, const char *ca_key, const char *srv_cert, const char *srv_key,
                             const char *extra_dns)
{
    int rc = -1;
    EVP_PKEY *ck = rsa_key(), *sk = rsa_key();
    X509 *ca = NULL, *srv = NULL;
    if (!ck || !sk) goto out;
    ca = make_cert(ck, "localhub root CA", NULL, NULL, LOCALHUB_ROOT_DAYS);
    if (!ca || !X509_sign(ca, ck, EVP_sha256())) goto out;
    srv = issue_server(sk, ca, ck, extra_dns, LOCALHUB_SERVER_DAYS);
    if (!srv) goto out;
    if (write_pem(ca_cert, ca, NULL) || write_pem(ca_key, NULL, ck) || write_pem(srv_cert, srv, NULL) ||
        write_pem(srv_key, NULL, sk))
        goto out;
    chmod(ca_cert, 0644);
    chmod(srv_cert, 0644);
    rc = 0;
out:
    X509_free(ca);
    X509_free(srv);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(sk);
    return rc;
}

int64_t localhub_cert_seconds_left(X509 *cert)
{
    int day = 0, sec = 0;
    if (!cert || !ASN1_TIME_diff(&day, &sec, NULL, X509_get0_notAfter(cert))) return INT64_MIN;
    return (int64_t)day * 86400 + sec;
}

int localhub_cert_not_after(X509 *cert, char out[32])
{
    struct tm tm;
    out[0] = '\0';
    if (!cert || !ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm)) return -1;
    return strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) ? 0 : -1;
}

/* Write @cert or @key to @path through @path.tmp and a rename: a crash
 * leaves the old file or the new one, never half of one. */
static int write_pem_atomic(const char *path, X509 *cert, EVP_PKEY *key)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) return -1;
    if (write_pem(tmp, cert, key)) {
        unlink(tmp);
        return -1;
    }
    if (cert) chmod(tmp, 0644);
    if (rename(tmp, path)) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int localhub_renew_server_cert(const char *ca_cert, const char *ca_key, const char *srv_cert, const char *srv_key,
                               const char *extra_dns)
{
    int rc = -1;
    X509 *ca = localhub_cert_load_file(ca_cert), *srv = NULL;
    EVP_PKEY *ck = NULL, *sk = NULL;
    FILE *f = fopen(ca_key, "r");
    int64_t root_left;
    long days = LOCALHUB_SERVER_DAYS;
    if (f) {
        ck = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (!ca || !ck || X509_check_private_key(ca, ck) != 1) goto out;
    /* Not past the root: a server certificate that outlives its root only
     * looks valid for longer. */
    root_left = localhub_cert_seconds_left(ca);
    if (root_left > 86400 && root_left / 86400 < days) days = (long)(root_left / 86400);
    sk = rsa_key();
    if (!sk || !(srv = issue_server(sk, ca, ck, extra_dns, days))) goto out;
    /* The key first: a crash between the two renames leaves the old
     * certificate (still expiring) with the new key, which the next start
     * renews again. */
    if (write_pem_atomic(srv_key, NULL, sk) || write_pem_atomic(srv_cert, srv, NULL)) goto out;
    rc = 0;
out:
    X509_free(ca);
    X509_free(srv);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(sk);
    return rc;
}

static void serial_hex(X509 *cert, char *out, size_t outsz)
{
    BIGNUM *bn = cert ? ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL) : NULL;
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    snprintf(out, outsz, "%s", hex ? hex : "?");
    OPENSSL_free(hex);
    BN_free(bn);
}

int localhub_server_cert_renew_due(const char *ca_cert, const char *ca_key, const char *srv_cert, const char *srv_key,
                                   int force, struct localhub_renewal *out)
{
    X509 *root = localhub_cert_load_file(ca_cert), *cert = localhub_cert_load_file(srv_cert);
    int rc = -1;
    memset(out, 0, sizeof(*out));
    if (!root || !cert) goto done;
    out->left_s = localhub_cert_seconds_left(cert);
    localhub_cert_not_after(cert, out->old_end);
    serial_hex(cert, out->old_serial, sizeof(out->old_serial));
    if (!force && out->left_s >= (int64_t)LOCALHUB_SERVER_RENEW_DAYS * 86400) {
        rc = 0;
        goto done;
    }
    if (X509_check_issued(root, cert) != X509_V_OK) {
        rc = -2;
        goto done;
    }
    /* A new certificate would not outlive the root: nothing to gain (and a
     * daily renewal for nothing in the root's last month). */
    if (!force && out->left_s >= 0 && localhub_cert_seconds_left(root) <= out->left_s + 86400) {
        rc = 0;
        goto done;
    }
    /* @ca_key NULL: only decide (the plugin's message at start, which must
     * say what its first tick will do): 1 = a renewal is due. */
    if (!ca_key) {
        rc = 1;
        goto done;
    }
    if (localhub_renew_server_cert(ca_cert, ca_key, srv_cert, srv_key, NULL)) goto done;
    X509_free(cert);
    if (!(cert = localhub_cert_load_file(srv_cert))) goto done;
    localhub_cert_not_after(cert, out->new_end);
    serial_hex(cert, out->new_serial, sizeof(out->new_serial));
    rc = 1;
done:
    X509_free(root);
    X509_free(cert);
    return rc;
}
