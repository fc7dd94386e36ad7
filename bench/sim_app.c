/*
 * Benchmark of the simulator application in-process (no bus): host CPU time
 * per command through sim_app_execute and the modelled chip time, for a
 * volatile chip and for a chip with a state file (every NVM change is an
 * atomic file write with fsync).
 *   bench_sim_app [seconds-per-case]   (default 2)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../sim/sim_app.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t hex(const char *s, uint8_t *out)
{
    size_t n = 0;
    while (*s) {
        if (*s == ' ') {
            s++;
            continue;
        }
        unsigned v;
        sscanf(s, "%2x", &v);
        out[n++] = (uint8_t)v;
        s += 2;
    }
    return n;
}

static void run(struct sim_app *app, const char *name, const char *apdu_hex, double secs)
{
    uint8_t apdu[2048], rsp[SIM_APDU_MAX];
    size_t n = hex(apdu_hex, apdu), rl;
    uint32_t busy;
    uint64_t vt = 0, chip_us = 0;
    unsigned long count = 0;
    double t0 = now_s(), t;
    do {
        if (sim_app_execute(app, NULL, vt, apdu, n, rsp, sizeof rsp, &rl, &busy) != TMA_OK ||
            rsp[0] != 0) {
            fprintf(stderr, "bench: %s failed\n", name);
            exit(1);
        }
        vt += busy + 6000000; /* idle between commands: no throttling */
        chip_us += busy;
        count++;
        t = now_s();
    } while (t - t0 < secs);
    printf("%-34s %9.0f cmd/s host  %8.1f us/cmd host  %9.1f ms modelled chip time\n", name,
           (double)count / (t - t0), (t - t0) * 1e6 / (double)count,
           (double)chip_us / 1000.0 / (double)count);
}

static const char *OPEN = "F0 00 00 10 D2 76 00 00 04 47 65 6E 41 75 74 68 41 70 70 6C";
static const char *SIGN = "B1 11 00 28 01 00 20 BA 78 16 BF 8F 01 CF EA 41 41 40 DE 5D AE 22 23 "
                          "B0 03 61 A3 96 17 7A 9C B4 10 FF 61 F2 00 15 AD 03 00 02 E0 F0";

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    char dir[] = "/tmp/bench_sim_appXXXXXX";
    if (!mkdtemp(dir)) {
        return 1;
    }
    char path[64], set256[1200];
    snprintf(path, sizeof path, "%s/chip.nv", dir);
    strcpy(set256, "82 00 01 04 F1 E0 00 00");
    for (int i = 0; i < 256; i++) {
        strcat(set256, " 5A");
    }
    for (int persistent = 0; persistent < 2; persistent++) {
        struct sim_app *app;
        struct sim_app_config cfg = {persistent ? path : NULL, 1, 3};
        double t0 = now_s();
        if (sim_app_open(&app, &cfg) != TMA_OK) {
            return 1;
        }
        printf("%s chip: sim_app_open (factory provisioning) %.1f ms\n",
               persistent ? "persistent" : "volatile", (now_s() - t0) * 1000);
        run(app, "OpenApplication", OPEN, secs);
        run(app, "GetRandom 32", "8C 00 00 02 00 20", secs);
        run(app, "GetDataObject E0E0 (515 B)", "81 00 00 06 E0 E0 00 00 06 11", secs);
        run(app, "CalcSign P-256 (E0F0)", SIGN, secs);
        run(app, "GenKeyPair P-256 into E0F1", "B8 03 00 09 01 00 02 E0 F1 02 00 01 10", secs);
        run(app, "SetDataObject 256 B", set256, secs);
        sim_app_close(app);
    }
    unlink(path);
    rmdir(dir);
    return 0;
}
