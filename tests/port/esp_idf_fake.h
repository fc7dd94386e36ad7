/* Test-side ESP-IDF v5 for the port_esp_idf test (test code, C11): the
 * functions declared in esp_idf_api/, defined on top of the in-process
 * trustm simulator (I2C, clock, reset lines) and an in-RAM NOR partition.
 *
 * Clock: esp_timer_get_time() is the simulator's virtual clock when one is
 *   bound (otherwise a local one); esp_rom_delay_us() advances it by us;
 *   vTaskDelay(n) advances it to the n-th tick boundary from now (tick =
 *   1 s / configTICK_RATE_HZ), so it lasts n - 1 to n ticks, as on FreeRTOS.
 * I2C: one device; transmit/receive are one simulator transaction each; a
 *   missing ACK returns ESP_ERR_INVALID_STATE (as the v5 driver does); empty
 *   or NULL buffers ESP_ERR_INVALID_ARG. While RST is low or VCC off the
 *   chip acknowledges nothing.
 * GPIO: the pins wired as RST and VCC (active high). RST high again after at
 *   least ESP_FAKE_RST_MIN_US low is a warm reset of the simulator; VCC on
 *   again after at least ESP_FAKE_VCC_OFF_MIN_US off a cold one; shorter
 *   pulses reset nothing and are counted.
 * FreeRTOS mutex: no-op with counters; a take of a held mutex or a give of
 *   a free one is counted as an error (one thread: it would block for ever).
 * Partition: NOR flash, 4 KB erase sectors: erase sets 0xFF, a write only
 *   clears bits. Encrypted mode: esp_partition_write() encrypts each 16-byte
 *   block (XOR with a key stream of the key and the block's offset: erased
 *   flash decrypts to garbage) and refuses offsets or sizes that are not
 *   multiples of 16 (ESP_ERR_INVALID_ARG); esp_partition_read() decrypts,
 *   esp_partition_read_raw() does not. Violations (a write to bytes / a block
 *   not erased since, a refused write, an erase not sector-aligned) are
 *   counted. Power cut: the write or erase numbered cut_at does part of its
 *   work and fails, and every flash call after it fails with ESP_FAIL until
 *   esp_fake_flash_power_on(). */
#ifndef ESP_IDF_FAKE_H
#define ESP_IDF_FAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "driver/gpio.h"
#include "driver/i2c_master.h"
#include "esp_partition.h"
#include "freertos/semphr.h"

struct trustm_sim;

#define ESP_FAKE_RST_MIN_US 10u
#define ESP_FAKE_VCC_OFF_MIN_US 1000u
#define ESP_FAKE_SECTOR 4096u
#define ESP_FAKE_NO_CUT UINT64_MAX

struct esp_fake_counts {
    unsigned i2c_tx, i2c_rx, i2c_nack, i2c_bad_arg;
    unsigned warm_resets, cold_resets, short_rst, short_vcc;
    unsigned task_delays, zero_tick_delays, rom_delays;
    unsigned mutex_created, mutex_take, mutex_give, mutex_errors;
};

struct esp_fake_flash {
    uint8_t *raw;
    uint32_t size;
    bool encrypted;
    uint32_t key;
    uint64_t ops; /* writes and erases so far (numbered from 0) */
    uint64_t cut_at;
    bool dead;
    uint32_t rng;
    unsigned erases, writes, reads, raw_reads;
    unsigned violations;
    char why[160];
};

extern struct esp_fake_counts esp_fake;
extern struct esp_fake_flash esp_fake_flash;

/* Bus and clock on sim (NULL: none; clock local). Clears the counters. */
void esp_fake_bind_sim(struct trustm_sim *sim);
/* The I2C device at 7-bit address addr (as i2c_master_bus_add_device would give). */
i2c_master_dev_handle_t esp_fake_i2c_device(uint16_t addr);
/* Which pins are RST and VCC (GPIO_NUM_NC: not wired); both start high. */
void esp_fake_gpio_wire(gpio_num_t rst, gpio_num_t vcc);
/* Microseconds the clock has advanced. */
int64_t esp_fake_now_us(void);

/* A data partition "label" of sectors * 4 KB, erased (raw all 0xFF). */
void esp_fake_flash_create(const char *label, uint32_t sectors, bool encrypted, uint32_t key);
void esp_fake_flash_destroy(void);
/* Power back on after a cut (contents kept); no cut pending. */
void esp_fake_flash_power_on(void);

#endif
