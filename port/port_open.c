/* Device-string parser and the lock-file helpers shared by the host ports. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "port_int.h"

uint64_t port_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void port_sleep_us(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void port_lock_init(struct trustm_port_handle *h, const char *name)
{
    const char *dir = getenv("TRUSTM_LOCK_DIR");
    char clean[200];
    size_t i, j = 0;
    for (i = 0; name[i] && j + 1 < sizeof clean; i++) {
        char c = name[i];
        clean[j++] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
                         ? c
                         : '_';
    }
    clean[j] = 0;
    snprintf(h->lock_path, sizeof h->lock_path, "%s/trustm-%s.lock", dir && *dir ? dir : "/tmp",
             clean);
    h->lock_fd = -1;
}

/* Held from trustm_open() to trustm_close(). A lock file that cannot be
 * created (read-only /tmp) leaves the port unserialised rather than unusable. */
void port_lock(void *ctx)
{
    struct trustm_port_handle *h = ctx;
    if (h->lock_fd >= 0) {
        return;
    }
    h->lock_fd = open(h->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (h->lock_fd >= 0) {
        while (flock(h->lock_fd, LOCK_EX) != 0 && errno == EINTR) {
        }
    }
}

void port_unlock(void *ctx)
{
    struct trustm_port_handle *h = ctx;
    if (h->lock_fd >= 0) {
        flock(h->lock_fd, LOCK_UN);
        close(h->lock_fd);
        h->lock_fd = -1;
    }
}

tma_status trustm_port_open(const char *dev, struct trustm_port *out_port,
                            struct trustm_port_handle **out_handle)
{
    if (!dev || !out_port || !out_handle) {
        return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
    }
    *out_handle = NULL;
    if (strcmp(dev, "sim") == 0) {
        return trustm_port_sim_open(NULL, 1, out_port, out_handle);
    }
    if (strncmp(dev, "sim:", 4) == 0 && dev[4]) {
        return trustm_port_simsock_open(dev + 4, false, out_port, out_handle);
    }
    if (strncmp(dev, "tcp:", 4) == 0 && dev[4]) {
        return trustm_port_simsock_open(dev + 4, false, out_port, out_handle);
    }
    if (strncmp(dev, "/dev/", 5) == 0) {
        char path[256];
        unsigned long addr = 0x30;
        const char *at = strchr(dev, '@');
        size_t n = at ? (size_t)(at - dev) : strlen(dev);
        if (n >= sizeof path) {
            return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
        }
        memcpy(path, dev, n);
        path[n] = 0;
        if (at) {
            char *end = NULL;
            errno = 0;
            addr = strtoul(at + 1, &end, 0);
            if (errno || end == at + 1 || *end || addr > 0x7F) {
                return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
            }
        }
        return trustm_port_i2cdev_open(path, (uint8_t)addr, out_port, out_handle);
    }
    return TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM);
}

void trustm_port_close(struct trustm_port_handle *h)
{
    if (!h) {
        return;
    }
    port_unlock(h);
    switch (h->kind) {
    case PORT_SIM:
        port_sim_close(h);
        break;
    case PORT_SIMSOCK:
        port_simsock_close(h);
        break;
    case PORT_I2CDEV:
        port_i2cdev_close(h);
        break;
    }
    free(h);
}
