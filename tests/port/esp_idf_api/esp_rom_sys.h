/* Host stand-in for ESP-IDF v5 esp_rom_sys.h (test code, tests/port).
 * Follows components/esp_rom/include/esp_rom_sys.h of espressif/esp-idf:
 * a busy-wait of at least us microseconds. */
#ifndef TMA_TEST_ESP_ROM_SYS_H
#define TMA_TEST_ESP_ROM_SYS_H

#include <stdint.h>

void esp_rom_delay_us(uint32_t us);

#endif
