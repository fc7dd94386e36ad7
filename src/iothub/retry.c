/* Back-off (spec 8) and chip-key pacing (OPTIGA Security Monitor). */
#include "iothub/iothub.h"

#include "retry_core.h"

uint32_t iothub_retry_delay_ms(uint32_t attempt, uint32_t min_ms, uint32_t max_ms,
                               uint32_t jitter_ms, uint32_t op_ms)
{
    return ih_retry_delay_ms(attempt, min_ms, max_ms, jitter_ms, op_ms);
}

void iothub_key_pacer_init(struct iothub_key_pacer *p, uint32_t t_max_ms, uint32_t burst)
{
    if (p == NULL) {
        return;
    }
    p->t_max_ms = t_max_ms == 0u ? PACER_T_MAX_DEFAULT_MS : t_max_ms;
    p->burst = burst == 0u ? PACER_BURST_DEFAULT : burst;
    p->full_at_ms = 0u;
    p->started = false;
}

uint64_t iothub_key_pacer_wait_ms(const struct iothub_key_pacer *p, uint64_t now_ms)
{
    return p == NULL ? 0u : ih_key_pacer_wait_ms(p, now_ms);
}

void iothub_key_pacer_record(struct iothub_key_pacer *p, uint64_t now_ms)
{
    if (p != NULL) {
        ih_key_pacer_record(p, now_ms);
    }
}

void iothub_retry_policy_init(struct iothub_retry_policy *p)
{
    if (p == NULL) {
        return;
    }
    ih_retry_policy_defaults(p);
}

uint64_t iothub_retry_next_delay_ms(const struct iothub_retry_policy *p, uint32_t attempt,
                                    uint32_t op_ms, uint32_t random, bool uses_key,
                                    uint64_t now_ms)
{
    return p == NULL ? 0u : ih_retry_next_delay_ms(p, attempt, op_ms, random, uses_key, now_ms);
}

bool iothub_status_retriable(uint16_t status)
{
    return ih_status_retriable(status);
}
