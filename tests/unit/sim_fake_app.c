/*
 * Fake application behind sim_app.h for the protocol-engine tests.
 *  OpenApplication (exact AID) -> 00 00 00 00, 6 ms (longer than the separate-ACK threshold,
 *      like the chip in the datasheet log); wrong AID -> FF 00 00 00
 *  GetRandom n -> 00 00 n 00 01 02 ..., 1 ms
 *  GetDataObject E0C2 -> 27-byte UID; E0E0 -> 515-byte TLS-identity object; 2 ms
 *  CloseApplication 01 -> 8-byte handle, hibernated
 *  anything else -> FF 00 00 00 (0.5 ms); APDU shorter than 4 bytes -> FF 00 00 00
 *  PBS = 01 02 .. 40
 */
#include "sim_fake_app.h"

#include <stdlib.h>
#include <string.h>

struct fake_app_knobs fake_app = {.busy_override = -1};

struct sim_app {
    bool hibernated;
    uint8_t ctx[256];
    size_t ctx_len;
};

void fake_app_clear(void)
{
    memset(&fake_app, 0, sizeof(fake_app));
    fake_app.busy_override = -1;
}

tma_status sim_app_open(struct sim_app **out_app, const struct sim_app_config *cfg)
{
    (void)cfg;
    *out_app = calloc(1, sizeof(struct sim_app));
    return *out_app ? TMA_OK : TMA_ERR(TMA_LAYER_SIM, TMA_C_INTERNAL);
}

void sim_app_close(struct sim_app *app)
{
    free(app);
}

static const uint8_t aid[16] = {0xD2, 0x76, 0x00, 0x00, 0x04, 0x47, 0x65, 0x6E,
                                0x41, 0x75, 0x74, 0x68, 0x41, 0x70, 0x70, 0x6C};

static size_t rsp_hdr(uint8_t *rsp, uint8_t sta, size_t len)
{
    rsp[0] = sta;
    rsp[1] = 0;
    rsp[2] = (uint8_t)(len >> 8);
    rsp[3] = (uint8_t)len;
    return 4 + len;
}

tma_status sim_app_execute(struct sim_app *app, const struct sim_sec *sec, uint64_t now_us,
                           const uint8_t *apdu, size_t apdu_len, uint8_t *rsp, size_t rsp_cap,
                           size_t *rsp_len, uint32_t *busy_us)
{
    (void)now_us;
    fake_app.executes++;
    fake_app.last_sec = *sec;
    fake_app.last_apdu_len = apdu_len < sizeof(fake_app.last_apdu) ? apdu_len : sizeof(fake_app.last_apdu);
    memcpy(fake_app.last_apdu, apdu, fake_app.last_apdu_len);
    if (rsp_cap < 600) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_TOO_SMALL);
    }
    *busy_us = 500;
    *rsp_len = rsp_hdr(rsp, 0xFF, 0);
    if (apdu_len < 4) {
        goto done;
    }
    uint8_t cmd = apdu[0] & 0x7F;
    if (cmd == 0x70) {
        *busy_us = 6000;
        if (apdu_len == 20 && memcmp(apdu + 4, aid, 16) == 0) {
            *rsp_len = rsp_hdr(rsp, 0x00, 0);
            app->hibernated = false;
        }
    } else if (cmd == 0x0C && apdu_len == 6) {
        size_t n = ((size_t)apdu[4] << 8) | apdu[5];
        *busy_us = 1000;
        if (n >= 8 && n <= 256) {
            for (size_t i = 0; i < n; i++) {
                rsp[4 + i] = (uint8_t)i;
            }
            *rsp_len = rsp_hdr(rsp, 0x00, n);
        }
    } else if (cmd == 0x01 && apdu_len >= 6) {
        uint16_t oid = (uint16_t)((apdu[4] << 8) | apdu[5]);
        *busy_us = 2000;
        if (oid == 0xE0C2) {
            for (size_t i = 0; i < 27; i++) {
                rsp[4 + i] = (uint8_t)(0xC0 + i);
            }
            *rsp_len = rsp_hdr(rsp, 0x00, 27);
        } else if (oid == 0xE0E0) {
            uint8_t *o = rsp + 4;
            static const uint8_t hdr[] = {0xC0, 0x02, 0x00, 0x00, 0x01, 0xFD, 0x00, 0x01, 0xFA, 0x30, 0x82, 0x01, 0xF6};
            memcpy(o, hdr, sizeof(hdr));
            for (size_t i = sizeof(hdr); i < 515; i++) {
                o[i] = (uint8_t)(i * 7u);
            }
            *rsp_len = rsp_hdr(rsp, 0x00, 515);
        }
    } else if (cmd == 0x71 && apdu_len == 4 && apdu[1] == 0x01) {
        for (size_t i = 0; i < 8; i++) {
            rsp[4 + i] = (uint8_t)(0x10 + i);
        }
        *rsp_len = rsp_hdr(rsp, 0x00, 8);
        app->hibernated = true;
    }
done:
    if (fake_app.busy_override >= 0) {
        *busy_us = (uint32_t)fake_app.busy_override;
    }
    return TMA_OK;
}

uint32_t sim_app_security_event(struct sim_app *app, uint64_t now_us)
{
    (void)app;
    (void)now_us;
    return 0;
}

tma_status sim_app_pbs(struct sim_app *app, uint8_t *out, size_t cap, size_t *out_len)
{
    (void)app;
    if (cap < 64) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_TOO_SMALL);
    }
    for (size_t i = 0; i < 64; i++) {
        out[i] = (uint8_t)(i + 1);
    }
    *out_len = 64;
    return TMA_OK;
}

void sim_app_reset(struct sim_app *app, bool power_cycle)
{
    (void)power_cycle;
    (void)app;
    fake_app.resets++;
}

tma_status sim_app_set_prl_context(struct sim_app *app, const uint8_t *blob, size_t len)
{
    if (len > sizeof(app->ctx)) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_TOO_SMALL);
    }
    if (len) {
        memcpy(app->ctx, blob, len);
    }
    app->ctx_len = len;
    return TMA_OK;
}

tma_status sim_app_get_prl_context(struct sim_app *app, uint8_t *out, size_t cap, size_t *out_len)
{
    if (app->ctx_len == 0) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_NOT_FOUND);
    }
    if (cap < app->ctx_len) {
        return TMA_ERR(TMA_LAYER_SIM, TMA_C_TOO_SMALL);
    }
    memcpy(out, app->ctx, app->ctx_len);
    *out_len = app->ctx_len;
    return TMA_OK;
}

bool sim_app_hibernated(const struct sim_app *app)
{
    return app->hibernated;
}

tma_status sim_app_export_factory_ca(struct sim_app *app, const char *dir)
{
    (void)app;
    (void)dir;
    return TMA_ERR(TMA_LAYER_SIM, TMA_C_UNSUPPORTED);
}
