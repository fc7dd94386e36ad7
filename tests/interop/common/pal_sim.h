/* The PAL pieces both interop harnesses share (pal_sim.c): the single-threaded
 * one of tests/interop/infineon_host/pal_glue.c and the threaded one of
 * tests/interop/linux_tools/pal_tools.c differ only in pal_os_event and
 * pal_os_lock. No Infineon code in this file. */
#ifndef INTEROP_PAL_SIM_H
#define INTEROP_PAL_SIM_H

#include <stdint.h>

/* CLOCK_MONOTONIC in microseconds */
uint64_t pal_sim_now_us(void);
/* sleeps that long, across EINTR */
void pal_sim_sleep_us(uint64_t us);

/* power cycles, warm resets, VDD lows, RST lows the pins asked the simulator for */
extern int interop_gpio_events[4];

/* the byte-order helpers the library's optiga_lib_common.c would give */
void optiga_common_get_uint16(const uint8_t *p, uint16_t *v);
void optiga_common_set_uint16(uint8_t *p, uint16_t v);
void optiga_common_set_uint32(uint8_t *p, uint32_t v);
uint32_t optiga_common_get_uint32(const uint8_t *p);

#endif
