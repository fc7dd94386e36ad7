/* Host stand-in for ESP-IDF v5 esp_timer.h (test code, tests/port).
 * Follows components/esp_timer/include/esp_timer.h of espressif/esp-idf:
 * microseconds since boot, signed 64-bit. */
#ifndef TMA_TEST_ESP_TIMER_H
#define TMA_TEST_ESP_TIMER_H

#include <stdint.h>

int64_t esp_timer_get_time(void);

#endif
