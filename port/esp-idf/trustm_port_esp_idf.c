/*
 * libtrustm port for ESP-IDF (v5, i2c_master driver). Add it, its header,
 * the sources of src/trustm and src/common/status.c to an ESP-IDF component.
 * Compiled with the core's warnings (C99) and run by the port_esp_idf test
 * (tests/port.cmake): against declarations of the ESP-IDF v5 calls it uses,
 * checked against the ESP-IDF headers (tests/port/esp_idf_api), and a
 * test-side ESP-IDF that puts the in-process simulator behind
 * i2c_master_transmit/receive, the simulator's clock behind esp_timer and the
 * delays, and its reset behind the GPIO lines (tests/port/esp_idf_fake.c).
 * Not built with the ESP-IDF toolchain here.
 *
 * Wiring: SDA/SCL with pull-ups, RST on a GPIO (optional), VCC switchable
 * through a GPIO-driven load switch (optional, for cold reset/hibernate).
 */
#include "esp_rom_sys.h"
#include "esp_timer.h"
#include "freertos/task.h"

#include "trustm_port_esp_idf.h"

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
    /* The v5 i2c_master driver reports a missing ACK as
     * ESP_ERR_INVALID_STATE (ESP_FAIL in some releases): treat both as
     * "address not acknowledged". The chip NACKs its address whenever it
     * is busy, so the driver must survive NACKs. Check the release you use:
     * espressif/esp-idf issue #13134 reports i2c_master builds of early 2024
     * that did not check the ACK at all (a busy chip then reads as 0xFF
     * bytes), and in some versions of i2c_master.c a failed synchronous
     * transaction returns without giving the bus lock back (every later
     * transfer then ends in ESP_ERR_TIMEOUT, TMA_C_IO here); later ones
     * give it back and reset the controller. */
    if (err == ESP_ERR_INVALID_STATE || err == ESP_FAIL) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_NACK);
    }
    return TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
}

/* At least us microseconds (the port contract). pdMS_TO_TICKS() rounds
 * down (2 ms is 0 ticks at the default CONFIG_FREERTOS_HZ of 100) and
 * vTaskDelay(n) returns after n - 1 to n tick periods, so a wait in ticks
 * alone can be far too short. Sleep for the whole ticks of the wait
 * (yielding while the chip computes), then busy-wait the rest on the
 * microsecond clock. */
static void delay_us(void *ctx, uint32_t us)
{
    const uint32_t tick_us = 1000000u / (uint32_t)configTICK_RATE_HZ;
    const int64_t end = esp_timer_get_time() + (int64_t)us;
    int64_t left;
    (void)ctx;
    if (us >= tick_us) {
        vTaskDelay((TickType_t)(us / tick_us)); /* at most us / tick_us ticks: never past end */
    }
    left = end - esp_timer_get_time();
    if (left > 0) {
        esp_rom_delay_us((uint32_t)left);
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
        delay_us(ctx, 2000); /* power off 2 ms (not pdMS_TO_TICKS(2): 0 ticks at 100 Hz) */
        gpio_set_level(e->vcc, 1);
        if (e->rst != GPIO_NUM_NC) gpio_set_level(e->rst, 1);
        return TMA_OK;
    }
    if (kind == TRUSTM_RESET_WARM && e->rst != GPIO_NUM_NC) {
        gpio_set_level(e->rst, 0);
        esp_rom_delay_us(2000); /* low for 10 us .. 2.5 ms */
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
