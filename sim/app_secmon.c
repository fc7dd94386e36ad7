/*
 * Security Monitor (spec 9.5, 7.4): security events consume SEC_CREDIT (RAM)
 * or raise the Security Event Counter SEC (NVM, 0..255); every t_max without
 * an event first lowers SEC, then refills the credit. From SEC >= 128 each
 * protected operation is delayed, linearly up to t_max at SEC = 255.
 */
#include "app_int.h"

#define T_MAX_CAP_US 5000000u

void app_secmon_config(const struct sim_app *app, uint32_t *t_max_us, uint8_t *credit_max)
{
    *t_max_us = T_MAX_CAP_US;
    *credit_max = 5;
    if (app->cfg.version < 3) {
        return; /* V1: fixed configuration */
    }
    struct sim_obj *o = app_obj_find((struct sim_app *)(uintptr_t)app, 0xE0C9);
    if (!o || o->used < 4) {
        return;
    }
    uint32_t t = (uint32_t)o->data[0] * 100000u;
    *t_max_us = t > T_MAX_CAP_US ? T_MAX_CAP_US : t;
    *credit_max = o->data[2];
}

void app_secmon_tick(struct sim_app *app, uint64_t now_us)
{
    uint32_t t_max;
    uint8_t credit_max;
    app_secmon_config(app, &t_max, &credit_max);
    /* SRM 4.6.3: a configured maximum credit of 0 sets the credit to 0 (a
     * lower one caps it), and t_max = 0 (monitor off) sets SEC to 0 */
    if (app->sec_credit > credit_max) {
        app->sec_credit = credit_max;
    }
    if (t_max == 0 && app->sec > 0) {
        app->sec = 0;
        app->dirty = true;
    }
    if (!app->secmon_time_known || now_us < app->secmon_last_tick_us) {
        app->secmon_time_known = true;
        app->secmon_last_tick_us = now_us;
        return;
    }
    if (t_max == 0) {
        app->secmon_last_tick_us = now_us;
        return;
    }
    uint64_t periods = (now_us - app->secmon_last_tick_us) / t_max;
    if (periods == 0) {
        return;
    }
    app->secmon_last_tick_us += periods * t_max;
    while (periods && app->sec > 0) {
        app->sec--;
        app->dirty = true;
        periods--;
    }
    while (periods && app->sec_credit < credit_max) {
        app->sec_credit++;
        periods--;
    }
}

void app_secmon_event(struct sim_app *app, uint64_t now_us)
{
    uint32_t t_max;
    uint8_t credit_max;
    app_secmon_config(app, &t_max, &credit_max);
    if (t_max == 0) {
        return; /* monitor disabled */
    }
    app->secmon_last_event_us = now_us;
    /* an event restarts the idle period that would lower SEC */
    app->secmon_last_tick_us = now_us;
    app->secmon_time_known = true;
    if (app->sec_credit > 0) {
        app->sec_credit--;
    } else if (app->sec < 255) {
        app->sec++;
        app->dirty = true;
    }
    if (app->sec >= 128) {
        app->busy_us += (uint32_t)((uint64_t)t_max * (uint32_t)(app->sec - 127u) / 128u);
    }
}
