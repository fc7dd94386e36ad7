/* Private: the back-off and chip-key pacer cores (retry.c's public
 * functions without their NULL checks), defined here as static inline
 * functions: the glue (client.c) calls each from one place or two, and -Os
 * inlines a function of the same translation unit only; retry.c's public
 * functions run the same definitions. A device links the glue's copies only
 * (code size: docs/decisions/iothub-client-size-10.md). */
#ifndef IOTHUB_RETRY_CORE_H
#define IOTHUB_RETRY_CORE_H

#include "iothub/iothub.h"

#include "topic.h"

#define PACER_T_MAX_DEFAULT_MS 5300u
#define PACER_BURST_DEFAULT 4u
/* The back-off's defaults (spec 8, Embedded C) */
#define RETRY_MIN_DEFAULT_MS 1000u
#define RETRY_MAX_DEFAULT_MS 100000u
#define RETRY_JITTER_DEFAULT_MS 5000u

/* iothub_retry_delay_ms() */
static inline uint32_t ih_retry_delay_ms(uint32_t attempt, uint32_t min_ms, uint32_t max_ms,
                                         uint32_t jitter_ms, uint32_t op_ms)
{
    /* min(min_ms << attempt, max_ms) in 32 bits: the shift stays below
     * max_ms exactly when min_ms <= max_ms >> attempt. */
    uint32_t shift = attempt > 31u ? 31u : attempt;
    uint32_t d = min_ms <= (max_ms >> shift) ? min_ms << shift : max_ms;
    if (max_ms - d > jitter_ms) {
        d += jitter_ms;
    }
    return d > op_ms ? d - op_ms : 0u;
}

/* iothub_key_pacer_wait_ms() without its NULL check. The bucket is modelled
 * by the time it is full again: each operation adds t_max to it. An
 * operation is allowed when, after it, the bucket would not be more than
 * `burst` operations in debt. */
static inline uint64_t ih_key_pacer_wait_ms(const struct iothub_key_pacer *p, uint64_t now_ms)
{
    uint64_t allowed_debt;
    if (!p->started || p->full_at_ms <= now_ms) {
        return 0u;
    }
    allowed_debt = (uint64_t)(p->burst - 1u) * p->t_max_ms;
    if (p->full_at_ms - now_ms <= allowed_debt) {
        return 0u;
    }
    return p->full_at_ms - now_ms - allowed_debt;
}

/* iothub_key_pacer_record() without its NULL check. */
static inline void ih_key_pacer_record(struct iothub_key_pacer *p, uint64_t now_ms)
{
    if (!p->started || p->full_at_ms < now_ms) {
        p->full_at_ms = now_ms;
    }
    p->started = true;
    p->full_at_ms += p->t_max_ms;
}

/* iothub_retry_policy_init() without its NULL check. */
static inline void ih_retry_policy_defaults(struct iothub_retry_policy *p)
{
    p->min_ms = RETRY_MIN_DEFAULT_MS;
    p->max_ms = RETRY_MAX_DEFAULT_MS;
    p->jitter_max_ms = RETRY_JITTER_DEFAULT_MS;
    /* iothub_key_pacer_init(&p->pacer, 0u, 0u) written out: its defaults */
    p->pacer.t_max_ms = PACER_T_MAX_DEFAULT_MS;
    p->pacer.burst = PACER_BURST_DEFAULT;
    p->pacer.full_at_ms = 0u;
    p->pacer.started = false;
}

/* iothub_retry_next_delay_ms() without its NULL check. */
static inline uint64_t ih_retry_next_delay_ms(const struct iothub_retry_policy *p, uint32_t attempt, uint32_t op_ms,
                                uint32_t random, bool uses_key, uint64_t now_ms)
{
    uint64_t d, w;
    uint32_t jitter;
    jitter = p->jitter_max_ms == UINT32_MAX ? random : random % (p->jitter_max_ms + 1u);
    d = ih_retry_delay_ms(attempt, p->min_ms, p->max_ms, jitter, op_ms);
    if (uses_key) {
        w = ih_key_pacer_wait_ms(&p->pacer, now_ms + d);
        d += w;
    }
    return d;
}

#endif
