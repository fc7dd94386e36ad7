/*
 * libtrustm port for ESP-IDF v5 (trustm_port_esp_idf.c): the board glue
 * fills struct esp_trustm, trustm_port_esp_idf() turns it into the
 * struct trustm_port that trustm_init() takes.
 */
#ifndef TRUSTM_PORT_ESP_IDF_H
#define TRUSTM_PORT_ESP_IDF_H

#include "driver/gpio.h"
#include "driver/i2c_master.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"

#include "trustm/port.h"

struct esp_trustm {
    i2c_master_dev_handle_t dev; /* i2c_master_bus_add_device(addr 0x30, 400 kHz) */
    gpio_num_t rst;              /* GPIO_NUM_NC if not wired */
    gpio_num_t vcc;              /* GPIO_NUM_NC if not wired */
    SemaphoreHandle_t mutex;     /* xSemaphoreCreateMutex() */
};

/* Fill a port for an initialised struct esp_trustm (which must outlive it). */
void trustm_port_esp_idf(struct esp_trustm *e, struct trustm_port *out);

#endif
