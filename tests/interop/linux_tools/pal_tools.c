/* Our PAL for running Infineon's linux-optiga-trust-m command-line tools
 * (ex_cli_applications + trustm_helper) on the Infineon host library against
 * trustm-sim; the pieces shared with ../infineon_host/pal_glue.c (pins,
 * timer, datastore, memory, the event's registration) are
 * ../common/pal_sim.c, built here with PAL_SIM_ENV "LT_" ($LT_I2C_DEV,
 * $LT_NO_GPIO, $LT_PBS; the tools run without hibernate, so the context and
 * handle stay in memory).
 *
 * The tools are written for the library's Linux PAL, where a timer thread
 * runs the library's callbacks while main() sleeps and polls a status
 * variable (trustm_WaitForCompletion). So, unlike the single-threaded
 * harness in ../infineon_host/pal_glue.c, the event here is served by a
 * thread of its own:
 *   - pal_os_event: the pending one-shot callback (pal_sim.c) is run by a
 *     worker thread at its due time; pal_os_event_arm/disarm/destroy1 (the tools' "CLI
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

/* ---- event: pal_sim.c registers the callback, a worker thread runs it ---- */
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cv;
static pthread_once_t ev_once = PTHREAD_ONCE_INIT;
static int ev_held; /* pal_os_event_disarm(): callbacks wait until pal_os_event_arm() */
static void ev_init(void);

void pal_sim_event_lock(void)
{
    pthread_once(&ev_once, ev_init);
    pthread_mutex_lock(&ev_mu);
}

/* wakes the worker: the callback, its due time or ev_held may have changed */
void pal_sim_event_unlock(void)
{
    pthread_cond_signal(&ev_cv);
    pthread_mutex_unlock(&ev_mu);
}

static void *ev_worker(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&ev_mu);
    for (;;) {
        register_callback cb;
        void *arg;
        uint64_t t;
        if (!pal_sim_ev.armed || ev_held) {
            pthread_cond_wait(&ev_cv, &ev_mu);
            continue;
        }
        t = pal_sim_now_us();
        if (pal_sim_ev.due > t) {
            struct timespec ts;
            uint64_t until = pal_sim_ev.due;
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
        cb = pal_sim_ev.cb;
        arg = pal_sim_ev.arg;
        pal_sim_ev.armed = 0;
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

void pal_os_event_arm(void)
{
    pal_sim_event_lock();
    ev_held = 0;
    pal_sim_event_unlock();
}

void pal_os_event_disarm(void)
{
    pal_sim_event_lock();
    ev_held = 1;
    pal_sim_event_unlock();
}

void pal_os_event_destroy1(void)
{
    pal_os_event_disarm();
}
