/*
 * libtrustm built without the shielded connection (TRUSTM_CFG_SHIELD=0, the
 * *-noshield size rows): its shielded-connection API must answer, not
 * crash or pretend. No test called these functions before (scripts/coverage:
 * the five trustm_shield_*() of this build were never entered):
 *  - trustm_shield_set_secret/handshake/save/restore -> SHIELD UNSUPPORTED,
 *    trustm_shield_state -> TRUSTM_SHIELD_NONE;
 *  - a command asking for protection (command, response or both) is refused
 *    with SHIELD UNSUPPORTED before anything goes on the bus, and the same
 *    context then still works in plain mode.
 * Against the in-process simulator; its bus trace shows whether anything
 * was sent.
 */
#include <stdio.h>
#include <string.h>

#include "trustm/cmd.h"
#include "trustm/transceive.h"
#include "trustm/trustm.h"
#include "trustm_sim/sim.h"

#include "tma_check.h"

#if TRUSTM_CFG_SHIELD
#error "this test is for the library built with TRUSTM_CFG_SHIELD=0"
#endif

static int failures;


/* Lines of the simulator's bus trace so far: one per bus event. */
static unsigned long trace_lines;

static void on_trace(void *ctx, const char *line)
{
    (void)ctx;
    (void)line;
    trace_lines++;
}

int main(void)
{
    const tma_status unsupported = TMA_ERR(TMA_LAYER_SHIELD, TMA_C_UNSUPPORTED);
    static const uint8_t protections[] = {TRUSTM_PROTECT_CMD, TRUSTM_PROTECT_RSP,
                                          TRUSTM_PROTECT_BOTH,
                                          TRUSTM_PROTECT_BOTH | TRUSTM_PROTECT_REHANDSHAKE};
    struct trustm_sim_config cfg;
    struct trustm_sim *sim = NULL;
    struct trustm_port port;
    static struct trustm t;
    struct trustm_shield_saved saved;
    uint8_t pbs[64];
    uint8_t rnd[32];
    size_t i;

    trustm_sim_config_default(&cfg);
    cfg.seed = 11;
    cfg.trace = on_trace;
    if (trustm_sim_create(&cfg, &sim) != TMA_OK) {
        fprintf(stderr, "cannot create the simulator\n");
        return 1;
    }
    trustm_sim_port(sim, &port);
    EXPECT_ST(trustm_init(&t, &port, NULL), TMA_OK);
    EXPECT_ST(trustm_open(&t), TMA_OK);
    EXPECT_ST(trustm_open_app(&t, TRUSTM_PROTECT_NONE, NULL), TMA_OK);

    memset(pbs, 0x42, sizeof(pbs));
    memset(&saved, 0, sizeof(saved));
    EXPECT_ST(trustm_shield_set_secret(&t, NULL, pbs, sizeof(pbs)), unsupported);
    EXPECT_ST(trustm_shield_handshake(&t), unsupported);
    EXPECT(trustm_shield_state(&t) == TRUSTM_SHIELD_NONE, "shield state %u",
           (unsigned)trustm_shield_state(&t));
    EXPECT_ST(trustm_shield_save(&t, &saved), unsupported);
    EXPECT_ST(trustm_shield_restore(&t, &saved), unsupported);

    for (i = 0; i < sizeof(protections); i++) {
        unsigned long before = trace_lines;
        EXPECT_ST(trustm_get_random(&t, protections[i], TRUSTM_RNG_TRNG, rnd, sizeof(rnd)),
                  unsupported);
        EXPECT(trace_lines == before, "protection 0x%02X: %lu bus events", protections[i],
               trace_lines - before);
    }
    {
        /* the layer below the commands refuses it the same way */
        static const uint8_t apdu[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
        struct tma_span seg = {apdu, sizeof(apdu)};
        struct trustm_rsp rsp;
        EXPECT_ST(trustm_transceive(&t, TRUSTM_PROTECT_BOTH, &seg, 1, rnd, sizeof(rnd), &rsp),
                  unsupported);
    }
    /* nothing above left the context unusable (and the trace does see a
     * command: otherwise the bus checks above would prove nothing) */
    {
        unsigned long before = trace_lines;
        memset(rnd, 0, sizeof(rnd));
        EXPECT_ST(trustm_get_random(&t, TRUSTM_PROTECT_NONE, TRUSTM_RNG_TRNG, rnd, sizeof(rnd)),
                  TMA_OK);
        EXPECT(trace_lines > before, "a plain command left no bus trace");
    }
    {
        uint8_t zero[sizeof(rnd)];
        memset(zero, 0, sizeof(zero));
        EXPECT(memcmp(rnd, zero, sizeof(rnd)) != 0, "plain GetRandom after the refusals: zeros");
    }
    EXPECT(trustm_shield_state(&t) == TRUSTM_SHIELD_NONE, "shield state changed");
    EXPECT_ST(trustm_close_app(&t, TRUSTM_PROTECT_NONE, NULL), TMA_OK);
    trustm_deinit(&t);
    trustm_sim_destroy(sim);
    printf("no-shield build: %d failure(s)\n", failures);
    return failures == 0 ? 0 : 1;
}
