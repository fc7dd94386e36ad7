/* What the drivers over Infineon's asynchronous API share (util_host.c,
 * crypt_host.c, protupd_host.c; each includes this once): the completion callback, the
 * ok/FAIL report (report.h) and RUN(), which starts a call and runs the event loop of
 * pal_glue.c until its callback. No Infineon code in this file. */
#ifndef INTEROP_DRIVER_H
#define INTEROP_DRIVER_H
#include "report.h"

int interop_run(volatile int *done, unsigned limit_ms);

static volatile int done;
static volatile optiga_lib_status_t st;

static void cb(void *ctx, optiga_lib_status_t e)
{
    (void)ctx;
    st = e;
    done = 1;
}

/* waits for the callback; returns the library's status: the call's own when it
 * failed to start, 0xFFFE when no callback came in time */
static optiga_lib_status_t wait(optiga_lib_status_t call)
{
    if (call != OPTIGA_LIB_SUCCESS) {
        return call;
    }
    if (interop_run(&done, 120000) != 0) {
        return 0xFFFE;
    }
    return st;
}

#define RUN(expr) (done = 0, wait(expr))

#endif
