/*
 * localhub TLS shim, preloaded (LD_PRELOAD) into the mosquitto process that
 * `localhub start` runs. It makes mosquitto's TLS listener behave like IoT
 * Hub's: the server *asks* for a client certificate in the first handshake
 * but never fails the handshake over it; authentication happens at CONNECT
 * in the plugin, so every failure (unknown CA, expired certificate, wrong CN,
 * no certificate for an X.509 device) becomes CONNACK 5 instead of a TLS
 * alert, and devices with and without certificates share one port.
 *
 * How: mosquitto 2.0 calls SSL_CTX_set_verify(ctx, PEER|FAIL_IF_NO_PEER_CERT,
 * cb) for `require_certificate true`. We interpose that call, drop
 * FAIL_IF_NO_PEER_CERT and install a callback that accepts the chain and
 * remembers the certificates the peer sent, so the plugin can verify the
 * chain itself against the registry's verified CAs
 * (mosquitto_client_certificate() only returns the leaf). The plugin finds
 * localhub_tls_chain_for() with dlsym.
 *
 * Where the chain is kept: on the leaf certificate object itself (X509
 * ex_data). OpenSSL makes the verified leaf the session's peer certificate,
 * a resumed session (session id, or a TLS 1.3 ticket, both from the server's
 * session cache: stateless tickets are switched off) keeps that object, and
 * mosquitto_client_certificate() returns it; so the chain lives exactly as
 * long as the session and no other client can displace it.
 *
 * There was also a table of chains by leaf digest, "the fallback for a leaf
 * object without it". Never used: with this shim's callback every peer leaf
 * the plugin can see went through it (a test build marking both paths, on
 * hub_x509, hub_cert_reload, hub_sec_tls with TLS 1.2 and 1.3 resumption,
 * hub_sec_auth, hub_pki, hub_dps, hub_restart, hub_authz: 46 look-ups, all
 * on the leaf, none in the table). Only a failed allocation in attach()
 * leaves a leaf bare; then the chain is unknown and an intermediate-signed
 * device gets CONNACK 5, as without the shim. The table (16,384 slots,
 * 640 KB in the broker) and the displacement it allowed are gone.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

STACK_OF(X509) *localhub_tls_chain_for(X509 *leaf);

#define MAX_DEPTH 10

/* X509 ex_data index of the issuers sent with a leaf object (-1: none yet). */
static int chain_idx = -1;

static void issuers_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    if (ptr) sk_X509_pop_free(ptr, X509_free);
}

static void chain_idx_init(void)
{
    if (chain_idx < 0) chain_idx = X509_get_ex_new_index(0, NULL, NULL, NULL, issuers_free);
}

/* Keep on @leaf the certificates of @sent that really issue it, one after
 * the other (issuer name and signature checked, up to MAX_DEPTH): junk
 * intermediates a client adds are not kept. A self-signed root sent by the
 * peer ends the chain and is kept (harmless: trust comes from the registry). */
static void attach(X509 *leaf, STACK_OF(X509) *sent)
{
    STACK_OF(X509) *issuers;
    X509 *cur = leaf;
    if (chain_idx < 0) return;
    issuers = sk_X509_new_null();
    if (!issuers) return;
    for (int depth = 0; depth < MAX_DEPTH; depth++) {
        X509 *next = NULL;
        for (int i = 0; i < sk_X509_num(sent) && !next; i++) {
            X509 *c = sk_X509_value(sent, i);
            if (c == cur || X509_cmp(c, cur) == 0) continue;
            EVP_PKEY *pk = X509_get0_pubkey(c);
            if (X509_check_issued(c, cur) == X509_V_OK && pk && X509_verify(cur, pk) == 1) next = c;
        }
        if (!next) break;
        if (!X509_up_ref(next)) break;
        if (!sk_X509_push(issuers, next)) {
            X509_free(next);
            break;
        }
        if (X509_check_issued(next, next) == X509_V_OK) break; /* self-signed root */
        cur = next;
    }
    issuers_free(NULL, X509_get_ex_data(leaf, chain_idx), NULL, 0, 0, NULL);
    if (!X509_set_ex_data(leaf, chain_idx, issuers)) sk_X509_pop_free(issuers, X509_free);
}

/** The issuers sent with @p leaf, kept on this leaf object, or NULL.
 *  Borrowed. */
STACK_OF(X509) *localhub_tls_chain_for(X509 *leaf)
{
    return leaf && chain_idx >= 0 ? X509_get_ex_data(leaf, chain_idx) : NULL;
}

static int accept_and_keep_chain(int preverify_ok, X509_STORE_CTX *ctx)
{
    (void)preverify_ok;
    X509 *leaf = X509_STORE_CTX_get0_cert(ctx);
    STACK_OF(X509) *sent = X509_STORE_CTX_get0_untrusted(ctx);
    /* Called for every certificate and error of the chain; remembering each
     * time is idempotent and does not depend on OpenSSL's call order. */
    if (leaf && sent) attach(leaf, sent);
    return 1;
}

void SSL_CTX_set_verify(SSL_CTX *ctx, int mode, SSL_verify_cb callback)
{
    static void (*real)(SSL_CTX *, int, SSL_verify_cb);
    if (!real) {
        *(void **)(&real) = dlsym(RTLD_NEXT, "SSL_CTX_set_verify");
        if (!real) return;
    }
    if (mode & SSL_VERIFY_PEER) {
        chain_idx_init();
        /* Resumption from the server's session cache only: a stateless
         * ticket would rebuild the leaf as a new object without its chain. */
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        real(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, accept_and_keep_chain);
    } else {
        real(ctx, mode, callback);
    }
}
