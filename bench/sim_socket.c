/*
 * Commands per second through the trustm-sim socket, in virtual time.
 * Starts its own daemon (volatile chip) on a Unix socket in a temp dir and
 * drives it with a minimal raw-frame host: frames, CRC, ACKs, polling
 * I2C_STATE with the socket's sleep extension (op 0x07, 1 ms per poll).
 * Prints, per command: commands/s (wall clock), socket round trips per
 * command, and the modelled chip time per command from the statistics.
 *
 * Usage: bench_sim_socket [PATH-TO-trustm-sim [iterations]]
 * Without a path it runs $TMA_BUILD_DIR/sim/trustm-sim (scripts/bench sets
 * TMA_BUILD_DIR to its build tree).
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int fd = -1;
static unsigned long trips;
static uint8_t tx_nr = 3, rx_nr = 3;

static void die(const char *m)
{
    fprintf(stderr, "bench_sim_socket: %s\n", m);
    exit(1);
}

static void io(int wr, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = wr ? write(fd, p, n) : read(fd, p, n);
        if (r <= 0) {
            die("socket I/O failed");
        }
        p += r;
        n -= (size_t)r;
    }
}

static int rpc(uint8_t op, uint16_t len, const uint8_t *d, size_t dl, uint8_t *out)
{
    uint8_t h[4] = {op, 0x30, (uint8_t)(len >> 8), (uint8_t)len}, rh[3];
    static uint8_t junk[70000];
    io(1, h, 4);
    if (dl) {
        io(1, (uint8_t *)(uintptr_t)d, dl);
    }
    io(0, rh, 3);
    size_t n = ((size_t)rh[1] << 8) | rh[2];
    if (n) {
        io(0, out ? out : junk, n);
    }
    trips++;
    return rh[0];
}

static void host_sleep(uint32_t us)
{
    uint8_t d[4] = {(uint8_t)(us >> 24), (uint8_t)(us >> 16), (uint8_t)(us >> 8), (uint8_t)us};
    rpc(0x07, 4, d, 4, NULL);
}

static void wr(const uint8_t *d, size_t n)
{
    for (int i = 0; i < 500; i++) {
        int st = rpc(0x01, (uint16_t)n, d, n, NULL);
        if (st == 0) {
            return;
        }
        if (st != 1) {
            die("write refused");
        }
        host_sleep(1000);
    }
    die("chip never acknowledged");
}

static void rd(uint8_t reg, uint8_t *out, size_t n)
{
    wr(&reg, 1);
    for (int i = 0; i < 500; i++) {
        if (rpc(0x02, (uint16_t)n, NULL, 0, out) == 0) {
            return;
        }
        host_sleep(1000);
    }
    die("read never acknowledged");
}

static uint16_t crc16(const uint8_t *p, size_t n)
{
    uint16_t c = 0;
    while (n--) {
        uint8_t b = *p++;
        for (int k = 0; k < 8; k++, b >>= 1) {
            c = ((c ^ b) & 1) ? (uint16_t)((c >> 1) ^ 0x8408) : (uint16_t)(c >> 1);
        }
    }
    return c;
}

static void frame(uint8_t fctr, const uint8_t *pkt, size_t n)
{
    uint8_t w[300] = {0x80, fctr, (uint8_t)(n >> 8), (uint8_t)n};
    if (n) {
        memcpy(w + 4, pkt, n);
    }
    uint16_t c = crc16(w + 1, n + 3);
    w[4 + n] = (uint8_t)(c >> 8);
    w[5 + n] = (uint8_t)c;
    wr(w, n + 6);
}

static size_t recv_frame(uint8_t *f)
{
    for (int i = 0; i < 100000; i++) {
        uint8_t st[4];
        rd(0x82, st, 4);
        if (st[0] & 0x40) {
            size_t len = ((size_t)st[2] << 8) | st[3];
            if (len < 5 || len > 277) {
                die("bad length");
            }
            rd(0x80, f, len);
            return len;
        }
        host_sleep(1000);
    }
    die("no response");
    return 0;
}

/* Unchained APDU in, response APDU (single packet) out. */
static size_t command(const uint8_t *apdu, size_t n, uint8_t *rsp)
{
    uint8_t pkt[272], f[300];
    pkt[0] = 0x00;
    memcpy(pkt + 1, apdu, n);
    tx_nr = (uint8_t)((tx_nr + 1) & 3);
    frame((uint8_t)((tx_nr << 2) | rx_nr), pkt, n + 1);
    size_t len;
    do {
        len = recv_frame(f);
    } while (f[0] & 0x80);
    rx_nr = (uint8_t)((f[0] >> 2) & 3);
    frame((uint8_t)(0x80 | rx_nr), NULL, 0);
    if (f[3] != 0x00) {
        die("chained or PRL response");
    }
    memcpy(rsp, f + 4, len - 6);
    return len - 6;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long long stat_value(const char *json, const char *name, const char *field)
{
    char key[64];
    snprintf(key, sizeof(key), "\"name\":\"%s\"", name);
    const char *p = strstr(json, key);
    if (!p) {
        return 0;
    }
    snprintf(key, sizeof(key), "\"%s\":", field);
    p = strstr(p, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

int main(int argc, char **argv)
{
    char simpath[4096];
    const char *sim = argc > 1 ? argv[1] : NULL;
    if (!sim) {
        const char *b = getenv("TMA_BUILD_DIR");
        if (!b || (size_t)snprintf(simpath, sizeof simpath, "%s/sim/trustm-sim", b) >= sizeof simpath) {
            fprintf(stderr, "usage: bench_sim_socket [PATH-TO-trustm-sim [iterations]]\n"
                            "(without a path, TMA_BUILD_DIR must name the build tree)\n");
            return 2;
        }
        sim = simpath;
    }
    int iters = argc > 2 ? atoi(argv[2]) : 2000;
    if (iters < 1) {
        iters = 1;
    }
    char dir[] = "/tmp/bench_sim.XXXXXX";
    if (!mkdtemp(dir)) {
        die("mkdtemp");
    }
    char sock[128];
    snprintf(sock, sizeof(sock), "%s/s", dir);
    pid_t pid = fork();
    if (pid == 0) {
        execl(sim, sim, "--socket", sock, "--seed", "9", (char *)NULL);
        _exit(127);
    }
    struct sockaddr_un a = {0};
    a.sun_family = AF_UNIX;
    memcpy(a.sun_path, sock, strlen(sock) + 1);
    for (int i = 0; i < 200 && fd < 0; i++) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
            close(fd);
            fd = -1;
            struct timespec ts = {0, 20000000};
            nanosleep(&ts, NULL);
        }
    }
    if (fd < 0) {
        kill(pid, SIGKILL);
        die("daemon did not start");
    }
    static const uint8_t open_app[] = {0xF0, 0x00, 0x00, 0x10, 0xD2, 0x76, 0x00, 0x00, 0x04, 0x47,
                                       0x65, 0x6E, 0x41, 0x75, 0x74, 0x68, 0x41, 0x70, 0x70, 0x6C};
    static const uint8_t getrandom[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
    uint8_t calcsign[44] = {0xB1, 0x11, 0x00, 0x28, 0x01, 0x00, 0x20};
    memset(calcsign + 7, 0x5A, 32);
    memcpy(calcsign + 39, "\x03\x00\x02\xE0\xF0", 5);
    uint8_t r[300];
    if (command(open_app, sizeof(open_app), r) != 4 || r[0] != 0) {
        die("OpenApplication failed");
    }
    struct {
        const char *name;
        const uint8_t *apdu;
        size_t len;
    } cases[] = {{"GetRandom", getrandom, sizeof(getrandom)}, {"CalcSign", calcsign, sizeof(calcsign)}};
    printf("trustm-sim socket benchmark (virtual time, Unix socket; GetRandom x%d, CalcSign x%d)\n", iters,
           iters > 100 ? 100 : iters);
    for (size_t c = 0; c < 2; c++) {
        unsigned long t0 = trips;
        double s0 = now_s();
        /* CalcSign is a protected operation: after ~133 in a row the Security
         * Monitor (SEC >= 128) delays each one by up to t_max, as on the chip.
         * Measure below that point. */
        int n_iter = c == 1 && iters > 100 ? 100 : iters;
        for (int i = 0; i < n_iter; i++) {
            if (command(cases[c].apdu, cases[c].len, r) < 4 || r[0] != 0) {
                die("command failed");
            }
        }
        double dt = now_s() - s0;
        static char js[70000];
        uint8_t h[4] = {0x05, 0x30, 0, 0}, rh[3];
        io(1, h, 4);
        io(0, rh, 3);
        size_t n = ((size_t)rh[1] << 8) | rh[2];
        io(0, (uint8_t *)js, n);
        js[n] = 0;
        unsigned long long cnt = stat_value(js, cases[c].name, "count");
        unsigned long long chip = stat_value(js, cases[c].name, "chip_us");
        printf("%-10s %9.0f commands/s  %6.1f round trips/command  modelled chip time %6.1f ms/command"
               "  (virtual-time throughput limit %.1f commands/s)\n",
               cases[c].name, n_iter / dt, (double)(trips - t0) / n_iter, cnt ? chip / 1000.0 / (double)cnt : 0.0,
               chip ? 1e6 * (double)cnt / (double)chip : 0.0);
    }
    close(fd);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    rmdir(dir);
    return 0;
}
