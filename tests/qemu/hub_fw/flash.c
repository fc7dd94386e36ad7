/*
 * A RAM-backed NOR flash for the outbox's flash log: 8 sectors of 1 KB,
 * 8-byte program unit (STM32L4-like). It enforces the rules the log promises
 * (aligned programs of whole units, each unit programmed at most once
 * between erases, NOR: programming only clears bits) and counts violations.
 * The same model as tests/qemu/fw_flash.c, written again here because that
 * one is private to its scenario file, which needs fw_main.c's symbols.
 */
#include <string.h>

#include "hub_fw.h"

#define SECTOR 1024u
#define SECTORS 8u
#define UNIT 8u

static uint8_t nor[SECTORS * SECTOR];
static uint8_t programmed[SECTORS * SECTOR / UNIT];
uint32_t hub_flash_erases, hub_flash_programs, hub_flash_violations;

static tma_status f_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
    (void)ctx;
    if (addr > sizeof nor || len > sizeof nor - addr) {
        hub_flash_violations++;
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    }
    memcpy(buf, &nor[addr], len);
    return TMA_OK;
}

static tma_status f_program(void *ctx, uint32_t addr, const uint8_t *data, size_t len)
{
    size_t i;
    (void)ctx;
    if (addr % UNIT || len % UNIT || addr > sizeof nor || len > sizeof nor - addr) {
        hub_flash_violations++;
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    }
    for (i = 0; i < len; i += UNIT) {
        if (programmed[(addr + i) / UNIT]) {
            hub_flash_violations++;
            return TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
        }
    }
    for (i = 0; i < len; i++) {
        nor[addr + i] &= data[i];
    }
    for (i = 0; i < len; i += UNIT) {
        programmed[(addr + i) / UNIT] = 1;
    }
    hub_flash_programs++;
    return TMA_OK;
}

static tma_status f_erase(void *ctx, uint32_t sector)
{
    (void)ctx;
    if (sector >= SECTORS) {
        hub_flash_violations++;
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
    }
    memset(&nor[sector * SECTOR], 0xFF, SECTOR);
    memset(&programmed[sector * SECTOR / UNIT], 0, SECTOR / UNIT);
    hub_flash_erases++;
    return TMA_OK;
}

static const struct iothub_flash flash = {0, f_read, f_program, f_erase, SECTOR, SECTORS, UNIT};

const struct iothub_flash *hub_flash(void)
{
    /* a blank part: all erased, nothing programmed */
    static int blank;
    if (!blank) {
        memset(nor, 0xFF, sizeof nor);
        blank = 1;
    }
    return &flash;
}
