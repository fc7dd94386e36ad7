/* The PAL pieces both interop harnesses run Infineon's host library on
 * against trustm-sim (next to the library's own Linux i2c-dev pal_i2c.c, run
 * under tests/integration/i2cdev_shim.c): tests/interop/infineon_host/
 * (pal_glue.c, single-threaded) and tests/interop/linux_tools/ (pal_tools.c,
 * a worker thread). Those two files keep what differs, pal_os_event and
 * pal_os_lock; this one is the rest:
 *   - pal_init: the i2c device from $<P>I2C_DEV;
 *   - pal_gpio: the VDD and RST pins become socket ops on the daemon
 *     (VDD low->high = power cycle 0x04, RST low->high alone = warm reset 0x03);
 *     $<P>NO_GPIO set: a board without those lines (the pins do nothing);
 *   - pal_os_timer: CLOCK_MONOTONIC;
 *   - pal_os_event: the one pending callback's registration, start and stop
 *     (running it and the lock around it are the harness's, see pal_sim.h);
 *   - pal_os_datastore: the platform binding secret (ID 0x11, hex in
 *     $<P>PBS, default 01..40 like the simulator's factory E140), the saved
 *     shielded-connection context (ID 0x22, kept in the file $<P>CTX_FILE
 *     when set, so a second process can restore it, else in memory) and the
 *     hibernated application's handle (ID 0x33, $<P>APPCTX_FILE likewise);
 *   - pal_os_memory and the byte-order helpers of optiga_lib_common.c.
 * <P> is PAL_SIM_ENV: "INTEROP_" unless the build defines it (linux_tools.sh: "LT_").
 * No Infineon code in this file. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "optiga_lib_common.h"
#include "pal.h"
#include "pal_gpio.h"
#include "pal_i2c.h"
#include "pal_ifx_i2c_config.h"
#include "pal_linux.h"
#include "pal_os_datastore.h"
#include "pal_os_event.h"
#include "pal_os_memory.h"
#include "pal_os_timer.h"
#include "pal_sim.h"

#ifndef PAL_SIM_ENV
#define PAL_SIM_ENV "INTEROP_"
#endif

/* ---- instances the library's ifx_i2c_config.c refers to ---- */
static pal_linux_t linux_i2c = {"/dev/i2c-1", -1, NULL};
pal_i2c_t optiga_pal_i2c_context_0 = {&linux_i2c, NULL, NULL, 0x30};
static int pin_vdd = 1, pin_rst = 2;
pal_gpio_t optiga_vdd_0 = {&pin_vdd};
pal_gpio_t optiga_reset_0 = {&pin_rst};

int interop_gpio_events[4];

pal_status_t pal_init(void)
{
    const char *dev = getenv(PAL_SIM_ENV "I2C_DEV");
    if (dev && *dev) {
        linux_i2c.i2c_if = dev;
    }
    return PAL_STATUS_SUCCESS;
}

pal_status_t pal_deinit(void)
{
    return PAL_STATUS_SUCCESS;
}

/* ---- one control request on the daemon's socket (own connection) ---- */
static int sim_ctl(uint8_t op)
{
    const char *path = getenv("TRUSTM_SHIM_SOCKET");
    struct sockaddr_un sa;
    uint8_t req[4] = {op, 0x30, 0, 0}, rep[3];
    int fd, ok = -1;
    if (!path || strlen(path) >= sizeof sa.sun_path) {
        return -1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && send(fd, req, 4, MSG_NOSIGNAL) == 4 &&
        recv(fd, rep, 3, MSG_WAITALL) == 3 && rep[0] == 0) {
        ok = 0;
    }
    close(fd);
    return ok;
}

/* one reset request; counted when the simulator took it, said on stderr when not */
static void sim_event(uint8_t op, int slot, const char *what)
{
    if (sim_ctl(op) == 0) {
        interop_gpio_events[slot]++;
    } else {
        fprintf(stderr, "pal_sim: %s request to the simulator failed\n", what);
    }
}

static int vdd_low, rst_low;

void pal_gpio_set_low(const pal_gpio_t *p)
{
    if (!p || !p->p_gpio_hw || getenv(PAL_SIM_ENV "NO_GPIO")) {
        return;
    }
    if (*(int *)p->p_gpio_hw == 1) {
        vdd_low = 1;
        interop_gpio_events[2]++;
    } else {
        rst_low = 1;
        interop_gpio_events[3]++;
    }
}

void pal_gpio_set_high(const pal_gpio_t *p)
{
    if (!p || !p->p_gpio_hw || getenv(PAL_SIM_ENV "NO_GPIO")) {
        return;
    }
    if (*(int *)p->p_gpio_hw == 1) {
        if (vdd_low) {
            vdd_low = 0;
            rst_low = 0; /* the power cycle resets the chip: RST high is no second reset */
            sim_event(0x04, 0, "power cycle");
        }
    } else if (rst_low) {
        rst_low = 0;
        sim_event(0x03, 1, "warm reset");
    }
}

pal_status_t pal_gpio_init(const pal_gpio_t *p)
{
    (void)p;
    return PAL_STATUS_SUCCESS;
}

pal_status_t pal_gpio_deinit(const pal_gpio_t *p)
{
    (void)p;
    return PAL_STATUS_SUCCESS;
}

/* ---- time ---- */
uint64_t pal_sim_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint32_t pal_os_timer_get_time_in_microseconds(void)
{
    return (uint32_t)pal_sim_now_us();
}

uint32_t pal_os_timer_get_time_in_milliseconds(void)
{
    return (uint32_t)(pal_sim_now_us() / 1000u);
}

void pal_sim_sleep_us(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void pal_os_timer_delay_in_milliseconds(uint16_t ms)
{
    pal_sim_sleep_us((uint64_t)ms * 1000u);
}

/* ---- event: registration, start, stop ---- */
struct pal_sim_event pal_sim_ev;
static pal_os_event_t the_event;

void pal_os_event_register_callback_oneshot(pal_os_event_t *e, register_callback cb, void *arg,
                                            uint32_t time_us)
{
    (void)e;
    pal_sim_event_lock();
    pal_sim_ev.cb = cb;
    pal_sim_ev.arg = arg;
    pal_sim_ev.due = pal_sim_now_us() + time_us;
    pal_sim_ev.armed = 1;
    pal_sim_event_unlock();
}

void pal_os_event_start(pal_os_event_t *e, register_callback cb, void *arg)
{
    int start;
    pal_sim_event_lock();
    start = !pal_sim_ev.started;
    pal_sim_ev.started = 1;
    pal_sim_event_unlock();
    if (start) {
        pal_os_event_register_callback_oneshot(e, cb, arg, 1000);
    }
}

/* With a callback (the command layer's scheduler) the event starts at once, as
 * the library's Linux PAL does; the comms-only driver passes none. */
pal_os_event_t *pal_os_event_create(register_callback callback, void *callback_args)
{
    if (callback && callback_args) {
        pal_os_event_start(&the_event, callback, callback_args);
    }
    return &the_event;
}

void pal_os_event_destroy(pal_os_event_t *e)
{
    (void)e;
    pal_sim_event_lock();
    pal_sim_ev.armed = 0;
    pal_sim_ev.started = 0;
    pal_sim_event_unlock();
}

void pal_os_event_trigger_registered_callback(void)
{
}

void pal_os_event_stop(pal_os_event_t *e)
{
    (void)e;
    pal_sim_event_lock();
    pal_sim_ev.started = 0;
    pal_sim_event_unlock();
}

/* ---- datastore ---- */
static uint8_t ctx_store[256];
static uint16_t ctx_len;
static uint8_t app_store[8]; /* ID 0x33: the 8-byte handle CloseApplication(hibernate) returns */

/* a fixed-size blob kept in memory and, when the variable names a file, there too */
static pal_status_t blob_read(const char *var, uint8_t *mem, size_t cap, uint8_t *buf, uint16_t *len)
{
    const char *f = getenv(var);
    if (*len < cap) {
        return PAL_STATUS_FAILURE;
    }
    if (f && *f) {
        FILE *fp = fopen(f, "rb");
        if (fp) {
            if (fread(mem, 1, cap, fp) != cap) {
                memset(mem, 0, cap);
            }
            fclose(fp);
        }
    }
    memcpy(buf, mem, cap);
    *len = (uint16_t)cap;
    return PAL_STATUS_SUCCESS;
}

static pal_status_t blob_write(const char *var, uint8_t *mem, size_t cap, const uint8_t *buf, uint16_t len)
{
    const char *f = getenv(var);
    if (len != cap) {
        return PAL_STATUS_FAILURE;
    }
    memcpy(mem, buf, cap);
    if (f && *f) {
        FILE *fp = fopen(f, "wb");
        int ok = fp && fwrite(buf, 1, cap, fp) == cap;
        if (fp) {
            fclose(fp);
        }
        if (!ok) {
            return PAL_STATUS_FAILURE;
        }
    }
    return PAL_STATUS_SUCCESS;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

pal_status_t pal_os_datastore_read(uint16_t id, uint8_t *buf, uint16_t *len)
{
    if (id == OPTIGA_PLATFORM_BINDING_SHARED_SECRET_ID) {
        const char *h = getenv(PAL_SIM_ENV "PBS");
        uint16_t n = 0;
        if (h && *h) {
            size_t L = strlen(h);
            if (L % 2 || L / 2 > *len) {
                return PAL_STATUS_FAILURE;
            }
            for (size_t i = 0; i < L; i += 2) {
                int a = hexval(h[i]), b = hexval(h[i + 1]);
                if (a < 0 || b < 0) {
                    return PAL_STATUS_FAILURE;
                }
                buf[n++] = (uint8_t)(a << 4 | b);
            }
        } else {
            if (*len < 64) {
                return PAL_STATUS_FAILURE;
            }
            for (n = 0; n < 64; n++) {
                buf[n] = (uint8_t)(n + 1);
            }
        }
        *len = n;
        return PAL_STATUS_SUCCESS;
    }
    if (id == OPTIGA_HIBERNATE_CONTEXT_ID) {
        return blob_read(PAL_SIM_ENV "APPCTX_FILE", app_store, sizeof app_store, buf, len);
    }
    if (id == OPTIGA_COMMS_MANAGE_CONTEXT_ID) {
        const char *f = getenv(PAL_SIM_ENV "CTX_FILE");
        if (f && *f) {
            FILE *fp = fopen(f, "rb");
            if (fp) {
                ctx_len = (uint16_t)fread(ctx_store, 1, sizeof ctx_store, fp);
                fclose(fp);
            }
        }
        if (ctx_len > *len) {
            return PAL_STATUS_FAILURE;
        }
        if (ctx_len == 0) {
            memset(buf, 0, *len); /* nothing saved: stored_context_flag reads FALSE */
            return PAL_STATUS_SUCCESS;
        }
        memcpy(buf, ctx_store, ctx_len);
        *len = ctx_len;
        return PAL_STATUS_SUCCESS;
    }
    return PAL_STATUS_FAILURE;
}

pal_status_t pal_os_datastore_write(uint16_t id, const uint8_t *buf, uint16_t len)
{
    if (id == OPTIGA_HIBERNATE_CONTEXT_ID) {
        return blob_write(PAL_SIM_ENV "APPCTX_FILE", app_store, sizeof app_store, buf, len);
    }
    if (id == OPTIGA_COMMS_MANAGE_CONTEXT_ID && len <= sizeof ctx_store) {
        const char *f = getenv(PAL_SIM_ENV "CTX_FILE");
        memcpy(ctx_store, buf, len);
        ctx_len = len;
        if (f && *f) {
            FILE *fp = fopen(f, "wb");
            if (!fp || fwrite(buf, 1, len, fp) != len) {
                if (fp) {
                    fclose(fp);
                }
                return PAL_STATUS_FAILURE;
            }
            fclose(fp);
        }
        return PAL_STATUS_SUCCESS;
    }
    return PAL_STATUS_FAILURE;
}

/* ---- memory and byte order ---- */
void pal_os_memcpy(void *d, const void *s, uint32_t n)
{
    memcpy(d, s, n);
}

void pal_os_memset(void *d, uint32_t v, uint32_t n)
{
    memset(d, (int)v, n);
}

void *pal_os_calloc(uint32_t n, uint32_t size)
{
    return calloc(n, size);
}

void pal_os_free(void *p)
{
    free(p);
}

void optiga_common_get_uint16(const uint8_t *p, uint16_t *v)
{
    *v = (uint16_t)(p[0] << 8 | p[1]);
}

void optiga_common_set_uint16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void optiga_common_set_uint32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

uint32_t optiga_common_get_uint32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
