/*
 * The outbox's flash log on an ESP-IDF v5 data partition
 * (storage_flash_esp_idf.c).
 */
#ifndef STORAGE_FLASH_ESP_IDF_H
#define STORAGE_FLASH_ESP_IDF_H

#include "esp_partition.h"

#include "iothub/storage_flash.h"

struct esp_outbox_flash {
    const esp_partition_t *part;
};

/**
 * Open the outbox log on the data partition labelled @p label and fill
 * @p out_storage for iothub_outbox_init() (or the client configuration).
 * @p e and @p fs must outlive the storage (static storage duration is usual).
 * Returns TMA_OK, TMA_C_NOT_FOUND (no such partition) or what
 * iothub_flash_storage_open() returns.
 */
tma_status outbox_flash_esp_idf_open(struct esp_outbox_flash *e, const char *label,
                                     struct iothub_flash_storage *fs, struct iothub_storage *out_storage);

#endif
