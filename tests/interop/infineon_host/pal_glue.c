/* Our PAL for running the Infineon host library (comms stack, and the
 * command, util and crypt layers on top) in one thread against trustm-sim;
 * the pieces shared with the Linux tools' harness are ../common/pal_sim.c:
 *   - pal_os_event: the pending one-shot callback (pal_sim.c) is run by
 *     interop_run() with real sleeps (the daemon runs with --realtime);
 *   - pal_os_lock: one thread, nothing to exclude.
 * No Infineon code in this file. */
#include <stdint.h>

#include "../common/pal_sim.h"
#include "pal.h"
#include "pal_os_lock.h"

/* ---- event: pal_sim.c registers the callback, interop_run() runs it ---- */
unsigned long interop_event_count;

/* one thread: nothing to exclude, nobody to wake */
void pal_sim_event_lock(void)
{
}

void pal_sim_event_unlock(void)
{
}

/* Runs pending callbacks until *done is set. Returns 0, or -1 when nothing
 * is pending any more (the stack stalled) or the time limit passed. */
int interop_run(volatile int *done, unsigned limit_ms)
{
    uint64_t end = pal_sim_now_us() + (uint64_t)limit_ms * 1000u;
    while (!*done) {
        uint64_t t;
        register_callback cb;
        if (!pal_sim_ev.armed) {
            return -1;
        }
        t = pal_sim_now_us();
        if (t > end) {
            return -1;
        }
        if (pal_sim_ev.due > t) {
            pal_sim_sleep_us(pal_sim_ev.due - t);
        }
        pal_sim_ev.armed = 0;
        cb = pal_sim_ev.cb;
        interop_event_count++;
        cb(pal_sim_ev.arg);
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
