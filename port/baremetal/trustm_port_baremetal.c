/*
 * libtrustm port for a bare-metal Cortex-M with a simple register-level I2C
 * peripheral - a documented template (cross-compiled and linked for a
 * Cortex-M4 by tests/integration/port_cross_m4.sh). Replace the
 * I2C_* and GPIO_* macros with your MCU's registers (the shape below follows
 * the common "START, address, data, STOP" controllers such as STM32 I2Cv2 or
 * nRF TWIM in blocking mode).
 */
#include <stdint.h>

#include "trustm/port.h"

/* ---- board glue: provide these for your MCU ---- */
extern volatile uint32_t g_ms_ticks;             /* incremented by SysTick every 1 ms */
extern int board_i2c_write(uint8_t addr, const uint8_t *p, uint16_t n); /* 0 ok, 1 addr NACK, -1 error */
extern int board_i2c_read(uint8_t addr, uint8_t *p, uint16_t n);        /* same */
extern void board_rst_pin(int level);            /* optional */
extern uint32_t board_cycles_per_us;             /* e.g. SystemCoreClock / 1000000 */

static tma_status xfer(void *ctx, struct trustm_i2c_msg *m, size_t n)
{
    int r;
    (void)ctx;
    if (n != 1) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
    }
    r = (m->flags & TRUSTM_I2C_READ) ? board_i2c_read((uint8_t)m->addr, m->buf, m->len)
                                     : board_i2c_write((uint8_t)m->addr, m->buf, m->len);
    if (r == 0) {
        return TMA_OK;
    }
    /* The chip NACKs its address while busy: that must come back as NACK,
     * and the controller must have sent STOP and be idle again. */
    return r == 1 ? TMA_ERR(TMA_LAYER_BUS, TMA_C_NACK) : TMA_ERR(TMA_LAYER_BUS, TMA_C_IO);
}

static void delay_us(void *ctx, uint32_t us)
{
    (void)ctx;
    if (us >= 1000) {
        uint32_t start = g_ms_ticks;
        while ((uint32_t)(g_ms_ticks - start) < (us + 999) / 1000) {
            __asm volatile("wfi"); /* sleep until the next SysTick */
        }
        return;
    }
    /* short waits (guard time 50 us): DWT cycle counter busy-wait */
    {
        volatile uint32_t *dwt_cyccnt = (volatile uint32_t *)0xE0001004;
        uint32_t start = *dwt_cyccnt;
        while ((uint32_t)(*dwt_cyccnt - start) < us * board_cycles_per_us) {
        }
    }
}

static uint32_t now_ms(void *ctx)
{
    (void)ctx;
    return g_ms_ticks;
}

static tma_status reset(void *ctx, enum trustm_reset_kind kind)
{
    (void)ctx;
    if (kind != TRUSTM_RESET_WARM) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_UNSUPPORTED);
    }
    board_rst_pin(0);
    delay_us(0, 2000); /* 10 us .. 2.5 ms */
    board_rst_pin(1);
    return TMA_OK;
}

/* Single-threaded firmware needs no lock hooks. */
const struct trustm_port trustm_port_baremetal = {0, xfer, delay_us, now_ms, reset, 0, 0};
