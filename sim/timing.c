/* Simulator clock (virtual or real) and the bus-time model. */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "sim_int.h"

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void sim_clock_init(struct sim_clock *c, bool realtime)
{
    c->realtime = realtime;
    c->vnow_us = 0;
    c->rt_origin = mono_us();
}

uint64_t sim_clock_now(const struct sim_clock *c)
{
    if (c->realtime) {
        return mono_us() - c->rt_origin;
    }
    return c->vnow_us;
}

void sim_clock_advance(struct sim_clock *c, uint64_t us)
{
    if (!c->realtime) {
        c->vnow_us += us;
        return;
    }
    if (us == 0) {
        return;
    }
    struct timespec ts = {(time_t)(us / 1000000u), (long)((us % 1000000u) * 1000u)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/*
 * START + address byte + n data bytes (each 8 bits + ACK) + STOP:
 * 9 * (n + 1) + 2 bit times at the SCL frequency, rounded up.
 */
uint32_t sim_bus_time_us(size_t n, uint32_t scl_khz)
{
    if (scl_khz == 0) {
        scl_khz = 400;
    }
    uint64_t bits = 9u * ((uint64_t)n + 1u) + 2u;
    uint64_t us = (bits * 1000u + scl_khz - 1u) / scl_khz;
    return us > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)us;
}
