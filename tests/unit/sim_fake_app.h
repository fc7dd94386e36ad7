/* A small stand-in for the simulator application (sim_app.h), so the protocol
 * engine's layers are tested on their own. Knobs for the tests below. */
#ifndef SIM_FAKE_APP_H
#define SIM_FAKE_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "sim_app.h"

struct fake_app_knobs {
    int64_t busy_override;      /* >= 0: busy time for every command */
    unsigned executes;          /* commands executed */
    struct sim_sec last_sec;
    uint8_t last_apdu[SIM_APDU_MAX];
    size_t last_apdu_len;
    unsigned resets;
};
extern struct fake_app_knobs fake_app;
void fake_app_clear(void);

#endif
