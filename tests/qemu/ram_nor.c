/* RAM-backed NOR flash for the QEMU firmwares (see ram_nor.h). */
#include "ram_nor.h"

#include <string.h>

#define VIOLATION(n) ((n)->violations++, TMA_ERR(TMA_LAYER_STORE, TMA_C_IO))

static uint32_t size_of(const struct ram_nor *n)
{
    return n->sector_size * n->sectors;
}

static tma_status f_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
    struct ram_nor *n = ctx;
    if (addr > size_of(n) || len > size_of(n) - addr) {
        return VIOLATION(n);
    }
    memcpy(buf, &n->mem[addr], len);
    return TMA_OK;
}

static tma_status f_program(void *ctx, uint32_t addr, const uint8_t *data, size_t len)
{
    struct ram_nor *n = ctx;
    size_t i;
    if (addr % n->unit || len % n->unit || addr > size_of(n) || len > size_of(n) - addr) {
        return VIOLATION(n);
    }
    for (i = 0; i < len; i += n->unit) {
        if (n->programmed[(addr + i) / n->unit]) {
            return VIOLATION(n); /* ECC flash would refuse a second program */
        }
    }
    for (i = 0; i < len; i++) {
        n->mem[addr + i] &= data[i]; /* NOR: programming only clears bits */
    }
    for (i = 0; i < len; i += n->unit) {
        n->programmed[(addr + i) / n->unit] = 1;
    }
    n->programs++;
    return TMA_OK;
}

static tma_status f_erase(void *ctx, uint32_t sector)
{
    struct ram_nor *n = ctx;
    if (sector >= n->sectors) {
        return VIOLATION(n);
    }
    memset(&n->mem[sector * n->sector_size], 0xFF, n->sector_size);
    memset(&n->programmed[sector * n->sector_size / n->unit], 0, n->sector_size / n->unit);
    n->erases++;
    return TMA_OK;
}

void ram_nor_init(struct ram_nor *n, uint8_t *mem, uint8_t *programmed, uint32_t sector_size,
                  uint32_t sectors, uint32_t unit, struct iothub_flash *out)
{
    memset(n, 0, sizeof(*n));
    n->mem = mem;
    n->programmed = programmed;
    n->sector_size = sector_size;
    n->sectors = sectors;
    n->unit = unit;
    memset(mem, 0xFF, sector_size * sectors);
    memset(programmed, 0, sector_size * sectors / unit);
    memset(out, 0, sizeof(*out));
    out->ctx = n;
    out->read = f_read;
    out->program = f_program;
    out->erase = f_erase;
    out->sector_size = sector_size;
    out->sector_count = sectors;
    out->program_unit = unit;
}
