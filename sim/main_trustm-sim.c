/* trustm-sim: the OPTIGA Trust M simulator daemon (docs/sim.md). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sim_int.h"
#include "trustm_sim/sim.h"

#define VERSION "0.1.0"

static volatile int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: trustm-sim --socket PATH [options]\n"
            "Simulated OPTIGA Trust M served on a Unix socket (protocol: docs/sim-socket-protocol.md).\n"
            "  --socket PATH        Unix socket to listen on (required unless --export-ca only)\n"
            "  --tcp 127.0.0.1:PORT also listen on a loopback TCP port\n"
            "  --state FILE         chip NVM state file (default: volatile chip)\n"
            "  --seed N             seed for UID, factory keys and randoms (default 1)\n"
            "  --addr 0xNN          7-bit I2C address (default 0x30)\n"
            "  --chip-version 1|3   Trust M V1 or V3 (default 3)\n"
            "  --realtime           use wall-clock time instead of virtual time\n"
            "  --trace FILE|-       log every bus transaction (hex + decoded frame)\n"
            "  --export-ca DIR      write the factory CA chain (PEM) into DIR\n"
            "  --version            print the version and exit\n"
            "  --help               this text\n"
            "Faults are set at run time by socket op 0x06 with a JSON object (docs/sim.md), e.g.\n"
            "  {\"seed\":7,\"bitflip_tx\":0.02}; \"arm_oid\":N (decimal, e.g. 61920 = 0xF1E0) holds them\n"
            "  back until the chip executes a GetDataObject data read of object N.\n");
}

static void trace_file(void *ctx, const char *line)
{
    FILE *f = ctx;
    fprintf(f, "%s\n", line);
    fflush(f);
}

/* The trace is a bus capture: whatever a host sends in the clear is in it,
 * e.g. the platform binding secret of a first `bind` (written to 0xE140 before
 * any shielded connection exists). So a trace file is private whatever the
 * umask: created 0600; an existing regular file others could read is made
 * 0600 before the first line (said on stderr), since it is about to receive
 * the same bytes; one that cannot be made private (not ours) is refused. A
 * FIFO, a terminal or /dev/stderr is left as it is: whoever names one chose
 * its readers (as with `--trace -`, which goes where the shell sends stdout). */
static FILE *open_trace(const char *path)
{
    struct stat st;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "trustm-sim: cannot open trace file '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0) {
        fprintf(stderr, "trustm-sim: cannot open trace file '%s': %s\n", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
        if (fchmod(fd, 0600) != 0) {
            fprintf(stderr,
                    "trustm-sim: trace file '%s' is readable by others and cannot be made private "
                    "(%s); a trace may hold secrets sent in the clear\n",
                    path, strerror(errno));
            close(fd);
            return NULL;
        }
        fprintf(stderr,
                "trustm-sim: note: trace file '%s' was mode %04o, made 0600 "
                "(a trace may hold secrets sent in the clear)\n",
                path, (unsigned)(st.st_mode & 07777));
    }
    FILE *f = fdopen(fd, "a");
    if (!f) {
        fprintf(stderr, "trustm-sim: cannot open trace file '%s': %s\n", path, strerror(errno));
        close(fd);
    }
    return f;
}

static void ready(void *ctx)
{
    const char *path = ctx;
    fprintf(stderr, "trustm-sim: listening on %s\n", path);
}

/* One line on stderr when PATH cannot be served on; 0 when it can. */
static int check_socket_path(const char *path)
{
    switch (sim_unix_path_claim(path)) {
    case SIM_PATH_OK: {
        /* Free to take, but can a socket be made there? (A missing folder
         * used to surface later as "cannot serve on ...: I/O error".) */
        char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
        const char *slash = strrchr(path, '/');
        if (slash == NULL) return 0;
        snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
        if (access(dir, W_OK | X_OK) != 0) {
            fprintf(stderr, "trustm-sim: cannot use socket path '%s': %s\n", path, strerror(errno));
            return 1;
        }
        return 0;
    }
    case SIM_PATH_NOT_SOCKET:
        fprintf(stderr, "trustm-sim: '%s' exists and is not a socket; not touching it\n", path);
        return 1;
    case SIM_PATH_IN_USE:
        fprintf(stderr, "trustm-sim: another trustm-sim is serving '%s'\n", path);
        return 1;
    case SIM_PATH_TOO_LONG:
        fprintf(stderr, "trustm-sim: socket path '%s' is empty or too long\n", path);
        return 1;
    default:
        fprintf(stderr, "trustm-sim: cannot use socket path '%s': %s\n", path, strerror(errno));
        return 1;
    }
}

/* The state file is the chip's NVM: one simulator at a time. The chip itself
 * (sim_app_open) holds an flock on PATH.lock for its whole life; this probe
 * takes the same lock once, before the chip is built, only to name what is
 * wrong (not a file, cannot open, in use) in the daemon's own words.
 * Returns the lock descriptor (the caller closes it) or -1. */
static int lock_state(const char *path)
{
    size_t n = strlen(path);
    char *lock = malloc(n + 6);
    if (!lock) {
        fprintf(stderr, "trustm-sim: out of memory\n");
        return -1;
    }
    memcpy(lock, path, n);
    memcpy(lock + n, ".lock", 6);
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        fprintf(stderr, "trustm-sim: state file '%s' is not a regular file\n", path);
        free(lock);
        return -1;
    }
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "trustm-sim: cannot open state file '%s': %s\n", path, strerror(errno));
        free(lock);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            fprintf(stderr, "trustm-sim: state file '%s' is in use by another trustm-sim\n", path);
        } else {
            fprintf(stderr, "trustm-sim: cannot lock state file '%s' (%s): %s\n", path, lock,
                    strerror(errno));
        }
        close(fd);
        free(lock);
        return -1;
    }
    free(lock);
    return fd;
}

static int parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    if (!s || !*s || *s == '-') {
        return -1;
    }
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || !end || *end || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

/* 1 when @p spec is IPV4:PORT with the address in 127.0.0.0/8 (all the
 * server listens on: the socket protocol has no authentication). */
static int loopback_port(const char *spec)
{
    char host[16];
    const char *colon = strrchr(spec, ':');
    struct in_addr in;
    unsigned long long port;
    if (!colon || (size_t)(colon - spec) >= sizeof host) {
        return 0;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = 0;
    return inet_pton(AF_INET, host, &in) == 1 && (ntohl(in.s_addr) >> 24) == 127 &&
           parse_u64(colon + 1, 65535, &port) == 0 && port > 0;
}

int main(int argc, char **argv)
{
    struct trustm_sim_config cfg;
    struct trustm_sim_server srv = {0};
    const char *trace = NULL;
    const char *export_dir = NULL;
    unsigned long long v;
    FILE *tf = NULL;

    trustm_sim_config_default(&cfg);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            printf("trustm-sim %s\n", VERSION);
            return 0;
        } else if (!strcmp(a, "--realtime")) {
            cfg.realtime = true;
            continue;
        }
        /* Every other option takes a value; an unknown one is named as such
         * (the chain's last branch), also when it comes last. */
#define TAKE_VALUE() \
    do { \
        if (!next) { \
            fprintf(stderr, "trustm-sim: %s needs a value (see --help)\n", a); \
            return 2; \
        } \
        i++; \
    } while (0)
        if (!strcmp(a, "--socket")) {
            TAKE_VALUE();
            srv.unix_path = next;
        } else if (!strcmp(a, "--tcp")) {
            TAKE_VALUE();
            if (!loopback_port(next)) {
                fprintf(stderr, "trustm-sim: bad --tcp '%s' (a loopback address and port, e.g. 127.0.0.1:5000)\n",
                        next);
                return 2;
            }
            srv.tcp_listen = next;
        } else if (!strcmp(a, "--state")) {
            TAKE_VALUE();
            cfg.state_path = next;
        } else if (!strcmp(a, "--seed")) {
            TAKE_VALUE();
            if (parse_u64(next, ~0ull, &v)) {
                fprintf(stderr, "trustm-sim: bad --seed '%s'\n", next);
                return 2;
            }
            cfg.seed = v;
        } else if (!strcmp(a, "--addr")) {
            TAKE_VALUE();
            if (parse_u64(next, 0x7F, &v) || v < 0x08 || v > 0x77) {
                fprintf(stderr, "trustm-sim: bad --addr '%s' (7-bit, 0x08..0x77)\n", next);
                return 2;
            }
            cfg.i2c_addr = (uint8_t)v;
        } else if (!strcmp(a, "--chip-version")) {
            TAKE_VALUE();
            if (parse_u64(next, 3, &v) || (v != 1 && v != 3)) {
                fprintf(stderr, "trustm-sim: bad --chip-version '%s' (1 or 3)\n", next);
                return 2;
            }
            cfg.version = (uint8_t)v;
        } else if (!strcmp(a, "--trace")) {
            TAKE_VALUE();
            trace = next;
        } else if (!strcmp(a, "--export-ca")) {
            TAKE_VALUE();
            export_dir = next;
        } else {
            fprintf(stderr, "trustm-sim: unknown option '%s' (see --help)\n", a);
            return 2;
        }
#undef TAKE_VALUE
    }
    if (!srv.unix_path && !export_dir) {
        fprintf(stderr, "trustm-sim: --socket PATH is required (see --help)\n");
        return 2;
    }
    if (trace) {
        tf = strcmp(trace, "-") ? open_trace(trace) : stdout;
        if (!tf) {
            return 1;
        }
        cfg.trace = trace_file;
        cfg.trace_ctx = tf;
    }
    if (srv.unix_path && check_socket_path(srv.unix_path)) {
        if (tf && tf != stdout) {
            fclose(tf);
        }
        return 1;
    }
    if (cfg.state_path) {
        int lock_fd = lock_state(cfg.state_path);
        if (lock_fd < 0) {
            if (tf && tf != stdout) {
                fclose(tf);
            }
            return 1;
        }
        close(lock_fd); /* the chip takes it for good */
    }
    struct trustm_sim *sim = NULL;
    tma_status st = trustm_sim_create(&cfg, &sim);
    if (st != TMA_OK) {
        if (st == TMA_ERR(TMA_LAYER_STORE, TMA_C_IN_USE)) {
            fprintf(stderr, "trustm-sim: state file '%s' is in use by another trustm-sim\n",
                    cfg.state_path);
        } else if (cfg.state_path) {
            fprintf(stderr, "trustm-sim: cannot create the chip from state file '%s': %s\n",
                    cfg.state_path, tma_status_str(st));
        } else {
            fprintf(stderr, "trustm-sim: cannot create the chip: %s\n", tma_status_str(st));
        }
        if (tf && tf != stdout) {
            fclose(tf);
        }
        return 1;
    }
    int rc = 0;
    if (export_dir) {
        if (mkdir(export_dir, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "trustm-sim: cannot create '%s': %s\n", export_dir, strerror(errno));
            trustm_sim_destroy(sim);
            return 1;
        }
        st = trustm_sim_export_ca(sim, export_dir);
        if (st != TMA_OK) {
            fprintf(stderr, "trustm-sim: cannot export the factory CA to '%s': %s\n", export_dir,
                    tma_status_str(st));
            rc = 1;
        }
    }
    if (rc == 0 && srv.unix_path) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        srv.stop = &stop_flag;
        srv.ready = ready;
        srv.ready_ctx = (void *)(uintptr_t)srv.unix_path;
        st = trustm_sim_serve(sim, &srv);
        if (st != TMA_OK) {
            fprintf(stderr, "trustm-sim: cannot serve on '%s'%s%s: %s\n", srv.unix_path,
                    srv.tcp_listen ? " / " : "", srv.tcp_listen ? srv.tcp_listen : "",
                    tma_status_str(st));
            rc = 1;
        }
    }
    trustm_sim_destroy(sim);
    if (tf && tf != stdout) {
        fclose(tf);
    }
    return rc; /* the chip dropped the state lock after its last write */
}
