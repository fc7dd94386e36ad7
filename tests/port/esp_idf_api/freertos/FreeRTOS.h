/* Host stand-in for ESP-IDF v5 freertos/FreeRTOS.h (test code, tests/port).
 * What the ESP-IDF templates use of the FreeRTOS base types and macros:
 *  - TickType_t 32-bit, BaseType_t int, portMAX_DELAY all ones:
 *    components/freertos/FreeRTOS-Kernel/portable/xtensa/include/freertos/portmacro.h
 *    (riscv the same);
 *  - pdMS_TO_TICKS (rounds DOWN), pdTRUE/pdFALSE:
 *    components/freertos/FreeRTOS-Kernel/include/freertos/projdefs.h;
 *  - configTICK_RATE_HZ = CONFIG_FREERTOS_HZ, whose Kconfig default is 100
 *    (components/freertos/Kconfig): the test builds with that default
 *    unless CONFIG_FREERTOS_HZ is defined. */
#ifndef TMA_TEST_FREERTOS_H
#define TMA_TEST_FREERTOS_H

#include <stdint.h>

#ifndef CONFIG_FREERTOS_HZ
#define CONFIG_FREERTOS_HZ 100
#endif
#define configTICK_RATE_HZ CONFIG_FREERTOS_HZ

typedef uint32_t TickType_t;
typedef int BaseType_t;
typedef unsigned int UBaseType_t;

#define portMAX_DELAY ((TickType_t)0xffffffffUL)
#define portTICK_PERIOD_MS ((TickType_t)1000 / configTICK_RATE_HZ)

#define pdFALSE ((BaseType_t)0)
#define pdTRUE ((BaseType_t)1)
#define pdMS_TO_TICKS(xTimeInMs) ((TickType_t)(((TickType_t)(xTimeInMs) * (TickType_t)configTICK_RATE_HZ) / (TickType_t)1000U))

#endif
