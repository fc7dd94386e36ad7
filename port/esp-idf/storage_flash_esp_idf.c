/*
 * The outbox's flash log (iothub/storage_flash.h) on an ESP-IDF data
 * partition (v5, esp_partition API). Add it, its header and
 * src/iothub/storage_flash.c to the component that holds the IoT Hub client.
 * Compiled with the core's warnings (C99) and run by the port_esp_idf test
 * (tests/port.cmake) against declarations of the esp_partition calls checked
 * against the ESP-IDF header (tests/port/esp_idf_api) and an in-RAM NOR
 * partition (tests/port/esp_idf_fake.c: erase to 0xFF, writes only clear
 * bits, 4 KB sectors; encrypted mode: a keyed per-block cipher, 16-byte
 * writes only, read vs read_raw): put/del/reopen churn, a power cut at every
 * flash operation of a workload, reads at any alignment, plain and
 * encrypted. Not built with the ESP-IDF toolchain here.
 *
 * Partition table (partitions.csv), one line; 32 KB = 8 sectors of 4 KB, see
 * docs/porting.md "Outbox on MCU flash" for the sizing:
 *   outbox,  data, 0x40,  ,  32K, encrypted
 * Drop "encrypted" on a device without flash encryption. Subtype 0x40 is one
 * of the free data subtypes; the label is what outbox_flash_esp_idf_open()
 * looks for.
 *
 * Program unit: 1 byte on plain SPI NOR. With flash encryption every write to
 * an encrypted partition is done in 16-byte blocks (esp_partition_write
 * requires 16-byte aligned offsets and lengths), so the unit is 16: the log
 * then never writes a 16-byte block twice.
 *
 * Reading an encrypted partition decrypts, so erased flash (0xFF ciphertext)
 * reads as random-looking plaintext, while the log recognises erased units
 * by 0xFF. read() below therefore looks at the raw bytes of each 16-byte
 * block first: an all-0xFF block is returned as 0xFF, any other block is
 * decrypted. (A written block whose ciphertext happens to be all 0xFF has a
 * probability of 2^-128.)
 */
#include <string.h>

#include "storage_flash_esp_idf.h"

static tma_status esp_status(esp_err_t err)
{
    return err == ESP_OK ? TMA_OK : TMA_ERR(TMA_LAYER_STORE, TMA_C_IO);
}

static tma_status flash_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
    const esp_partition_t *p = ((struct esp_outbox_flash *)ctx)->part;
    uint8_t raw[16];
    size_t done = 0;
    if (!p->encrypted) {
        return esp_status(esp_partition_read(p, addr, buf, len));
    }
    while (done < len) {
        /* the 16-byte block holding addr + done, and the part of it asked for */
        uint32_t at = addr + (uint32_t)done, blk = at & ~15u, skip = at - blk;
        size_t n = 16u - skip < len - done ? 16u - skip : len - done;
        size_t i;
        int erased = 1;
        esp_err_t err = esp_partition_read_raw(p, blk, raw, 16);
        if (err != ESP_OK) {
            return esp_status(err);
        }
        for (i = 0; i < 16u; i++) {
            erased &= raw[i] == 0xFFu;
        }
        if (erased) {
            memset(buf + done, 0xFF, n);
        } else {
            err = esp_partition_read(p, blk, raw, 16); /* decrypts */
            if (err != ESP_OK) {
                return esp_status(err);
            }
            memcpy(buf + done, raw + skip, n);
        }
        done += n;
    }
    return TMA_OK;
}

static tma_status flash_program(void *ctx, uint32_t addr, const uint8_t *data, size_t len)
{
    const esp_partition_t *p = ((struct esp_outbox_flash *)ctx)->part;
    /* encrypted partitions: esp_partition_write encrypts (16-byte blocks) */
    return esp_status(esp_partition_write(p, addr, data, len));
}

static tma_status flash_erase(void *ctx, uint32_t sector)
{
    const esp_partition_t *p = ((struct esp_outbox_flash *)ctx)->part;
    return esp_status(esp_partition_erase_range(p, (size_t)sector * p->erase_size, p->erase_size));
}

tma_status outbox_flash_esp_idf_open(struct esp_outbox_flash *e, const char *label,
                                     struct iothub_flash_storage *fs, struct iothub_storage *out_storage)
{
    struct iothub_flash fl;
    e->part = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY, label);
    if (e->part == NULL) {
        return TMA_ERR(TMA_LAYER_STORE, TMA_C_NOT_FOUND);
    }
    fl.ctx = e;
    fl.read = flash_read;
    fl.program = flash_program;
    fl.erase = flash_erase;
    fl.sector_size = (uint32_t)e->part->erase_size; /* 4096 on SPI NOR */
    fl.sector_count = (uint32_t)(e->part->size / e->part->erase_size);
    fl.program_unit = e->part->encrypted ? 16u : 1u;
    return iothub_flash_storage_open(fs, &fl, out_storage);
}

/* Usage, next to the client set-up:
 *
 *   static struct esp_outbox_flash outbox_part;
 *   static struct iothub_flash_storage outbox_log;
 *   static struct iothub_storage outbox_storage;
 *   static struct iothub_outbox outbox;
 *   ...
 *   if (outbox_flash_esp_idf_open(&outbox_part, "outbox", &outbox_log, &outbox_storage) != TMA_OK ||
 *       iothub_outbox_init(&outbox, &outbox_storage, 200, IOTHUB_OUTBOX_DROP_OLDEST) != TMA_OK) {
 *       ... report and run without the outbox, or stop ...
 *   }
 */
