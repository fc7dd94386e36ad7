/* Host stand-in for ESP-IDF v5 esp_err.h (test code, tests/port).
 * Follows components/esp_common/include/esp_err.h of espressif/esp-idf:
 * esp_err_t is an int, and these are the codes the ESP-IDF templates and
 * their fakes use. */
#ifndef TMA_TEST_ESP_ERR_H
#define TMA_TEST_ESP_ERR_H

typedef int esp_err_t;

#define ESP_OK 0
#define ESP_FAIL -1
#define ESP_ERR_NO_MEM 0x101
#define ESP_ERR_INVALID_ARG 0x102
#define ESP_ERR_INVALID_STATE 0x103
#define ESP_ERR_INVALID_SIZE 0x104
#define ESP_ERR_NOT_FOUND 0x105
#define ESP_ERR_NOT_SUPPORTED 0x106
#define ESP_ERR_TIMEOUT 0x107

#endif
