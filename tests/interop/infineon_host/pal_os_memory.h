/* Our stand-in for the library's pal_os_memory.h: the names the comms stack and
 * pal_crypt_mbedtls.c use, implemented in ../common/pal_sim.c. */
#ifndef INTEROP_PAL_OS_MEMORY_H
#define INTEROP_PAL_OS_MEMORY_H
#include "pal.h"
void pal_os_memcpy(void *dst, const void *src, uint32_t n);
void pal_os_memset(void *dst, uint32_t v, uint32_t n);
void *pal_os_calloc(uint32_t n, uint32_t size);
void pal_os_free(void *p);
#endif
