/* Host stand-in for ESP-IDF v5 freertos/semphr.h (test code, tests/port).
 * As in components/freertos/FreeRTOS-Kernel/include/freertos/semphr.h and
 * queue.h, a semaphore is a queue handle, and the semaphore calls are macros
 * over queue functions: take -> xQueueSemaphoreTake(), give ->
 * xQueueGenericSend(handle, NULL, semGIVE_BLOCK_TIME, queueSEND_TO_BACK),
 * create mutex -> xQueueCreateMutex(queueQUEUE_TYPE_MUTEX). */
#ifndef TMA_TEST_FREERTOS_SEMPHR_H
#define TMA_TEST_FREERTOS_SEMPHR_H

#include <stdint.h>

#include "freertos/FreeRTOS.h"

typedef struct QueueDefinition *QueueHandle_t;
typedef QueueHandle_t SemaphoreHandle_t;

#define queueSEND_TO_BACK ((BaseType_t)0)
#define queueQUEUE_TYPE_MUTEX ((uint8_t)1U)
#define semGIVE_BLOCK_TIME ((TickType_t)0U)

BaseType_t xQueueSemaphoreTake(QueueHandle_t xQueue, TickType_t xTicksToWait);
BaseType_t xQueueGenericSend(QueueHandle_t xQueue, const void *const pvItemToQueue, TickType_t xTicksToWait,
                             const BaseType_t xCopyPosition);
QueueHandle_t xQueueCreateMutex(const uint8_t ucQueueType);

#define xSemaphoreTake(xSemaphore, xBlockTime) xQueueSemaphoreTake((xSemaphore), (xBlockTime))
#define xSemaphoreGive(xSemaphore) \
    xQueueGenericSend((QueueHandle_t)(xSemaphore), NULL, semGIVE_BLOCK_TIME, queueSEND_TO_BACK)
#define xSemaphoreCreateMutex() xQueueCreateMutex(queueQUEUE_TYPE_MUTEX)

#endif
