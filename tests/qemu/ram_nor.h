/*
 * A RAM-backed NOR flash for the MCU flash log (src/iothub/storage_flash.c)
 * in the QEMU firmwares. It enforces the rules the log promises (aligned
 * programs of whole units, each unit programmed at most once between erases
 * as ECC flash demands, erase by whole sectors; programming only clears
 * bits) and counts violations instead of hiding them.
 */
#ifndef QEMU_RAM_NOR_H
#define QEMU_RAM_NOR_H

#include <stdint.h>

#include "iothub/storage_flash.h"

struct ram_nor {
    uint8_t *mem;        /* sector_size * sectors bytes */
    uint8_t *programmed; /* one flag per unit: written since its erase */
    uint32_t sector_size, sectors, unit;
    uint32_t erases, programs, violations;
};

/* A blank part (all 0xFF, nothing programmed) over the caller's arrays, and
 * *out, the flash interface bound to it. */
void ram_nor_init(struct ram_nor *n, uint8_t *mem, uint8_t *programmed, uint32_t sector_size,
                  uint32_t sectors, uint32_t unit, struct iothub_flash *out);

#endif
