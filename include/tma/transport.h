/**
 * @file transport.h
 * @brief The project's byte-stream transport interface (TCP, TLS, test pipes).
 *
 * send()/recv() return the number of bytes moved (> 0), 0 for "try again
 * later" (nothing moved, no error), or a negative tma_status on a fatal error
 * (TMA_C_CLOSED when the peer closed the stream). Neither blocks for longer
 * than the implementation's documented timeout; the core never sleeps itself.
 */
#ifndef TMA_TRANSPORT_H
#define TMA_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct tma_transport {
    void *ctx;
    int32_t (*send)(void *ctx, const uint8_t *buf, size_t len);
    int32_t (*recv)(void *ctx, uint8_t *buf, size_t len);
};

/** A read-only view of bytes: passed by value, never owns its memory. */
struct tma_span {
    const uint8_t *ptr;
    size_t len;
};

/** Injected monotonic clock in milliseconds. */
struct tma_clock {
    void *ctx;
    uint64_t (*now_ms)(void *ctx);
};

#ifdef __cplusplus
}
#endif

#endif /* TMA_TRANSPORT_H */
