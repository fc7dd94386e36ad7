/*
 * libtrustm port for ESP-IDF (v5, i2c_master driver) - a documented
 * template, not compiled on Linux (port/CMakeLists.txt globs only port/*.c).
 * Add it and src/trustm/*.c, src/common/status.c to an ESP-IDF component.
 *
 * Wiring: SDA/SCL with pull-ups, RST on a GPIO (optional), VCC switchable
 * through a GPIO-driven load switch (optional, for cold reset/hibernate).
 */
#include "driver/gpio.h"
#include "driver/i2c_master.h"
#include "esp_rom_sys.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"

#include "trustm/port.h"

struct esp_trustm {
    i2c_master_dev_handle_t dev; /* i2c_master_bus_add_device(addr 0x30, 400 kHz) */
    gpio_num_t rst;              /* GPIO_NUM_NC if not wired */
    gpio_num_t vcc;              /* GPIO_NUM_NC if not wired */
    SemaphoreHandle_t mutex;     /* xSemaphoreCreateMutex() */
};

static tma_status xfer(void *ctx, struct trustm_i2c_msg *m, size_t n)
{
    struct esp_trustm *e = ctx;
    esp_err_t err;
    if (n != 1) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
    }
    /* One message = one START..STOP transaction (no repeated start). The
     * device handle carries the address; a short timeout keeps NACK
     * detection fast, the library does the retrying. */
    if (m->flags & TRUSTM_I2C_READ) {
        err = i2c_master_receive(e->dev, m->buf, m->len, 20);
    } else {
        err = i2c_master_transmit(e->dev, m->buf, m->len, 20);
    }
    if (err == ESP_OK) {
        return TMA_OK;
    }
    /* ESP-IDF reports a missing ACK as ESP_ERR_INVALID_STATE / ESP_FAIL
     * depending on the version: treat both as "address not acknowledged". */
    if (err == ESP_ERR_INVALID_STATE || err == ESP_FAIL) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_NACK);
    }
    return TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
}

static void delay_us(void *ctx, uint32_t us)
{
    (void)ctx;
    if (us >= 2000) {
        vTaskDelay(pdMS_TO_TICKS((us + 999) / 1000)); /* yield while the chip computes */
    } else {
        esp_rom_delay_us(us); /* guard time and short back-off: busy-wait */
    }
}

static uint32_t now_ms(void *ctx)
{
    (void)ctx;
    return (uint32_t)(esp_timer_get_time() / 1000);
}

static tma_status reset(void *ctx, enum trustm_reset_kind kind)
{
    struct esp_trustm *e = ctx;
    if (kind == TRUSTM_RESET_COLD && e->vcc != GPIO_NUM_NC) {
        gpio_set_level(e->vcc, 0);
        if (e->rst != GPIO_NUM_NC) gpio_set_level(e->rst, 0);
        vTaskDelay(pdMS_TO_TICKS(2));
        gpio_set_level(e->vcc, 1);
        if (e->rst != GPIO_NUM_NC) gpio_set_level(e->rst, 1);
        return TMA_OK;
    }
    if (kind == TRUSTM_RESET_WARM && e->rst != GPIO_NUM_NC) {
        gpio_set_level(e->rst, 0);
        esp_rom_delay_us(2000); /* 10 us .. 2.5 ms */
        gpio_set_level(e->rst, 1);
        return TMA_OK;
    }
    return TMA_ERR(TMA_LAYER_BUS, TMA_C_UNSUPPORTED);
}

static void lock(void *ctx)
{
    xSemaphoreTake(((struct esp_trustm *)ctx)->mutex, portMAX_DELAY);
}

static void unlock(void *ctx)
{
    xSemaphoreGive(((struct esp_trustm *)ctx)->mutex);
}

/* Fill a port for an initialised struct esp_trustm. */
void trustm_port_esp_idf(struct esp_trustm *e, struct trustm_port *out)
{
    out->ctx = e;
    out->transfer = xfer;
    out->delay_us = delay_us;
    out->now_ms = now_ms;
    out->reset = (e->rst != GPIO_NUM_NC || e->vcc != GPIO_NUM_NC) ? reset : NULL;
    out->lock = lock;
    out->unlock = unlock;
}

/* Crypto ops for the shielded connection: mbedTLS ships with ESP-IDF, so
 * port/crypto_mbedtls.c can be added to the component unchanged (it uses the
 * hardware AES/SHA through mbedTLS's ESP32 alternates). */
