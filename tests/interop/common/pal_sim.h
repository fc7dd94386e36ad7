/* The PAL pieces both interop harnesses share (pal_sim.c): the single-threaded
 * one of tests/interop/infineon_host/pal_glue.c and the threaded one of
 * tests/interop/linux_tools/pal_tools.c differ only in pal_os_event and
 * pal_os_lock. No Infineon code in this file. */
#ifndef INTEROP_PAL_SIM_H
#define INTEROP_PAL_SIM_H

#include <stdint.h>

#include "pal_os_event.h"

/* CLOCK_MONOTONIC in microseconds */
uint64_t pal_sim_now_us(void);
/* sleeps that long, across EINTR */
void pal_sim_sleep_us(uint64_t us);

/* pal_os_event: one pending one-shot callback (pal_sim.c registers, starts,
 * stops it); who runs it is the harness's (pal_glue.c: interop_run(),
 * pal_tools.c: a worker thread), and so is the lock around this state:
 * pal_sim_event_lock() before it is read or changed, pal_sim_event_unlock()
 * after (which also wakes the harness's runner). */
struct pal_sim_event {
    register_callback cb;
    void *arg;
    uint64_t due; /* pal_sim_now_us() at which cb is due */
    int armed;    /* a callback is registered */
    int started;  /* the library's "is_event_triggered": the scheduler was started */
};
extern struct pal_sim_event pal_sim_ev;
void pal_sim_event_lock(void);
void pal_sim_event_unlock(void);

/* power cycles, warm resets, VDD lows, RST lows the pins asked the simulator for */
extern int interop_gpio_events[4];

/* the byte-order helpers the library's optiga_lib_common.c would give */
void optiga_common_get_uint16(const uint8_t *p, uint16_t *v);
void optiga_common_set_uint16(uint8_t *p, uint16_t v);
void optiga_common_set_uint32(uint8_t *p, uint32_t v);
uint32_t optiga_common_get_uint32(const uint8_t *p);

#endif
