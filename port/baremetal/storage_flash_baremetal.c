/*
 * The outbox's flash log (iothub/storage_flash.h) on a Cortex-M's internal
 * flash - a documented template (cross-compiled for a Cortex-M4 with the
 * core's warnings by the iothub_flash_port_m4 test, and run on the host by
 * port_baremetal_flash: its region mapped at a 32-bit address, an ECC flash
 * model behind the board functions, a power cut at every flash operation
 * of a workload; tests/port/test_port_baremetal_flash.c). The flash is memory
 * mapped, so read() is a copy; program and erase go through three board
 * functions you write for your MCU's flash controller (unlock, wait for
 * BSY, check the error flags, lock), as in the I2C template next to this.
 *
 * Reserve the region in the linker script (a NOLOAD section or simply
 * outside the image), e.g. for an STM32L4 with 2 KB pages and 64-bit ECC
 * double words: 16 pages = 32 KB at the end of bank 1, program unit 8.
 * Program units of other parts: docs/porting.md, "Outbox on MCU flash".
 *
 * ECC: reading a double word whose programming was cut by a power loss can
 * raise an ECC fault (STM32: NMI with FLASH_ECCR.ECCD). Let the NMI handler
 * note the address and return; board_flash_ecc_fault() below then reports
 * it (read() asks unit by unit), and read() returns that unit as 0x00
 * ("programmed"), which is what the log expects of a unit whose program was
 * cut; the rest of the read as it is.
 */
#include <stdint.h>
#include <string.h>

#include "iothub/storage_flash.h"

/* ---- board glue: provide these for your MCU ---- */
extern const uint32_t board_flash_base;      /* address of the log's first page */
extern const uint32_t board_flash_page_size; /* erase unit, e.g. 2048 */
extern const uint32_t board_flash_pages;     /* e.g. 16 */
extern const uint32_t board_flash_unit;      /* program unit: 1, 2, 4, 8 or 16 */
/* Program len bytes (a multiple of the unit) at a unit-aligned address; 0 ok. */
extern int board_flash_program(uint32_t addr, const uint8_t *data, uint32_t len);
/* Erase the page at addr; 0 ok. Blocks until done. */
extern int board_flash_erase_page(uint32_t addr);
/* 1 if an ECC double-error fault hit [addr, addr + len) since the last call. */
extern int board_flash_ecc_fault(uint32_t addr, uint32_t len);

static tma_status flash_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
    const uint32_t unit = board_flash_unit, end = addr + (uint32_t)len;
    uint32_t at;
    (void)ctx;
    memcpy(buf, (const void *)(uintptr_t)(board_flash_base + addr), len);
    /* A unit whose program (or erase) was cut reads as programmed: that unit
     * only. Zeroing the whole read would also zero the units around it, a
     * committed record read together with it included, and lose it. */
    for (at = addr - addr % unit; at < end; at += unit) {
        if (board_flash_ecc_fault(board_flash_base + at, unit)) {
            uint32_t from = at < addr ? addr : at, to = end - at < unit ? end : at + unit;
            memset(buf + (from - addr), 0x00, to - from);
        }
    }
    return TMA_OK;
}

static tma_status flash_program(void *ctx, uint32_t addr, const uint8_t *data, size_t len)
{
    (void)ctx;
    return board_flash_program(board_flash_base + addr, data, (uint32_t)len) == 0
               ? TMA_OK
               : TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
}

static tma_status flash_erase(void *ctx, uint32_t sector)
{
    (void)ctx;
    return board_flash_erase_page(board_flash_base + sector * board_flash_page_size) == 0
               ? TMA_OK
               : TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
}

/**
 * Open the log on the board's flash region and fill @p out_storage for
 * iothub_outbox_init(). @p fs must outlive the storage.
 * Returns what iothub_flash_storage_open() returns.
 */
tma_status outbox_flash_baremetal_open(struct iothub_flash_storage *fs, struct iothub_storage *out_storage);

tma_status outbox_flash_baremetal_open(struct iothub_flash_storage *fs, struct iothub_storage *out_storage)
{
    struct iothub_flash fl;
    fl.ctx = NULL;
    fl.read = flash_read;
    fl.program = flash_program;
    fl.erase = flash_erase;
    fl.sector_size = board_flash_page_size;
    fl.sector_count = board_flash_pages;
    fl.program_unit = board_flash_unit;
    return iothub_flash_storage_open(fs, &fl, out_storage);
}
