#define _POSIX_C_SOURCE 200809L
/* Test driver for the TLS binding: a client whose private key operation goes
 * through the delegated pk (software signer standing in for the chip).
 * Prints one line per connection; on failure prints "error: <reason>" and
 * exits 2. Used by tests/integration/tls_*.sh. */
#include "tls_soft_signer.h"

#include <mbedtls/x509_csr.h>
#include <stdio.h>
#include <time.h>
#ifdef TLS_TEST_HAVE_TCP
#include "tma/tcp.h"
#endif
#include <stdlib.h>
#include <string.h>

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;
    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

static uint64_t mono_ms(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* --check-wipe: the master secret as mbedTLS derived it (export-keys hook),
 * then looked for in the client's SSL context after a failed handshake and
 * after close (review R5). The kept session (client.saved) may hold it. */
static unsigned char exported_ms[48];
static int exported;
static int export_keys(void *p, const unsigned char *ms, const unsigned char *kb, size_t maclen,
                       size_t keylen, size_t ivlen, const unsigned char client_random[32],
                       const unsigned char server_random[32], mbedtls_tls_prf_types prf)
{
    (void)p; (void)kb; (void)maclen; (void)keylen; (void)ivlen;
    (void)client_random; (void)server_random; (void)prf;
    memcpy(exported_ms, ms, sizeof(exported_ms));
    exported = 1;
    return 0;
}

static int holds_master(const void *mem, size_t n)
{
    const unsigned char *p = mem;
    size_t i;
    if (mem == NULL || !exported || n < sizeof(exported_ms)) {
        return 0;
    }
    for (i = 0; i + sizeof(exported_ms) <= n; i++) {
        if (memcmp(p + i, exported_ms, sizeof(exported_ms)) == 0) {
            return 1;
        }
    }
    return 0;
}

static void report_wipe(const char *when, const struct tma_tls_client *c)
{
    int in_ctx = holds_master(c->ssl.session, sizeof(*c->ssl.session)) ||
                 holds_master(c->ssl.session_negotiate, sizeof(*c->ssl.session_negotiate)) ||
                 holds_master(&c->ssl, sizeof(c->ssl));
    printf("wipe %s: derived=%d in_context=%d saved=%d\n", when, exported, in_ctx,
           holds_master(&c->saved, sizeof(c->saved)));
}

static void usage(void)
{
    fprintf(stderr, "usage: tls_test_client --key FILE [--host H --port P [--address A] --ca FILE "
                    "[--cert FILE] [--signer-key FILE] [--connects N] [--send TEXT --expect TEXT]] "
                    "[--csr OUT --subject DN] [--fail-signer] [--lower-tcp] [--hs-timeout MS] "
                    "[--flood BYTES] [--check-wipe]\n");
}

int main(int argc, char **argv)
{
    const char *host = NULL, *port = NULL, *address = NULL, *ca_path = NULL, *cert_path = NULL;
    const char *key_path = NULL, *signer_key = NULL, *send = NULL, *expect = NULL;
    const char *csr_out = NULL, *subject = NULL;
    int connects = 1, fail_signer = 0, lower_tcp = 0, check_wipe = 0, rc = 2, i;
    long hs_timeout = 0, flood = 0;
#ifdef TLS_TEST_HAVE_TCP
    struct tma_tcp tcp = {-1, 0};
    struct tma_transport lower;
    struct tma_clock clk = {NULL, mono_ms};
#endif
    struct soft_signer soft;
    struct tma_tls_key key;
    mbedtls_pk_context pk;
    struct tma_tls_signer signer;
    struct tma_tls_client client;
    struct tma_tls_client_config cfg;
    unsigned char *ca = NULL, *cert = NULL;
    size_t ca_len = 0, cert_len = 0;
    tma_status st;
    int client_ready = 0;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL && strcmp(a, "--fail-signer") != 0 && strcmp(a, "--lower-tcp") != 0 &&
            strcmp(a, "--check-wipe") != 0) {
            usage();
            return 64;
        }
        if (!strcmp(a, "--host")) host = v;
        else if (!strcmp(a, "--port")) port = v;
        else if (!strcmp(a, "--address")) address = v;
        else if (!strcmp(a, "--ca")) ca_path = v;
        else if (!strcmp(a, "--cert")) cert_path = v;
        else if (!strcmp(a, "--key")) key_path = v;
        else if (!strcmp(a, "--signer-key")) signer_key = v;
        else if (!strcmp(a, "--connects")) connects = atoi(v);
        else if (!strcmp(a, "--send")) send = v;
        else if (!strcmp(a, "--expect")) expect = v;
        else if (!strcmp(a, "--csr")) csr_out = v;
        else if (!strcmp(a, "--subject")) subject = v;
        else if (!strcmp(a, "--hs-timeout")) hs_timeout = atol(v);
        else if (!strcmp(a, "--flood")) flood = atol(v);
        else if (!strcmp(a, "--fail-signer")) { fail_signer = 1; continue; }
        else if (!strcmp(a, "--lower-tcp")) { lower_tcp = 1; continue; }
        else if (!strcmp(a, "--check-wipe")) { check_wipe = 1; continue; }
        else { usage(); return 64; }
        i++;
    }
    if (key_path == NULL) {
        usage();
        return 64;
    }
    /* The public key comes from key_path; signatures from signer_key (a
     * different key there simulates a chip slot that does not match). */
    {
        struct soft_signer pubsrc;
        if (soft_signer_load(&pubsrc, key_path) != 0) {
            printf("error: cannot load key %s\n", key_path);
            return 2;
        }
        if (soft_signer_load(&soft, signer_key != NULL ? signer_key : key_path) != 0) {
            printf("error: cannot load signer key\n");
            soft_signer_free(&pubsrc);
            return 2;
        }
        soft.fail = fail_signer;
        signer.ctx = &soft;
        signer.sign = soft_signer_sign;
        mbedtls_pk_init(&pk);
        {
            struct tma_span pub = {pubsrc.pub, pubsrc.pub_len};
            st = tma_tls_key_bind(&key, &pk, pubsrc.group, pub, &signer);
        }
        soft_signer_free(&pubsrc);
        if (st != TMA_OK) {
            printf("error: key bind: %s\n", tma_status_str(st));
            goto out;
        }
    }

    if (csr_out != NULL) {
        mbedtls_x509write_csr csr;
        unsigned char pem[4096];
        FILE *f;
        mbedtls_x509write_csr_init(&csr);
        mbedtls_x509write_csr_set_md_alg(&csr, MBEDTLS_MD_SHA256);
        mbedtls_x509write_csr_set_key(&csr, &pk);
        if (subject == NULL || mbedtls_x509write_csr_set_subject_name(&csr, subject) != 0 ||
            mbedtls_x509write_csr_pem(&csr, pem, sizeof(pem), mbedtls_ctr_drbg_random,
                                      &soft.drbg) != 0) {
            printf("error: CSR could not be written\n");
            mbedtls_x509write_csr_free(&csr);
            goto out;
        }
        mbedtls_x509write_csr_free(&csr);
        f = fopen(csr_out, "w");
        if (f == NULL || fputs((char *)pem, f) < 0) {
            printf("error: cannot write %s\n", csr_out);
            if (f) fclose(f);
            goto out;
        }
        fclose(f);
        printf("csr: ok signatures=%u\n", key.sign_count);
        if (host == NULL) {
            rc = 0;
            goto out;
        }
    }

    if (host == NULL || port == NULL || ca_path == NULL) {
        usage();
        rc = 64;
        goto out;
    }
    ca = slurp(ca_path, &ca_len);
    if (ca == NULL) {
        printf("error: cannot read %s\n", ca_path);
        goto out;
    }
    if (cert_path != NULL) {
        cert = slurp(cert_path, &cert_len);
        if (cert == NULL) {
            printf("error: cannot read %s\n", cert_path);
            goto out;
        }
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = host;
    cfg.port = port;
    cfg.address = address;
    cfg.ca.ptr = ca;
    cfg.ca.len = ca_len;
    if (cert != NULL) {
        cfg.own_chain.ptr = cert;
        cfg.own_chain.len = cert_len;
        cfg.own_key = &pk;
    }
    cfg.timeout_ms = 5000;
    cfg.handshake_timeout_ms = (uint32_t)hs_timeout;
    if (lower_tcp) {
#ifdef TLS_TEST_HAVE_TCP
        /* TLS over the project's own TCP transport instead of mbedtls_net. */
        lower = tma_tcp_transport(&tcp);
        cfg.lower = &lower;
        cfg.clock = &clk;
#else
        printf("error: built without the TCP transport\n");
        goto out;
#endif
    }
    st = tma_tls_client_init(&client, &cfg);
    if (st != TMA_OK) {
        printf("error: %s [%s]\n", tma_tls_client_error(&client), tma_status_str(st));
        goto out;
    }
    client_ready = 1;
    if (check_wipe) {
        mbedtls_ssl_conf_export_keys_ext_cb(&client.conf, export_keys, NULL);
    }
    for (i = 1; i <= connects; i++) {
#ifdef TLS_TEST_HAVE_TCP
        if (lower_tcp) {
            st = tma_tcp_connect(&tcp, address != NULL ? address : host, (uint16_t)atoi(port), 5000);
            if (st != TMA_OK) {
                printf("error: tcp connect: %s\n", tma_status_str(st));
                goto out;
            }
        }
#endif
        st = tma_tls_client_connect(&client);
        if (st != TMA_OK) {
            if (check_wipe) {
                report_wipe("after failure", &client);
            }
            printf("error: %s [%s]\n", tma_tls_client_error(&client), tma_status_str(st));
            goto out;
        }
        if (flood > 0) {
            /* Send FLOOD bytes to a peer that may have stopped reading or
             * closed: the result must be an error status, never a hang or
             * a signal. */
            static uint8_t chunk[16384];
            struct tma_transport t = tma_tls_client_transport(&client);
            long sent = 0;
            uint64_t t0 = mono_ms(NULL);
            int32_t n = 0;
            while (sent < flood) {
                n = t.send(t.ctx, chunk, sizeof(chunk));
                if (n < 0) {
                    break;
                }
                sent += n;
            }
            printf("flood: %s after %ld bytes in %llu ms\n", n < 0 ? tma_status_str(n) : "ok", sent,
                   (unsigned long long)(mono_ms(NULL) - t0));
            if (n < 0) {
                goto out;
            }
        }
        if (send != NULL) {
            struct tma_transport t = tma_tls_client_transport(&client);
            char buf[256];
            size_t got = 0;
            size_t want = expect != NULL ? strlen(expect) : 0;
            int32_t n = t.send(t.ctx, (const uint8_t *)send, strlen(send));
            if (n != (int32_t)strlen(send)) {
                printf("error: send returned %d\n", (int)n);
                goto out;
            }
            while (got < want) {
                n = t.recv(t.ctx, (uint8_t *)buf + got, sizeof(buf) - 1 - got);
                if (n <= 0) {
                    printf("error: recv returned %d (%s)\n", (int)n,
                           n < 0 ? tma_status_str(n) : "timeout");
                    goto out;
                }
                got += (size_t)n;
            }
            buf[got] = 0;
            if (expect != NULL && strncmp(buf, expect, want) != 0) {
                printf("error: got '%s', expected '%s'\n", buf, expect);
                goto out;
            }
        }
        printf("connect %d: ok resumed=%d signatures=%u hash_len=%zu\n", i,
               tma_tls_client_resumed(&client) ? 1 : 0, key.sign_count, soft.last_hash_len);
        tma_tls_client_close(&client);
        if (check_wipe) {
            report_wipe("after close", &client);
        }
#ifdef TLS_TEST_HAVE_TCP
        if (lower_tcp) {
            tma_tcp_close(&tcp);
        }
#endif
    }
    rc = 0;
out:
    if (client_ready) {
        tma_tls_client_deinit(&client);
    }
#ifdef TLS_TEST_HAVE_TCP
    if (tcp.fd >= 0) {
        tma_tcp_close(&tcp);
    }
#endif
    mbedtls_pk_free(&pk);
    soft_signer_free(&soft);
    free(ca);
    free(cert);
    fflush(stdout);
    return rc;
}
