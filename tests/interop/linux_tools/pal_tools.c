/* Our PAL for running Infineon's linux-optiga-trust-m command-line tools
 * (ex_cli_applications + trustm_helper) on the Infineon host library against
 * trustm-sim; the pieces shared with ../infineon_host/pal_glue.c (pins,
 * timer, datastore, memory) are ../common/pal_sim.c, built here with
 * PAL_SIM_ENV "LT_" ($LT_I2C_DEV, $LT_NO_GPIO, $LT_PBS; the tools run without
 * hibernate, so the context and handle stay in memory).
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
 *   - pal_os_lock: the critical section is a recursive mutex (two threads).
 * No Infineon code in this file. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../common/pal_sim.h"
#include "pal.h"
#include "pal_os_event.h"
#include "pal_os_lock.h"

void pal_os_event_arm(void);
void pal_os_event_disarm(void);
void pal_os_event_destroy1(void);

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
        t = pal_sim_now_us();
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
    ev_due = pal_sim_now_us() + time_us;
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
