/* Host stand-in for ESP-IDF v5 freertos/task.h (test code, tests/port).
 * Follows components/freertos/FreeRTOS-Kernel/include/freertos/task.h:
 * vTaskDelay() blocks until the xTicksToDelay-th tick interrupt from now,
 * so it lasts between xTicksToDelay - 1 and xTicksToDelay tick periods
 * (0 ticks: no delay). */
#ifndef TMA_TEST_FREERTOS_TASK_H
#define TMA_TEST_FREERTOS_TASK_H

#include "freertos/FreeRTOS.h"

void vTaskDelay(const TickType_t xTicksToDelay);

#endif
