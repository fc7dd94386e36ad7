/* Fuzz the TLS binding's parsers: chip signature normalisation and the
 * certificate input formats (PEM, DER list, TLS-identity wrapper).
 * Byte 0 selects: 0 P-256 signature, 1 P-384 signature, else certificates. */
#include "tma/tls.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tma_span in;
    if (size < 1) {
        return 0;
    }
    in.ptr = data + 1;
    in.len = size - 1;
    if (data[0] == 0 || data[0] == 1) {
        size_t kb = data[0] == 0 ? 32 : 48;
        uint8_t out[TMA_TLS_MAX_SIG_DER];
        size_t n = 0;
        tma_status st = tma_tls_sig_to_der(in, kb, out, sizeof(out), &n);
        if (st == TMA_OK) {
            /* Output must be canonical: normalising it again is the identity. */
            uint8_t again[TMA_TLS_MAX_SIG_DER];
            size_t m = 0;
            struct tma_span o = {out, n};
            if (n > sizeof(out) || tma_tls_sig_to_der(o, kb, again, sizeof(again), &m) != TMA_OK ||
                m != n || memcmp(out, again, n) != 0) {
                abort();
            }
        }
    } else if (in.len > 0) {
        mbedtls_x509_crt chain;
        size_t count = 0;
        mbedtls_x509_crt_init(&chain);
        (void)tma_tls_parse_certs(&chain, in, &count);
        mbedtls_x509_crt_free(&chain);
    }
    return 0;
}
