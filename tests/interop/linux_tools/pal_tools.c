/* Our PAL for running Infineon's linux-optiga-trust-m command-line tools
 * (ex_cli_applications + trustm_helper) on the Infineon host library against
 * trustm-sim, next to the library's own Linux i2c-dev pal_i2c.c (run under
 * tests/integration/i2cdev_shim.c).
 *
 * The tools are written for the library's Linux PAL, where a timer thread
 * runs the library's callbacks while main() sleeps and polls a status
 * variable (trustm_WaitForCompletion). So, unlike the single-threaded
 * harness in ../infineon_host/pal_glue.c, the event here is served by a
 * thread of its own:
 *   - pal_os_event: one pending one-shot callback, run by a worker thread at
 *     its due time; pal_os_event_arm/disarm/destroy1 (the tools' "CLI
 *     workaround" names from Infineon's patched Linux PAL) let the worker run
 *     callbacks or hold them;
 *   - pal_os_lock: the critical section is a recursive mutex (two threads);
 *   - pal_os_timer: CLOCK_MONOTONIC;
 *   - pal_gpio: the VDD and RST pins become socket ops on the daemon
 *     (VDD low->high = power cycle 0x04, RST low->high alone = warm reset 0x03);
 *     LT_NO_GPIO=1: a board without those lines (the pins do nothing);
 *   - pal_os_datastore: the platform binding secret (ID 0x11, hex in
 *     $LT_PBS, default 01..40 like the simulator's factory E140); the
 *     shielded-connection context (0x22) and hibernate handle (0x33) only
 *     in memory (the tools run without hibernate);
 *   - the byte-order helpers the library's optiga_lib_common.c would give.
 * No Infineon code in this file. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
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
#include "pal_os_lock.h"
#include "pal_os_memory.h"
#include "pal_os_timer.h"

void pal_os_event_arm(void);
void pal_os_event_disarm(void);
void pal_os_event_destroy1(void);
void optiga_common_get_uint16(const uint8_t *p, uint16_t *v);
void optiga_common_set_uint16(uint8_t *p, uint16_t v);
void optiga_common_set_uint32(uint8_t *p, uint32_t v);
uint32_t optiga_common_get_uint32(const uint8_t *p);

/* ---- instances the library's ifx_i2c_config.c refers to ---- */
static pal_linux_t linux_i2c = {"/dev/i2c-1", -1, NULL};
pal_i2c_t optiga_pal_i2c_context_0 = {&linux_i2c, NULL, NULL, 0x30};
static int pin_vdd = 1, pin_rst = 2;
pal_gpio_t optiga_vdd_0 = {&pin_vdd};
pal_gpio_t optiga_reset_0 = {&pin_rst};

pal_status_t pal_init(void)
{
    const char *dev = getenv("LT_I2C_DEV");
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
    memcpy(sa.sun_path, path, strlen(path) + 1);
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

static int vdd_low, rst_low;

void pal_gpio_set_low(const pal_gpio_t *p)
{
    if (!p || !p->p_gpio_hw || getenv("LT_NO_GPIO")) {
        return;
    }
    if (*(int *)p->p_gpio_hw == 1) {
        vdd_low = 1;
    } else {
        rst_low = 1;
    }
}

void pal_gpio_set_high(const pal_gpio_t *p)
{
    if (!p || !p->p_gpio_hw || getenv("LT_NO_GPIO")) {
        return;
    }
    if (*(int *)p->p_gpio_hw == 1) {
        if (vdd_low) {
            vdd_low = 0;
            rst_low = 0; /* the power cycle resets the chip: RST high is no second reset */
            if (sim_ctl(0x04) != 0) {
                fprintf(stderr, "pal_tools: power cycle request to the simulator failed\n");
            }
        }
    } else if (rst_low) {
        rst_low = 0;
        if (sim_ctl(0x03) != 0) {
            fprintf(stderr, "pal_tools: warm reset request to the simulator failed\n");
        }
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
static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint32_t pal_os_timer_get_time_in_microseconds(void)
{
    return (uint32_t)now_us();
}

uint32_t pal_os_timer_get_time_in_milliseconds(void)
{
    return (uint32_t)(now_us() / 1000u);
}

void pal_os_timer_delay_in_milliseconds(uint16_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- critical section: the tool's thread and the event worker ---- */
static pthread_mutex_t crit_mu;
static pthread_once_t crit_once = PTHREAD_ONCE_INIT;

static void crit_init(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&crit_mu, &a);
    pthread_mutexattr_destroy(&a);
}

void pal_os_lock_enter_critical_section(void)
{
    pthread_once(&crit_once, crit_init);
    pthread_mutex_lock(&crit_mu);
}

void pal_os_lock_exit_critical_section(void)
{
    pthread_mutex_unlock(&crit_mu);
}

/* ---- event: one pending one-shot callback, run by a worker thread ---- */
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cv;
static pthread_once_t ev_once = PTHREAD_ONCE_INIT;
static pal_os_event_t the_event;
static register_callback ev_cb;
static void *ev_arg;
static uint64_t ev_due;
static int ev_armed;       /* a callback is registered */
static int ev_held;        /* pal_os_event_disarm(): callbacks wait until pal_os_event_arm() */
static int ev_started;     /* the library's "is_event_triggered": the scheduler was started */

static void *ev_worker(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&ev_mu);
    for (;;) {
        register_callback cb;
        void *arg;
        uint64_t t;
        if (!ev_armed || ev_held) {
            pthread_cond_wait(&ev_cv, &ev_mu);
            continue;
        }
        t = now_us();
        if (ev_due > t) {
            struct timespec ts;
            uint64_t until = ev_due;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += (time_t)((until - t) / 1000000u);
            ts.tv_nsec += (long)((until - t) % 1000000u) * 1000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&ev_cv, &ev_mu, &ts);
            continue;
        }
        cb = ev_cb;
        arg = ev_arg;
        ev_armed = 0;
        pthread_mutex_unlock(&ev_mu);
        cb(arg);
        pthread_mutex_lock(&ev_mu);
    }
    return NULL;
}

static void ev_init(void)
{
    pthread_condattr_t a;
    pthread_t th;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&ev_cv, &a);
    pthread_condattr_destroy(&a);
    if (pthread_create(&th, NULL, ev_worker, NULL) != 0) {
        fprintf(stderr, "pal_tools: cannot start the event thread\n");
        exit(3);
    }
    pthread_detach(th);
}

void pal_os_event_register_callback_oneshot(pal_os_event_t *e, register_callback cb, void *arg,
                                            uint32_t time_us)
{
    (void)e;
    pthread_once(&ev_once, ev_init);
    pthread_mutex_lock(&ev_mu);
    ev_cb = cb;
    ev_arg = arg;
    ev_due = now_us() + time_us;
    ev_armed = 1;
    pthread_cond_signal(&ev_cv);
    pthread_mutex_unlock(&ev_mu);
}

void pal_os_event_start(pal_os_event_t *e, register_callback cb, void *arg)
{
    int start;
    pthread_mutex_lock(&ev_mu);
    start = !ev_started;
    ev_started = 1;
    pthread_mutex_unlock(&ev_mu);
    if (start) {
        pal_os_event_register_callback_oneshot(e, cb, arg, 1000);
    }
}

/* With a callback (the command layer's scheduler) the event starts at once,
 * as the library's Linux PAL does. */
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
    pthread_mutex_lock(&ev_mu);
    ev_armed = 0;
    ev_started = 0;
    pthread_mutex_unlock(&ev_mu);
}

void pal_os_event_trigger_registered_callback(void)
{
}

void pal_os_event_stop(pal_os_event_t *e)
{
    (void)e;
    pthread_mutex_lock(&ev_mu);
    ev_started = 0;
    pthread_mutex_unlock(&ev_mu);
}

void pal_os_event_arm(void)
{
    pthread_once(&ev_once, ev_init);
    pthread_mutex_lock(&ev_mu);
    ev_held = 0;
    pthread_cond_signal(&ev_cv);
    pthread_mutex_unlock(&ev_mu);
}

void pal_os_event_disarm(void)
{
    pthread_mutex_lock(&ev_mu);
    ev_held = 1;
    pthread_mutex_unlock(&ev_mu);
}

void pal_os_event_destroy1(void)
{
    pal_os_event_disarm();
}

/* ---- datastore ---- */
static uint8_t ctx_store[256];
static uint16_t ctx_len;
static uint8_t app_store[8];

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

pal_status_t pal_os_datastore_read(uint16_t id, uint8_t *buf, uint16_t *len)
{
    if (id == OPTIGA_PLATFORM_BINDING_SHARED_SECRET_ID) {
        const char *h = getenv("LT_PBS");
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
        if (*len < sizeof app_store) {
            return PAL_STATUS_FAILURE;
        }
        memcpy(buf, app_store, sizeof app_store);
        *len = sizeof app_store;
        return PAL_STATUS_SUCCESS;
    }
    if (id == OPTIGA_COMMS_MANAGE_CONTEXT_ID) {
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
    if (id == OPTIGA_HIBERNATE_CONTEXT_ID && len == sizeof app_store) {
        memcpy(app_store, buf, len);
        return PAL_STATUS_SUCCESS;
    }
    if (id == OPTIGA_COMMS_MANAGE_CONTEXT_ID && len <= sizeof ctx_store) {
        memcpy(ctx_store, buf, len);
        ctx_len = len;
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
