/* Private to src/tls: shared between the key binding and the client. */
#ifndef TMA_TLS_INTERNAL_H
#define TMA_TLS_INTERNAL_H

#include "tma/tls.h"

/* Status of the last delegated signature if pk is bound to a tma_tls_key,
 * TMA_OK otherwise. */
tma_status tma_tls_key_last_status(const mbedtls_pk_context *pk);

/* Clears the last signer status (no-op for other keys). */
void tma_tls_key_reset_status(mbedtls_pk_context *pk);

#endif
