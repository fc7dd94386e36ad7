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
 * stores a copy of the certificates the peer sent (leaf first) in the leaf's
 * ex_data, so the plugin can verify the chain itself against the registry's
 * verified CAs (mosquitto_client_certificate() only returns the leaf).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>

int localhub_tls_chain_index(void);

static int chain_idx = -1;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void free_chain(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;
    if (ptr) sk_X509_pop_free((STACK_OF(X509) *)ptr, X509_free);
}

static void init_index(void)
{
    chain_idx = X509_get_ex_new_index(0, NULL, NULL, NULL, free_chain);
}

/** ex_data index of the peer chain on the leaf X509 (plugin looks it up with dlsym). */
int localhub_tls_chain_index(void)
{
    pthread_once(&once, init_index);
    return chain_idx;
}

static int accept_and_keep_chain(int preverify_ok, X509_STORE_CTX *ctx)
{
    (void)preverify_ok;
    int idx = localhub_tls_chain_index();
    X509 *leaf = X509_STORE_CTX_get0_cert(ctx);
    STACK_OF(X509) *sent = X509_STORE_CTX_get0_untrusted(ctx);
    if (idx >= 0 && leaf && sent && !X509_get_ex_data(leaf, idx)) {
        STACK_OF(X509) *copy = X509_chain_up_ref(sent);
        if (copy && !X509_set_ex_data(leaf, idx, copy)) sk_X509_pop_free(copy, X509_free);
    }
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
        real(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, accept_and_keep_chain);
    } else {
        real(ctx, mode, callback);
    }
}
