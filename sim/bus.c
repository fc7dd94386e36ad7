/*
 * Register map of the IFX I2C protocol as the Trust M implements it (spec
 * 1.2-1.6). Register values are big-endian; reads past a register's end or of
 * an unknown register return 0xFF. Writes are one transaction
 * [reg][value...]; a read returns bytes of the register last addressed.
 */
#include <string.h>

#include "sim_int.h"

#define REG_DATA 0x80
#define REG_DATA_REG_LEN 0x81
#define REG_I2C_STATE 0x82
#define REG_BASE_ADDR 0x83
#define REG_MAX_SCL_FREQU 0x84
#define REG_GUARD_TIME 0x85
#define REG_TRANS_TIMEOUT 0x86
#define REG_PWR_SAVE_TIMEOUT 0x87
#define REG_SOFT_RESET 0x88
#define REG_I2C_MODE 0x89
#define REG_APP_STATE_0 0x90
#define REG_APP_STATE_15 0x9F
#define REG_IFX_USE_1 0xA0
#define REG_IFX_USE_2 0xA1

#define MODE_SM 1u
#define MODE_FM 2u
#define MODE_SMFM 3u
#define MODE_FMPLUS 4u

uint32_t sim_bus_scl_khz(const struct trustm_sim *s)
{
    switch (s->i2c_mode) {
    case MODE_SM: return 100;
    case MODE_FMPLUS: return 1000;
    default: return 400;
    }
}

void sim_bus_reset_registers(struct trustm_sim *s, bool power)
{
    (void)power;
    s->dreg_len = SIM_DREG_MAX;
    s->dreg_change = false;
    s->addr = s->addr_default;
    s->addr_change = false;
    s->i2c_mode = s->i2c_mode_default;
    s->reg = -1;
    memset(s->ifx_use, 0, sizeof(s->ifx_use));
}

static void be32(uint8_t *out, uint32_t v)
{
    out[0] = (uint8_t)(v >> 24);
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
}

enum trustm_sim_ack sim_bus_write(struct trustm_sim *s, const uint8_t *data, size_t len)
{
    if (len == 0) {
        return TRUSTM_SIM_ACK; /* address probe */
    }
    uint8_t reg = data[0];
    const uint8_t *v = data + 1;
    size_t vlen = len - 1;
    s->reg = reg;
    if (vlen == 0) {
        return TRUSTM_SIM_ACK; /* register pointer for the next read */
    }
    switch (reg) {
    case REG_DATA: {
        bool overflow = vlen > s->dreg_len;
        sim_engine_data_write(s, v, overflow ? s->dreg_len : vlen, overflow);
        return overflow ? TRUSTM_SIM_DATA_NACK : TRUSTM_SIM_ACK;
    }
    case REG_DATA_REG_LEN: {
        if (vlen != 2) {
            return TRUSTM_SIM_DATA_NACK;
        }
        uint16_t want = (uint16_t)((v[0] << 8) | v[1]);
        /* not acceptable -> the slave shows its maximum */
        s->dreg_pending = (want >= SIM_DREG_MIN && want <= SIM_DREG_MAX) ? want : (uint16_t)SIM_DREG_MAX;
        s->dreg_change = true;
        return TRUSTM_SIM_ACK;
    }
    case REG_BASE_ADDR: {
        if (vlen != 2) {
            return TRUSTM_SIM_DATA_NACK;
        }
        uint8_t a = v[1] & 0x7Fu;
        if (a < 0x08 || a > 0x77) {
            return TRUSTM_SIM_DATA_NACK; /* reserved I2C addresses */
        }
        s->pending_addr = a;
        s->addr_change = true;
        if (v[0] & 0x80u) {
            s->addr_default = a;
        }
        return TRUSTM_SIM_ACK;
    }
    case REG_SOFT_RESET:
        if (vlen != 2) {
            return TRUSTM_SIM_DATA_NACK;
        }
        /* takes effect after the transaction (STOP), so the trace shows the write first */
        s->soft_reset_req = true;
        return TRUSTM_SIM_ACK;
    case REG_I2C_MODE: {
        if (vlen != 2) {
            return TRUSTM_SIM_DATA_NACK;
        }
        uint8_t m = v[1] & 7u;
        if (m >= MODE_SM && m <= MODE_FMPLUS) { /* other values are ignored */
            s->i2c_mode = m;
            if (v[0] & 0x80u) {
                s->i2c_mode_default = m;
            }
        }
        return TRUSTM_SIM_ACK;
    }
    case REG_IFX_USE_1:
    case REG_IFX_USE_2:
        if (vlen > 4) {
            return TRUSTM_SIM_DATA_NACK;
        }
        memcpy(s->ifx_use[reg - REG_IFX_USE_1], v, vlen);
        return TRUSTM_SIM_ACK;
    default:
        /* read-only or unknown register: the first data byte is not acknowledged */
        return TRUSTM_SIM_DATA_NACK;
    }
}

void sim_bus_read(struct trustm_sim *s, uint8_t *buf, size_t len)
{
    uint8_t val[4];
    size_t vlen = 0;
    memset(buf, 0xFF, len);
    if (s->reg == REG_DATA) {
        sim_engine_data_read(s, buf, len);
        return;
    }
    switch (s->reg) {
    case REG_DATA_REG_LEN:
        val[0] = (uint8_t)(s->dreg_len >> 8);
        val[1] = (uint8_t)s->dreg_len;
        vlen = 2;
        break;
    case REG_I2C_STATE: {
        uint16_t ready = sim_engine_ready_len(s);
        uint64_t now = sim_clock_now(&s->clock);
        bool busy = s->executing && now < s->busy_until;
        val[0] = (uint8_t)(0x08u | (busy ? 0x80u : 0u) | (ready ? 0x40u : 0u));
        val[1] = 0x80u; /* PRESENT_LAYER */
        val[2] = (uint8_t)(ready >> 8);
        val[3] = (uint8_t)ready;
        vlen = 4;
        if (busy && !ready) {
            s->stats.busy_polls++;
            sim_stat_poll(s);
        }
        break;
    }
    case REG_MAX_SCL_FREQU:
        be32(val, sim_bus_scl_khz(s));
        vlen = 4;
        break;
    case REG_GUARD_TIME:
        be32(val, SIM_GUARD_US);
        vlen = 4;
        break;
    case REG_TRANS_TIMEOUT:
        be32(val, SIM_TRANS_TIMEOUT_MS);
        vlen = 4;
        break;
    case REG_PWR_SAVE_TIMEOUT:
        be32(val, 0xFFFFFFFFu); /* not implemented */
        vlen = 4;
        break;
    case REG_I2C_MODE:
        val[0] = 0; /* persistent bit always reads 0 */
        val[1] = s->i2c_mode;
        vlen = 2;
        break;
    case REG_IFX_USE_1:
    case REG_IFX_USE_2:
        memcpy(val, s->ifx_use[s->reg - REG_IFX_USE_1], 4);
        vlen = 4;
        break;
    default:
        if (s->reg >= REG_APP_STATE_0 && s->reg <= REG_APP_STATE_15) {
            memset(val, 0, 4);
            vlen = 4;
        }
        break;
    }
    memcpy(buf, val, vlen < len ? vlen : len);
}
