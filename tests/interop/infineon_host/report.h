/* The ok/FAIL line every interop driver prints (infineon_host.c, protupd_ours.c
 * and, through driver.h, util_host.c, crypt_host.c, protupd_host.c): "ok STEP",
 * or "FAIL STEP", then ": " and the details when FMT is not empty; each FAIL
 * counts in `failures`. Included once per driver. No Infineon code in this file. */
#ifndef INTEROP_REPORT_H
#define INTEROP_REPORT_H
#include <stdarg.h>
#include <stdio.h>

static int failures;

static void report(int ok, const char *step, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(int ok, const char *step, const char *fmt, ...)
{
    va_list ap;
    printf("%s %s", ok ? "ok" : "FAIL", step);
    if (fmt && *fmt) {
        printf(": ");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
    }
    printf("\n");
    fflush(stdout);
    if (!ok) {
        failures++;
    }
}

#endif
