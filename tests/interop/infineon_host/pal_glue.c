/* Our PAL for running the Infineon host library (comms stack, and the
 * command, util and crypt layers on top) in one thread against trustm-sim;
 * the pieces shared with the Linux tools' harness are ../common/pal_sim.c:
 *   - pal_os_event: one pending one-shot callback, run by interop_run()
 *     with real sleeps (the daemon runs with --realtime);
 *   - pal_os_lock: one thread, nothing to exclude.
 * No Infineon code in this file. */
#include <stdint.h>

#include "../common/pal_sim.h"
#include "pal.h"
#include "pal_os_event.h"
#include "pal_os_lock.h"

/* ---- event: a single pending one-shot callback ---- */
static pal_os_event_t the_event;
static register_callback ev_cb;
static void *ev_arg;
static uint64_t ev_due;
static int ev_armed;
unsigned long interop_event_count;

static int ev_started; /* the library's "is_event_triggered": the scheduler was started */

void pal_os_event_start(pal_os_event_t *e, register_callback cb, void *arg)
{
    if (!ev_started) {
        ev_started = 1;
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
    ev_armed = 0;
    ev_started = 0;
}

void pal_os_event_register_callback_oneshot(pal_os_event_t *e, register_callback cb, void *arg,
                                            uint32_t time_us)
{
    (void)e;
    ev_cb = cb;
    ev_arg = arg;
    ev_due = pal_sim_now_us() + time_us;
    ev_armed = 1;
}

void pal_os_event_trigger_registered_callback(void)
{
}

void pal_os_event_stop(pal_os_event_t *e)
{
    (void)e;
    ev_started = 0;
}

/* Runs pending callbacks until *done is set. Returns 0, or -1 when nothing
 * is pending any more (the stack stalled) or the time limit passed. */
int interop_run(volatile int *done, unsigned limit_ms)
{
    uint64_t end = pal_sim_now_us() + (uint64_t)limit_ms * 1000u;
    while (!*done) {
        uint64_t t;
        register_callback cb;
        if (!ev_armed) {
            return -1;
        }
        t = pal_sim_now_us();
        if (t > end) {
            return -1;
        }
        if (ev_due > t) {
            pal_sim_sleep_us(ev_due - t);
        }
        ev_armed = 0;
        cb = ev_cb;
        interop_event_count++;
        cb(ev_arg);
    }
    return 0;
}

/* one thread runs the library here: the critical section has nothing to exclude */
void pal_os_lock_enter_critical_section(void)
{
}

void pal_os_lock_exit_critical_section(void)
{
}
