/* Host stand-in for ESP-IDF v5 driver/i2c_master.h (test code, tests/port).
 * Follows components/esp_driver_i2c/include/driver/i2c_master.h (the two
 * calls) and driver/i2c_types.h (the device handle, an opaque pointer) of
 * espressif/esp-idf. Timeouts are in ms, -1 waits for ever. A missing ACK
 * makes the v5 driver return ESP_ERR_INVALID_STATE (i2c_master.c,
 * s_i2c_transaction_start: status not DONE). */
#ifndef TMA_TEST_DRIVER_I2C_MASTER_H
#define TMA_TEST_DRIVER_I2C_MASTER_H

#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"

typedef struct i2c_master_dev_t *i2c_master_dev_handle_t;

esp_err_t i2c_master_transmit(i2c_master_dev_handle_t i2c_dev, const uint8_t *write_buffer, size_t write_size,
                              int xfer_timeout_ms);
esp_err_t i2c_master_receive(i2c_master_dev_handle_t i2c_dev, uint8_t *read_buffer, size_t read_size,
                             int xfer_timeout_ms);

#endif
