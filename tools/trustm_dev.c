/* trustm CLI: opening a device. "sim" = simulator in this process with a
 * state file; "sim:/path.sock" / "tcp:127.0.0.1:PORT" = the trustm-sim daemon
 * (docs/sim-socket-protocol.md); "/dev/i2c-N[@0xAA]" = Linux i2c-dev. */
#include "trustm.h"

#include "trustm/crypto_ops.h"
#include "trustm/port_open.h"

#include <errno.h>
#include <mbedtls/platform_util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The ports themselves are libtrustm's host ports (port/port_open.c); this
 * file only turns their statuses into messages a user can act on, and keeps
 * the in-process simulator's state in a file. */
static int open_port(struct dev *d, const char *spec)
{
    tma_status st;
    if (strcmp(spec, "sim") == 0) {
        const char *state = g.state != NULL ? g.state : getenv("TRUSTM_SIM_STATE");
        struct stat sb;
        if (state == NULL || *state == '\0') {
            state = "trustm-sim.state";
            /* Nothing chose a device and a fresh simulated chip is about to
             * be made: say so once, so a command meant for a real chip (a
             * forgotten --device) does not appear to succeed on it. */
            if (d->implicit && stat(state, &sb) != 0) {
                fprintf(stderr, "trustm: note: no --device or $TRUSTM_DEVICE: using a new simulated chip in "
                                "this process (state in ./%s)\n", state);
            }
        }
        st = trustm_port_sim_open(state, 1, &d->port, &d->handle);
        if (st != TMA_OK) {
            return fail_st(st, "cannot start the simulator with state file '%s'", state);
        }
        return 0;
    }
    if (strncmp(spec, "/dev/", 5) == 0) {
        const char *at = strchr(spec, '@');
        unsigned long a;
        if (at != NULL && parse_uint(at + 1, 0x08, 0x77, &a) != 0) {
            return fail("bad I2C address in '%s' (7-bit, e.g. @0x30)", spec);
        }
    } else if (!((strncmp(spec, "sim:", 4) == 0 || strncmp(spec, "tcp:", 4) == 0) && spec[4])) {
        return fail("unknown device '%s' (use sim, sim:/path.sock, tcp:127.0.0.1:PORT or "
                    "/dev/i2c-N[@0x30])", spec);
    }
    if (strncmp(spec, "tcp:", 4) == 0 && !trustm_port_tcp_loopback(spec + 4)) {
        /* The port connects to loopback addresses only (the daemon's
         * protocol has no authentication): say so, not "is it running?". */
        return fail("'%s': give tcp:HOST:PORT with HOST 127.0.0.1, localhost or ::1 (the simulator "
                    "is reached over loopback only)", spec);
    }
    st = trustm_port_open(spec, &d->port, &d->handle);
    if (st != TMA_OK) {
        /* Say why when the OS knows: missing node or socket, permissions. */
        char path[300];
        struct stat sb;
        const char *p = strncmp(spec, "sim:", 4) == 0 ? spec + 4 : spec;
        snprintf(path, sizeof(path), "%.*s", (int)strcspn(p, "@"), p);
        if (strncmp(spec, "tcp:", 4) != 0 && access(path, R_OK | W_OK) != 0) {
            return fail("cannot open '%s': %s%s", path, strerror(errno),
                        strncmp(spec, "sim:", 4) == 0 ? " (is trustm-sim running?)" : "");
        }
        /* It exists and may be opened: say what kind of file it is when
         * that is the reason (a folder, a plain file), not only the port's
         * status. */
        if (strncmp(spec, "tcp:", 4) != 0 && stat(path, &sb) == 0) {
            if (strncmp(spec, "/dev/", 5) == 0 && !S_ISCHR(sb.st_mode)) {
                return fail("cannot open '%s': not a character device (an I2C bus is /dev/i2c-N)", path);
            }
            if (strncmp(spec, "sim:", 4) == 0 && !S_ISSOCK(sb.st_mode)) {
                return fail("cannot reach the simulator at '%s': not a socket (is trustm-sim running?)", path);
            }
        }
        if (strncmp(spec, "/dev/", 5) == 0) {
            return fail_st(st, "cannot open '%.*s'", (int)strcspn(spec, "@"), spec);
        }
        return fail_st(st, "cannot reach the simulator at '%s' (is trustm-sim running?)", spec + 4);
    }
    return 0;
}

/* ---- session --------------------------------------------------------------- */

static int load_binding(struct dev *d)
{
    uint8_t *secret = NULL;
    size_t len = 0;
    tma_status st;
    struct stat sb;
    if (g.binding == NULL) {
        return 0;
    }
    if (stat(g.binding, &sb) != 0) {
        return fail("binding file '%s': %s", g.binding, strerror(errno));
    }
    if ((sb.st_mode & 077) != 0) {
        return fail("binding file '%s' is readable by others (chmod 600 it)", g.binding);
    }
    if (read_file(g.binding, &secret, &len, TRUSTM_PBS_MAX) != 0) {
        return 1;
    }
    if (len == 0) {
        free(secret);
        return fail("binding file '%s' is empty", g.binding);
    }
    st = trustm_shield_set_secret(&d->chip, trustm_crypto_mbedtls(), secret, len);
    mbedtls_platform_zeroize(secret, len);
    free(secret);
    if (st != TMA_OK) {
        return fail_st(st, "cannot use the binding secret");
    }
    d->protect = TRUSTM_PROTECT_BOTH;
    return 0;
}

int dev_open(struct dev *d)
{
    const char *spec = g.device;
    struct trustm_cfg cfg;
    tma_status st;
    int rc;

    memset(d, 0, sizeof(*d));
    if (spec == NULL) {
        spec = getenv("TRUSTM_DEVICE");
    }
    if (spec == NULL || *spec == '\0') {
        spec = "sim";
        d->implicit = true;
    }
    snprintf(d->what, sizeof(d->what), "%s", spec);
    rc = open_port(d, spec);
    if (rc != 0) {
        dev_close(d);
        return 1;
    }
    /* The i2c-dev port addresses the device string's address itself. */
    memset(&cfg, 0, sizeof(cfg));
    st = trustm_init(&d->chip, &d->port, &cfg);
    if (st == TMA_OK) {
        st = trustm_open(&d->chip);
    }
    if (st != TMA_OK) {
        dev_close(d);
        return fail_st(st, "no chip answers on %s", d->what);
    }
    d->open = true;
    if (load_binding(d) != 0) {
        dev_close(d);
        return 1;
    }
    st = trustm_open_app(&d->chip, d->protect, NULL);
    if (st != TMA_OK) {
        dev_close(d);
        /* The handshake's own codes are not in tma_status_str(): say what
         * the user can act on. */
        if (d->protect != TRUSTM_PROTECT_NONE && TMA_STATUS_LAYER(st) == TMA_LAYER_SHIELD) {
            return fail("shielded-connection handshake failed on %s: the chip is not bound, or "
                        "'%s' is not its binding secret (0xE140)", d->what, g.binding);
        }
        return fail_st(st, "cannot open the chip application on %s", d->what);
    }
    return 0;
}

void dev_close(struct dev *d)
{
    if (d->open) {
        (void)trustm_close(&d->chip);
        trustm_deinit(&d->chip);
        d->open = false;
    }
    if (d->handle != NULL) {
        trustm_port_close(d->handle);
        d->handle = NULL;
    }
}
