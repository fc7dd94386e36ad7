/*
 * LD_PRELOAD shim for the broker in hub_clock.sh: while the file named by
 * $HUB_CLKSHIM_FILE exists, CLOCK_REALTIME (and time())
 * read the number of seconds written in it earlier (an NTP step back, an
 * operator fixing a clock that ran ahead). CLOCK_MONOTONIC is untouched.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long step_back_s(void)
{
    const char *p = getenv("HUB_CLKSHIM_FILE");
    FILE *f;
    long s = 0;
    if (!p || !(f = fopen(p, "r"))) return 0;
    if (fscanf(f, "%ld", &s) != 1) s = 0;
    fclose(f);
    return s;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    int r;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "clock_gettime");
    r = real(id, ts);
    if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec -= step_back_s();
    return r;
}

time_t time(time_t *t)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (t) *t = ts.tv_sec;
    return ts.tv_sec;
}
