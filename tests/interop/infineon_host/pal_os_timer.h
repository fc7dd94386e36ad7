/* Our stand-in for the library's pal_os_timer.h: the names the comms stack and
 * pal_crypt_mbedtls.c use, implemented in ../common/pal_sim.c. */
#ifndef INTEROP_PAL_OS_TIMER_H
#define INTEROP_PAL_OS_TIMER_H
#include "pal.h"
uint32_t pal_os_timer_get_time_in_microseconds(void);
uint32_t pal_os_timer_get_time_in_milliseconds(void);
void pal_os_timer_delay_in_milliseconds(uint16_t ms);
#endif
