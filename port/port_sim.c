/* libtrustm port: the simulator in process (include/trustm_sim/sim.h). */
#include <stdlib.h>
#include <string.h>

#include "port_int.h"

#if defined(__has_include)
#if __has_include("trustm_sim/sim.h")
#define HAVE_SIM 1
#endif
#endif

#ifdef HAVE_SIM
#include "trustm_sim/sim.h"

tma_status trustm_port_sim_open(const char *state_path, uint64_t seed,
                                struct trustm_port *out_port,
                                struct trustm_port_handle **out_handle)
{
    struct trustm_sim_config cfg;
    struct trustm_sim *sim = NULL;
    struct trustm_port_handle *h;
    tma_status st;
    if (!out_port || !out_handle) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
    }
    h = calloc(1, sizeof *h);
    if (!h) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_INTERNAL);
    }
    trustm_sim_config_default(&cfg);
    cfg.state_path = state_path;
    cfg.seed = seed;
    st = trustm_sim_create(&cfg, &sim);
    if (st) {
        free(h);
        return st;
    }
    h->kind = PORT_SIM;
    h->fd = -1;
    h->lock_fd = -1;
    h->sim = sim;
    trustm_sim_port(sim, out_port);
    *out_handle = h;
    return TMA_OK;
}

void port_sim_close(struct trustm_port_handle *h)
{
    trustm_sim_destroy(h->sim);
}

#else

tma_status trustm_port_sim_open(const char *state_path, uint64_t seed,
                                struct trustm_port *out_port,
                                struct trustm_port_handle **out_handle)
{
    (void)state_path;
    (void)seed;
    (void)out_port;
    (void)out_handle;
    return TMA_ERR(TMA_LAYER_BUS, TMA_C_UNSUPPORTED);
}

void port_sim_close(struct trustm_port_handle *h)
{
    (void)h;
}

#endif

void *trustm_port_sim_instance(struct trustm_port_handle *h)
{
    return h && h->kind == PORT_SIM ? h->sim : NULL;
}
