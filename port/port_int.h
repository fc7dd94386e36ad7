/* Private to the host ports: the handle behind struct trustm_port.ctx. */
#ifndef TRUSTM_PORT_INT_H
#define TRUSTM_PORT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "trustm/port_open.h"

enum port_kind { PORT_SIM = 1, PORT_SIMSOCK, PORT_I2CDEV };

struct trustm_port_handle {
    enum port_kind kind;
    int fd;
    int lock_fd;
    uint8_t addr;
    bool realtime;
    uint64_t vnow_us;    /* simsock virtual clock */
    uint64_t pending_us; /* virtual sleep not yet sent */
    uint32_t timeout_ms; /* simsock: longest wait for a reply */
    void *sim;
    char lock_path[300];
};

/* Lock file helpers (port_open.c). name is sanitised into the file name. */
void port_lock_init(struct trustm_port_handle *h, const char *name);
void port_lock(void *ctx);
void port_unlock(void *ctx);
uint64_t port_mono_us(void);
void port_sleep_us(uint64_t us);
void port_simsock_close(struct trustm_port_handle *h);
void port_i2cdev_close(struct trustm_port_handle *h);
void port_sim_close(struct trustm_port_handle *h);

#endif
