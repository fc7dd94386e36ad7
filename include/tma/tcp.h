/**
 * @file tcp.h
 * @brief Plain TCP transport for POSIX (port/tcp_posix.c).
 *
 * A connected, non-blocking socket behind the struct tma_transport contract:
 * send() returns bytes written or 0 when the socket buffer is full; recv()
 * waits at most `recv_wait_ms` for data, then returns 0 (try again), the bytes
 * read, or TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_CLOSED) when the peer closed.
 * Other failures are TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_IO).
 */
#ifndef TMA_TCP_H
#define TMA_TCP_H

#include <stdint.h>

#include "tma/status.h"
#include "tma/transport.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tma_tcp {
    int fd;                  /**< -1 when closed */
    uint32_t recv_wait_ms;   /**< recv() waits up to this long for data (default 20) */
};

/**
 * @brief Resolve host (name or address) and connect within timeout_ms.
 * @return TMA_OK; TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_TIMEOUT);
 *         TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_NOT_FOUND) (host not resolved);
 *         TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_REFUSED) (connection refused);
 *         TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_IO); TMA_ERR(..., TMA_C_BAD_PARAM).
 */
tma_status tma_tcp_connect(struct tma_tcp *t, const char *host, uint16_t port, uint32_t timeout_ms);

/** @brief The transport view of t (ctx = t). */
struct tma_transport tma_tcp_transport(struct tma_tcp *t);

/** @brief Transport send (ctx is a struct tma_tcp *). */
int32_t tma_tcp_send(void *ctx, const uint8_t *buf, size_t len);
/** @brief Transport recv (ctx is a struct tma_tcp *). */
int32_t tma_tcp_recv(void *ctx, uint8_t *buf, size_t len);

/** @brief Close (idempotent). */
void tma_tcp_close(struct tma_tcp *t);

#ifdef __cplusplus
}
#endif

#endif /* TMA_TCP_H */
