/*
 * The outbox's flash: a RAM-backed NOR flash (tests/qemu/ram_nor.c) of 8
 * sectors of 1 KB with an 8-byte program unit (STM32L4-like), blank at boot.
 */
#include "hub_fw.h"
#include "ram_nor.h"

#define SECTOR 1024u
#define SECTORS 8u
#define UNIT 8u

static uint8_t nor[SECTORS * SECTOR];
static uint8_t programmed[SECTORS * SECTOR / UNIT];
struct ram_nor hub_nor;

const struct iothub_flash *hub_flash(void)
{
    static struct iothub_flash flash;
    if (flash.read == NULL) {
        ram_nor_init(&hub_nor, nor, programmed, SECTOR, SECTORS, UNIT, &flash);
    }
    return &flash;
}
