/* Host stand-in for ESP-IDF v5 esp_partition.h (test code, tests/port).
 * Follows components/esp_partition/include/esp_partition.h of
 * espressif/esp-idf: the partition descriptor (the fields in their order;
 * later v5 releases add members after `encrypted`), the type/subtype enums
 * (the values used here) and the five calls the flash template uses.
 * Offsets and sizes are relative to the partition. On a partition marked
 * encrypted, esp_partition_read() decrypts, esp_partition_read_raw() does
 * not, and esp_partition_write() encrypts and needs offset and size to be
 * multiples of 16 bytes; esp_partition_erase_range() needs both aligned to
 * erase_size. Errors: ESP_ERR_INVALID_ARG (offset beyond the partition),
 * ESP_ERR_INVALID_SIZE (range beyond its end), or the flash driver's. */
#ifndef TMA_TEST_ESP_PARTITION_H
#define TMA_TEST_ESP_PARTITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"

typedef struct esp_flash_t esp_flash_t;

typedef enum {
    ESP_PARTITION_TYPE_APP = 0x00,
    ESP_PARTITION_TYPE_DATA = 0x01,
    ESP_PARTITION_TYPE_ANY = 0xff
} esp_partition_type_t;

typedef enum {
    ESP_PARTITION_SUBTYPE_DATA_NVS = 0x02,
    ESP_PARTITION_SUBTYPE_DATA_UNDEFINED = 0x06,
    ESP_PARTITION_SUBTYPE_ANY = 0xff
} esp_partition_subtype_t;

typedef struct {
    esp_flash_t *flash_chip;
    esp_partition_type_t type;
    esp_partition_subtype_t subtype;
    uint32_t address;
    uint32_t size;
    uint32_t erase_size;
    char label[17];
    bool encrypted;
} esp_partition_t;

const esp_partition_t *esp_partition_find_first(esp_partition_type_t type, esp_partition_subtype_t subtype,
                                                const char *label);
esp_err_t esp_partition_read(const esp_partition_t *partition, size_t src_offset, void *dst, size_t size);
esp_err_t esp_partition_write(const esp_partition_t *partition, size_t dst_offset, const void *src, size_t size);
esp_err_t esp_partition_read_raw(const esp_partition_t *partition, size_t src_offset, void *dst, size_t size);
esp_err_t esp_partition_erase_range(const esp_partition_t *partition, size_t offset, size_t size);

#endif
