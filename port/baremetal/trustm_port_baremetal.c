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
extern volatile uint32_t g_ms_ticks; /* +1 by the SysTick interrupt, which must run at 1 ms */
extern int board_i2c_write(uint8_t addr, const uint8_t *p, uint16_t n); /* 0 ok, 1 addr NACK, -1 error */
extern int board_i2c_read(uint8_t addr, uint8_t *p, uint16_t n);        /* same */
extern void board_rst_pin(int level);            /* optional */

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
    /* Short waits (guard time 50 us): count SysTick's own counter, which
     * every Cortex-M has (M0/M0+ included) and which needs no enabling,
     * unlike the DWT cycle counter (off after reset on M3/M4/M7, absent on
     * M0, not modelled by QEMU: a CYCCNT loop there never ends). SysTick
     * counts down from RVR to 0 once per millisecond (g_ms_ticks). A loop
     * slower than one period would count too little, so waits only longer. */
    {
        volatile uint32_t *syst_rvr = (volatile uint32_t *)0xE000E014;
        volatile uint32_t *syst_cvr = (volatile uint32_t *)0xE000E018;
        uint32_t period = (*syst_rvr & 0xFFFFFFu) + 1u;
        uint32_t need = us * (period / 1000u + 1u); /* < 1000 * 2^24 / 1000 */
        uint32_t last = *syst_cvr, waited = 0;
        while (waited < need) {
            uint32_t now = *syst_cvr;
            waited += now <= last ? last - now : last + period - now;
            last = now;
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
