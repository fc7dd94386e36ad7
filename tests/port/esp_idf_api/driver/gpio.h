/* Host stand-in for ESP-IDF v5 driver/gpio.h (test code, tests/port).
 * gpio_set_level() as in components/esp_driver_gpio/include/driver/gpio.h;
 * gpio_num_t as in components/soc/<chip>/include/soc/gpio_num.h (an enum
 * with GPIO_NUM_NC = -1 for "not connected"; the pins listed here are the
 * ones every ESP32 variant has). */
#ifndef TMA_TEST_DRIVER_GPIO_H
#define TMA_TEST_DRIVER_GPIO_H

#include <stdint.h>

#include "esp_err.h"

typedef enum {
    GPIO_NUM_NC = -1,
    GPIO_NUM_0 = 0,
    GPIO_NUM_1 = 1,
    GPIO_NUM_2 = 2,
    GPIO_NUM_3 = 3,
    GPIO_NUM_4 = 4,
    GPIO_NUM_5 = 5,
    GPIO_NUM_6 = 6,
    GPIO_NUM_7 = 7,
    GPIO_NUM_8 = 8,
    GPIO_NUM_9 = 9,
    GPIO_NUM_10 = 10
} gpio_num_t;

esp_err_t gpio_set_level(gpio_num_t gpio_num, uint32_t level);

#endif
