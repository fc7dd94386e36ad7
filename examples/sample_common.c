/* Shared plumbing of the IoT Hub samples (see sample_common.h). */
#define _POSIX_C_SOURCE 200809L
#include "sample_common.h"
#include "tma/host_args.h"
#include "tma/host_file.h"
#include "sample_args.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform_util.h>

#include "trustm/cmd.h"
#include "trustm/crypto_ops.h"

volatile int sample_stop;

static void on_signal(int sig)
{
    (void)sig;
    sample_stop = 1;
}

static void die(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void die(const char *name, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

/* strtol/strtoul skip leading blanks and take a sign ("-FFFFFFFFFFFF1F20"
 * wraps to 0xE0E0): numbers here start with a digit, nothing else. */
static bool starts_digit(const char *s, bool hex)
{
    unsigned char c = (unsigned char)s[0];
    return (c >= '0' && c <= '9') || (hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
}

static int parse_oid(const char *s, uint16_t *out)
{
    char *end;
    unsigned long v;
    if (!starts_digit(s, true)) {
        return -1;
    }
    errno = 0;
    v = strtoul(s, &end, 16);
    if (errno != 0 || *end != '\0' || end == s || v < 0xE000 || v > 0xFFFF) {
        return -1;
    }
    *out = (uint16_t)v;
    return 0;
}

static long parse_num(const char *name, const char *opt, const char *s, long lo, long hi)
{
    char *end;
    long v = lo - 1;
    errno = 0;
    if (starts_digit(s, false)) {
        v = strtol(s, &end, 10);
    }
    if (!starts_digit(s, false) || errno != 0 || *end != '\0' || end == s || v < lo || v > hi) {
        fprintf(stderr, "%s: %s takes a number in %ld..%ld\n", name, opt, lo, hi);
        exit(2);
    }
    return v;
}

/* --retry-ms MIN:MAX:JITTER: the client's back-off (spec 8), MIN <= MAX. */
static void parse_retry(const char *name, const char *s, struct sample_opts *o)
{
    char *end;
    long v[3];
    int i;
    for (i = 0; i < 3; i++) {
        if (!starts_digit(s, false)) {
            die(name, "--retry-ms takes MIN:MAX:JITTER in milliseconds (e.g. 1000:100000:5000)");
        }
        errno = 0;
        v[i] = strtol(s, &end, 10);
        if (errno != 0 || end == s || v[i] < 0 || v[i] > 86400000 || *end != (i < 2 ? ':' : '\0')) {
            die(name, "--retry-ms takes MIN:MAX:JITTER in milliseconds (e.g. 1000:100000:5000)");
        }
        s = end + 1;
    }
    if (v[0] < 1 || v[1] < v[0]) {
        die(name, "--retry-ms: need 1 <= MIN <= MAX");
    }
    o->retry_min_ms = v[0];
    o->retry_max_ms = v[1];
    o->retry_jitter_ms = v[2];
}

struct iothub_retry_policy sample_retry_policy(const struct sample_opts *o)
{
    struct iothub_retry_policy p;
    iothub_retry_policy_init(&p);
    if (o->retry_min_ms > 0) {
        p.min_ms = (uint32_t)o->retry_min_ms;
        p.max_ms = (uint32_t)o->retry_max_ms;
        p.jitter_max_ms = (uint32_t)o->retry_jitter_ms;
    }
    return p;
}

/* The parsed connection-string fields live in static storage: nothing to
 * free on any exit path. */
#define SAMPLE_FIELD_MAX 1024
static char cs_host[SAMPLE_FIELD_MAX], cs_device[SAMPLE_FIELD_MAX], cs_module[SAMPLE_FIELD_MAX],
    cs_key[SAMPLE_FIELD_MAX], cs_gateway[SAMPLE_FIELD_MAX];
static char flash_path[512];
/* Longest path the samples take for the files they write (--outbox,
 * --assignment): it and its ".tmp"/".lock" companions fit their buffers. */
#define SAMPLE_PATH_MAX 500

static const char *span_copy(const char *name, const char *what, struct tma_span s, char *out)
{
    if (s.len >= SAMPLE_FIELD_MAX) {
        die(name, "connection string: %s is longer than %d characters", what, SAMPLE_FIELD_MAX - 1);
    }
    memcpy(out, s.ptr, s.len);
    out[s.len] = '\0';
    return out;
}

static void check_id(const char *name, const char *what, const char *id)
{
    int c;
    if (id == NULL) {
        return;
    }
    if (strlen(id) > 128) {
        die(name, "%s is longer than 128 characters", what);
    }
    c = sample_id_bad_char(id);
    if (c != 0) {
        if (c >= 0x20 && c < 0x7F) {
            die(name, "%s '%s' has a character IoT Hub does not allow: '%c' (letters, digits and "
                      "- . %% _ * ? ! ( ) , : = @ $ ')", what, id, c);
        }
        die(name, "%s has a character IoT Hub does not allow: byte 0x%02X (letters, digits and "
                  "- . %% _ * ? ! ( ) , : = @ $ ')", what, c);
    }
}

/* A SAS key is standard base64 (RFC 4648, with padding), not empty. */
static bool is_base64(const char *k)
{
    size_t n = strlen(k), i, pad = 0;
    if (n == 0 || n % 4 != 0) {
        return false;
    }
    for (i = 0; i < n; i++) {
        char c = k[i];
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad > 0) {
            return false; /* data after padding */
        }
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
              c == '/')) {
            return false;
        }
    }
    return pad <= 2;
}

/* The program name for messages printed after sample_parse(). */
static const char *prog = "sample";

void sample_parse(int argc, char **argv, struct sample_opts *o, const char *name,
                  const char *summary, bool dps)
{
    int i, r;
    bool ca_oid_given = false;
    bool cs_from_env = false;
    /* options seen so far: each may be given once (--ca-oid up to
     * SAMPLE_MAX_CA times); a second --host or --outbox is a mistake, not
     * a choice between them */
    bool env_device_empty = false;
    const char *seen[64];
    int n_seen = 0;
    prog = name;
    memset(o, 0, sizeof(*o));
    o->cert_oid = 0xE0E1;
    o->key_oid = 0xE0F1;
    o->port = "8883";
    o->count = 10;
    o->interval_ms = 1000;
    o->timeout_ms = 120000;
    o->device = getenv("TRUSTM_DEVICE");
    if (o->device != NULL && o->device[0] == '\0') {
        /* as --device "": an empty variable must not mean the default */
        o->device = NULL;
        env_device_empty = true;
    }
    o->dps_host = "global.azure-devices-provisioning.net";
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: %s [options]\n%s\n"
                   "Identity (one of):\n"
                   "  --connection-string S  'HostName=..;DeviceId=..;x509=true' or with SharedAccessKey=..\n"
                   "                         [;ModuleId=..][;GatewayHostName=..] (behind an IoT Edge gateway)\n"
                   "  --host NAME --device-id ID [--module-id ID] [--sas-key BASE64]\n"
                   "  env IOTHUB_DEVICE_CONNECTION_STRING  the connection string, when none of the above\n"
                   "                         is given (other users can read a command line, not the\n"
                   "                         environment: use it for a SharedAccessKey)\n"
                   "Chip (X.509):\n"
                   "  --device DEV           sim:/path.sock or tcp:127.0.0.1:PORT (trustm-sim; loopback only:\n"
                   "                         127.0.0.1, localhost, ::1), /dev/i2c-N[@0x30] (env TRUSTM_DEVICE;\n"
                   "                         default sim: a blank simulator in this process)\n"
                   "  --binding FILE         platform binding secret: use the shielded connection (a key\n"
                   "                         bound to it signs only then)\n"
                   "  --cert-oid OID         client certificate object (default 0xE0E1)\n"
                   "  --key-oid OID          private key object (default 0xE0F1)\n"
                   "Server verification (always on):\n"
                   "  --ca-oid OID           trust anchor object, up to 4 times (default 0xE0E8, plus 0xF1E0 when it\n"
                   "                         holds a certificate: the Azure backup root of 'trust-anchor write --azure';\n"
                   "                         a 0xF1E0 that cannot be read stops the sample)\n"
                   "  --ca FILE              trust anchors from a PEM/DER file instead\n"
                   "Network:\n"
                   "  --port N               default 8883\n"
                   "  --address IP           connect here, verify the certificate for the host (or gateway) name\n"
                   "  --gateway NAME         IoT Edge gateway (as GatewayHostName=, which it overrides):\n"
                   "                         TCP and TLS go to it and its certificate is verified for NAME;\n"
                   "                         the MQTT user name and SAS token keep the hub's host name\n"
                   "Behaviour:\n"
                   "  --count N              messages to send (default 10)\n"
                   "  --interval-ms N        between two messages (default 1000)\n"
                   "  --run-ms N             exit 0 after N ms (default 0: no time limit). iothub-telemetry with\n"
                   "                         it runs the whole N ms, without it ends once every message is\n"
                   "                         acknowledged; iothub-dps ends at that or at N ms, whichever is\n"
                   "                         first; iothub-twin-methods without it runs until interrupted\n"
                   "  --timeout-ms N         exit 1 after N ms without a hub connection; with DPS also the\n"
                   "                         limit of the registration (default 120000)\n"
                   "  --model-id DTMI        IoT Plug and Play model id, sent when connecting\n"
                   "  --outbox FILE          the outbox as a log file (default ./<device id>.outbox)\n"
                   "  --outbox-flash FILE[:SECTORS:SECTOR_SIZE:UNIT]\n"
                   "                         the outbox as the microcontroller flash log, on FILE made to\n"
                   "                         behave like NOR flash; a new FILE without numbers gets 16:4096:16\n"
                   "                         (an ESP32 with flash encryption), an existing one keeps its own;\n"
                   "                         instead of --outbox, not with it\n"
                   "  --retry-ms MIN:MAX:JITTER  reconnect back-off (default 1000:100000:5000)\n"
                   "  --keep-alive S         MQTT keep-alive in seconds, 1..1177 (default 240)\n"
                   "  --rx-buf N             MQTT receive buffer in bytes, 1024..73728 (default 73728: IoT Hub's\n"
                   "                         64 KB C2D plus topic); a larger message is skipped and not acked\n"
                   "%s"
                   "  --version\n",
                   name, summary,
                   dps ? "DPS:\n  --id-scope S --registration-id R (default: certificate CN)\n"
                         "  --dps-host H           (default global.azure-devices-provisioning.net)\n"
                         "  --assignment FILE      keep the assigned hub and device id here: later runs connect\n"
                         "                         without DPS, and register again only if that hub refuses\n"
                       : "");
            exit(0);
        }
        if (!strcmp(a, "--version")) {
            printf("%s 0.1.0 (trustm-azure)\n", name);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0) {
            if (tma_host_may_be_secret(a)) { /* stderr ends up in CI logs and the journal */
                die(name, "unexpected argument %d, not shown: it may be a key (options start with --; see --help)",
                    i);
            }
            die(name, "unexpected argument '%s' (options start with --; see --help)", a);
        }
        if (strchr(a, '=') != NULL) {
            /* --sas-key=KEY: the value (maybe a key) is not echoed */
            int nl = (int)(strchr(a, '=') - a);
            die(name, "%.*s=...: give the value as the next argument ('%.*s VALUE'; see --help)", nl, a, nl, a);
        }
        if (v == NULL) {
            die(name, "unknown option or missing value: %s (see --help)", a);
        }
        if (v[0] == '\0') {
            /* --device "$UNSET" must not mean the default */
            die(name, "%s needs a value, not an empty string", a);
        }
        i++;
        for (r = 0; r < n_seen && strcmp(a, "--ca-oid") != 0; r++) {
            if (!strcmp(seen[r], a)) {
                die(name, "%s is given twice (once is allowed)", a);
            }
        }
        if (n_seen < (int)(sizeof(seen) / sizeof(seen[0]))) {
            seen[n_seen++] = a;
        }
        if (!strcmp(a, "--device")) o->device = v;
        else if (!strcmp(a, "--binding")) o->binding = v;
        else if (!strcmp(a, "--cert-oid")) { if (parse_oid(v, &o->cert_oid)) die(name, "bad --cert-oid %s", v); }
        else if (!strcmp(a, "--key-oid")) { if (parse_oid(v, &o->key_oid)) die(name, "bad --key-oid %s", v); }
        else if (!strcmp(a, "--ca-oid")) {
            if (o->n_ca >= SAMPLE_MAX_CA) die(name, "--ca-oid is given more than %d times", SAMPLE_MAX_CA);
            if (parse_oid(v, &o->ca_oids[o->n_ca])) die(name, "bad --ca-oid %s", v);
            o->n_ca++;
            ca_oid_given = true;
        }
        else if (!strcmp(a, "--ca")) o->ca_file = v;
        else if (!strcmp(a, "--host")) o->host = v;
        else if (!strcmp(a, "--port")) { (void)parse_num(name, a, v, 1, 65535); o->port = v; }
        else if (!strcmp(a, "--address")) o->address = v;
        else if (!strcmp(a, "--gateway")) o->gateway = v;
        else if (!strcmp(a, "--connection-string")) o->connection_string = v;
        else if (!strcmp(a, "--device-id")) o->device_id = v;
        else if (!strcmp(a, "--module-id")) o->module_id = v;
        else if (!strcmp(a, "--sas-key")) o->sas_key = v;
        else if (!strcmp(a, "--outbox")) o->outbox = v;
        else if (!strcmp(a, "--outbox-flash")) {
            size_t plen;
            if (iothub_flash_file_parse_spec(v, &plen, &o->flash_geo) != TMA_OK || plen >= sizeof(flash_path)) {
                die(name, "--outbox-flash takes FILE[:SECTORS:SECTOR_SIZE:UNIT] (FILE without ':'; decimal "
                          "numbers: SECTORS >= 2, SECTOR_SIZE >= 128 and >= 8 units, a multiple of UNIT, "
                          "UNIT 1, 2, 4, 8, 16 or 32, at most 1 GB in all), not '%s'", v);
            }
            memcpy(flash_path, v, plen);
            flash_path[plen] = '\0';
            o->outbox_flash = flash_path;
        }
        else if (!strcmp(a, "--model-id")) o->model_id = v;
        else if (!strcmp(a, "--count")) { o->count = parse_num(name, a, v, 0, 100000000); o->count_given = true; }
        else if (!strcmp(a, "--interval-ms")) { o->interval_ms = parse_num(name, a, v, 0, 86400000); o->count_given = true; }
        else if (!strcmp(a, "--run-ms")) o->run_ms = parse_num(name, a, v, 0, 86400000);
        else if (!strcmp(a, "--timeout-ms")) o->timeout_ms = parse_num(name, a, v, 1, 86400000);
        else if (!strcmp(a, "--retry-ms")) parse_retry(name, v, o);
        else if (!strcmp(a, "--keep-alive")) o->keep_alive_s = parse_num(name, a, v, 1, 1177);
        else if (!strcmp(a, "--rx-buf")) o->rx_buf = parse_num(name, a, v, 1024, SAMPLE_RX_BUF_MAX);
        else if (dps && !strcmp(a, "--id-scope")) o->id_scope = v;
        else if (dps && !strcmp(a, "--registration-id")) o->registration_id = v;
        else if (dps && !strcmp(a, "--dps-host")) o->dps_host = v;
        else if (dps && !strcmp(a, "--assignment")) o->assignment = v;
        else die(name, "unknown option: %s (see --help)", a);
    }
    if (o->outbox != NULL && o->outbox_flash != NULL) {
        die(name, "%s", "--outbox and --outbox-flash are exclusive: the outbox is either a log file or a flash");
    }
    if (o->ca_file != NULL && ca_oid_given) {
        die(name, "%s", "--ca and --ca-oid exclude each other (trust anchors from a file or from the chip)");
    }
    if (o->connection_string == NULL && o->host == NULL && o->device_id == NULL && o->module_id == NULL &&
        o->sas_key == NULL) {
        /* A SharedAccessKey on the command line is in every user's `ps`;
         * /proc/PID/environ is the owner's only. */
        const char *e = getenv("IOTHUB_DEVICE_CONNECTION_STRING");
        if (e != NULL && e[0] != '\0') {
            o->connection_string = e;
            cs_from_env = true;
        }
    }
    if (o->connection_string != NULL) {
        struct iothub_connection_string cs;
        struct tma_span s = {(const uint8_t *)o->connection_string, strlen(o->connection_string)};
        char why[200];
        if (o->host != NULL || o->device_id != NULL || o->module_id != NULL || o->sas_key != NULL) {
            die(name, "%s", "--connection-string excludes --host, --device-id, --module-id and --sas-key");
        }
        if (sample_cs_problem(o->connection_string, why, sizeof(why)) != 0) {
            die(name, "bad connection string%s: %s", cs_from_env ? " (IOTHUB_DEVICE_CONNECTION_STRING)" : "", why);
        }
        if (iothub_connection_string_parse(s, &cs) != TMA_OK) {
            die(name, "%s", "bad connection string: need HostName, DeviceId and x509=true or SharedAccessKey");
        }
        o->host = span_copy(name, "HostName", cs.host, cs_host);
        o->device_id = span_copy(name, "DeviceId", cs.device_id, cs_device);
        if (cs.module_id.len) o->module_id = span_copy(name, "ModuleId", cs.module_id, cs_module);
        if (cs.shared_key.len) o->sas_key = span_copy(name, "SharedAccessKey", cs.shared_key, cs_key);
        if (cs.gateway.len && o->gateway == NULL) {
            o->gateway = span_copy(name, "GatewayHostName", cs.gateway, cs_gateway);
        }
    }
    check_id(name, "the device id", o->device_id);
    check_id(name, "the module id", o->module_id);
    {
        /* the outbox path goes into a 512-byte buffer, the assignment's
         * temporary file name is FILE.tmp in 1,024: never cut short.
         * Before the checks of their folders, which would say less. */
        if (o->outbox != NULL && strlen(o->outbox) > SAMPLE_PATH_MAX) {
            die(name, "--outbox: the path is longer than %d characters", SAMPLE_PATH_MAX);
        }
        if (dps && o->assignment != NULL && strlen(o->assignment) > SAMPLE_PATH_MAX) {
            die(name, "--assignment: the path is longer than %d characters", SAMPLE_PATH_MAX);
        }
    }
    {
        /* Files the samples keep: the assignment is written as FILE.tmp +
         * rename (a device, FIFO or link there would be replaced, or block
         * the read); the outboxes are logs of their own format, and their
         * lock file would be left next to a device. */
        const char *files[3], *opts[3] = {"--assignment", "--outbox", "--outbox-flash"};
        int k;
        files[0] = dps ? o->assignment : NULL;
        files[1] = o->outbox;
        files[2] = o->outbox_flash;
        /* ... and none of them may be a file the sample reads: the
         * assignment is replaced whole, and the binding secret has no other
         * copy (the chip's is locked). */
        const char *ins[2] = {o->binding, o->ca_file}, *in_opts[2] = {"--binding", "--ca"};
        int j;
        for (k = 0; k < 3; k++) {
            struct stat sb;
            if (files[k] != NULL && lstat(files[k], &sb) == 0 && !S_ISREG(sb.st_mode)) {
                die(name, "%s '%s' is not a regular file", opts[k], files[k]);
            }
            /* A file still to be made: its folder must take it, or it is
             * found only later (the DPS assignment after every successful
             * registration, so each run would register again). */
            if (files[k] != NULL && lstat(files[k], &sb) != 0 && (errno == ENOENT || errno == ENOTDIR)) {
                char dir[512];
                const char *slash = strrchr(files[k], '/');
                int e = errno;
                int dn = snprintf(dir, sizeof(dir), "%.*s",
                                  slash == NULL ? 1 : slash == files[k] ? 1 : (int)(slash - files[k]),
                                  slash == NULL ? "." : files[k]);
                if (dn < 0 || (size_t)dn >= sizeof(dir)) {
                    die(name, "%s: the folder name is longer than %d characters", opts[k], (int)sizeof(dir) - 1);
                }
                if (e == ENOTDIR || access(dir, W_OK | X_OK) != 0) {
                    die(name, "%s '%s': cannot make it in '%s': %s", opts[k], files[k], dir,
                        strerror(e == ENOTDIR ? e : errno));
                }
            }
            for (j = 0; files[k] != NULL && j < 2; j++) {
                if (tma_host_same_file(files[k], ins[j])) {
                    die(name, "%s '%s' is the %s file; it would be overwritten (give another name)", opts[k],
                        files[k], in_opts[j]);
                }
            }
            for (j = k + 1; files[k] != NULL && j < 3; j++) {
                if (tma_host_same_file(files[k], files[j])) {
                    die(name, "%s and %s name the same file '%s'", opts[k], opts[j], files[k]);
                }
            }
        }
    }
    if (o->gateway != NULL && (o->gateway[0] == '\0' || strpbrk(o->gateway, "/: \t") != NULL)) {
        die(name, "%s", "the gateway (--gateway, GatewayHostName) must be a bare host name, without port or scheme");
    }
    /* Names that would only fail later, at every connection attempt until
     * --timeout-ms, as "cannot connect": refused here, in words. */
    if (o->gateway != NULL && !sample_host_ok(o->gateway)) {
        die(name, "%s", "the gateway (--gateway, GatewayHostName) is not a host name (letters, digits, '.', '-')");
    }
    if (o->host != NULL && !sample_host_ok(o->host)) {
        die(name, "the hub host name (%s) is not a host name (letters, digits, '.', '-'; at most 253)",
            o->connection_string != NULL ? "HostName" : "--host");
    }
    if (dps && !sample_host_ok(o->dps_host)) {
        die(name, "%s", "--dps-host is not a host name (letters, digits, '.', '-'; at most 253)");
    }
    if (o->address != NULL) {
        unsigned char ip[16];
        if (inet_pton(AF_INET, o->address, ip) != 1 && inet_pton(AF_INET6, o->address, ip) != 1 &&
            !sample_host_ok(o->address)) {
            die(name, "%s", "--address takes an IPv4 or IPv6 address (or a host name)");
        }
    }
    if (o->model_id != NULL && !sample_dtmi_ok(o->model_id)) {
        die(name, "%s", "--model-id takes a DTMI such as dtmi:com:example:Thermostat;1 (segments of letters, "
                        "digits and '_', a version 1..999999999, at most 128 characters)");
    }
    if (dps && o->registration_id != NULL && !sample_regid_ok(o->registration_id)) {
        die(name, "%s", "--registration-id takes 1..128 letters, digits and - . _ :");
    }
    if (o->sas_key != NULL && !is_base64(o->sas_key)) {
        die(name, "%s", "the SharedAccessKey (--sas-key) is not base64 (copy it from the hub's device entry)");
    }
    if (!dps && (o->host == NULL || o->device_id == NULL)) {
        die(name, "%s", "the hub host and device id are needed (--connection-string or --host/--device-id)");
    }
    if (dps && o->id_scope == NULL) {
        die(name, "%s", "--id-scope is needed");
    }
    if (dps) {
        const char *p;
        for (p = o->id_scope; *p; p++) {
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) {
                die(name, "the id scope '%s' is not letters and digits (DPS shows it as e.g. 0ne00000000)",
                    o->id_scope);
            }
        }
    }
    if (o->n_ca == 0) {
        /* IoT Hub's TLS page: trust DigiCert Global Root G2 and, as a backup,
         * Microsoft RSA Root CA 2017. The latter (1,452 bytes) does not fit a
         * trust-anchor object (1,200), so 'trustm trust-anchor write --azure'
         * puts it into data object 0xF1E0: read there too, when it holds one. */
        o->ca_oids[0] = 0xE0E8;
        o->ca_oids[1] = 0xF1E0;
        o->n_ca = 2;
        o->ca_backup_default = true;
    }
    if (o->device == NULL && env_device_empty && o->sas_key == NULL) {
        die(name, "%s", "TRUSTM_DEVICE is set but empty (unset it for the default, or give --device)");
    }
    if (o->device == NULL) {
        o->device = "sim";
    }
    /* Line by line, also into a file or pipe: a log shows stdout and
     * stderr lines in the order they happened. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
}

/* A whole file, NUL appended for the PEM parser. Opened without waiting, so
 * a FIFO nobody writes reads as empty instead of blocking, while a pipe that
 * is being written (a shell's <(...)) is read to its end. */
static int read_file(const char *path, uint8_t **out, size_t *out_len)
{
    struct stat sb;
    size_t n = 0, cap = 1u << 20;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    *out = NULL;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        fprintf(stderr, "%s: cannot read '%s': %s\n", prog, path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return 1;
    }
    if (S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "%s: '%s' is a directory\n", prog, path);
        close(fd);
        return 1;
    }
    (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    *out = malloc(cap + 1);
    while (*out != NULL && n <= cap) {
        ssize_t r = read(fd, *out + n, cap + 1 - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            if (r < 0) {
                fprintf(stderr, "%s: cannot read '%s': %s\n", prog, path, strerror(errno));
                n = cap + 1;
            }
            break;
        }
        n += (size_t)r;
        if (n > cap) {
            fprintf(stderr, "%s: '%s' is larger than 1 MB\n", prog, path);
        }
    }
    close(fd);
    if (*out == NULL || n > cap) {
        if (*out == NULL) {
            fprintf(stderr, "%s: out of memory\n", prog);
        }
        free(*out);
        *out = NULL;
        return 1;
    }
    (*out)[n] = 0; /* PEM parsing wants the terminating NUL */
    *out_len = n + 1;
    return 0;
}

int sample_chip_open(struct sample_net *n, const struct sample_opts *o)
{
    static uint8_t obj[1728];
    tma_status st;
    const mbedtls_x509_name *nm;
    if (strncmp(o->device, "tcp:", 4) == 0 && !trustm_port_tcp_loopback(o->device + 4)) {
        /* The port connects to loopback addresses only (the simulator's
         * protocol has no authentication): say so, not "is it running?". */
        fprintf(stderr, "%s: --device '%s': give tcp:HOST:PORT with HOST 127.0.0.1, localhost or ::1 "
                        "(trustm-sim is reached over loopback only)\n", prog, o->device);
        return 1;
    }
    st = trustm_port_open(o->device, &n->port, &n->port_handle);
    if (st != TMA_OK) {
        /* Name the device and, when the OS knows it, the reason. */
        const char *d = o->device, *p = strncmp(d, "sim:", 4) == 0 ? d + 4 : d;
        char path[300];
        struct stat sb;
        bool known = strcmp(d, "sim") == 0 || (strncmp(d, "sim:", 4) == 0 && d[4]) ||
                     (strncmp(d, "tcp:", 4) == 0 && d[4]) || strncmp(d, "/dev/", 5) == 0;
        if (!known) {
            fprintf(stderr, "%s: unknown --device '%s' (sim, sim:/path.sock, tcp:127.0.0.1:PORT or /dev/i2c-N[@0x30])\n",
                    prog, d);
            return 1;
        }
        if (strncmp(d, "/dev/", 5) == 0 && strchr(d, '@') != NULL) {
            char *end = NULL;
            unsigned long a;
            errno = 0;
            a = strtoul(strchr(d, '@') + 1, &end, 0);
            if (errno != 0 || end == strchr(d, '@') + 1 || *end != '\0' || a < 0x08 || a > 0x77) {
                fprintf(stderr, "%s: bad I2C address in '%s' (7-bit, e.g. @0x30)\n", prog, d);
                return 1;
            }
        }
        snprintf(path, sizeof(path), "%.*s", (int)strcspn(p, "@"), p);
        if (strncmp(d, "tcp:", 4) != 0 && strcmp(d, "sim") != 0 && access(path, R_OK | W_OK) != 0) {
            fprintf(stderr, "%s: cannot open '%s': %s%s\n", prog, path, strerror(errno),
                    strncmp(d, "sim:", 4) == 0 ? " (is trustm-sim running?)" : "");
            return 1;
        }
        /* It exists and may be opened: say what kind of file it is when
         * that is the reason, not only the port's status. */
        if (strncmp(d, "tcp:", 4) != 0 && strcmp(d, "sim") != 0 && stat(path, &sb) == 0) {
            if (strncmp(d, "/dev/", 5) == 0 && !S_ISCHR(sb.st_mode)) {
                fprintf(stderr, "%s: cannot open '%s': not a character device (an I2C bus is /dev/i2c-N)\n",
                        prog, path);
                return 1;
            }
            if (strncmp(d, "sim:", 4) == 0 && !S_ISSOCK(sb.st_mode)) {
                fprintf(stderr, "%s: cannot open the chip at '%s': not a socket (is trustm-sim running?)\n", prog,
                        d);
                return 1;
            }
        }
        fprintf(stderr, "%s: cannot open the chip at '%s': %s%s\n", prog, d, tma_status_str(st),
                strncmp(d, "/dev/", 5) == 0 ? "" : " (is trustm-sim running?)");
        return 1;
    }
    st = trustm_init(&n->chip, &n->port, NULL);
    if (st == TMA_OK) {
        st = trustm_open(&n->chip);
    }
    if (st != TMA_OK) {
        fprintf(stderr, "%s: no chip answers on %s: %s\n", prog, o->device, tma_status_str(st));
        return 1;
    }
    n->chip_open = true;
    n->protect = TRUSTM_PROTECT_NONE;
    if (o->binding != NULL) {
        struct stat sb;
        uint8_t *secret = NULL;
        size_t len = 0;
        if (stat(o->binding, &sb) != 0) {
            fprintf(stderr, "%s: binding file '%s': %s\n", prog, o->binding, strerror(errno));
            return 1;
        }
        if (!S_ISREG(sb.st_mode)) {
            fprintf(stderr, "%s: binding file '%s' is not a regular file\n", prog, o->binding);
            return 1;
        }
        if ((sb.st_mode & 077) != 0) {
            fprintf(stderr, "%s: binding file '%s' is readable by others (chmod 600 it)\n", prog, o->binding);
            return 1;
        }
        if (read_file(o->binding, &secret, &len) != 0) {
            return 1;
        }
        if (len <= 1) {
            free(secret);
            fprintf(stderr, "%s: binding file '%s' is empty\n", prog, o->binding);
            return 1;
        }
        st = trustm_shield_set_secret(&n->chip, trustm_crypto_mbedtls(), secret, len - 1);
        mbedtls_platform_zeroize(secret, len);
        free(secret);
        if (st != TMA_OK) {
            fprintf(stderr, "%s: binding file '%s' is not a binding secret (%s)\n", prog, o->binding,
                    tma_status_str(st));
            return 1;
        }
        n->protect = TRUSTM_PROTECT_BOTH;
    }
    st = trustm_open_app(&n->chip, n->protect, NULL);
    if (st != TMA_OK && n->protect != TRUSTM_PROTECT_NONE && TMA_STATUS_LAYER(st) == TMA_LAYER_SHIELD) {
        /* as the trustm CLI says it */
        fprintf(stderr, "%s: shielded-connection handshake failed on %s: the chip is not bound, or '%s' is not "
                        "its binding secret (0xE140)\n", prog, o->device, o->binding);
        return 1;
    }
    if (st != TMA_OK) {
        fprintf(stderr, "%s: cannot open the chip application on %s: %s\n", prog, o->device, tma_status_str(st));
        return 1;
    }
    mbedtls_x509_crt_init(&n->chain);
    st = tma_tls_chip_load_certs(&n->chip, n->protect, o->cert_oid, obj, sizeof(obj), &n->chain, NULL);
    if (st != TMA_OK) {
        fprintf(stderr, "%s: no client certificate in 0x%04X: %s%s\n", prog, o->cert_oid, tma_status_str(st),
                strcmp(o->device, "sim") == 0
                    ? " (--device sim is a blank simulator in this process; give --device or $TRUSTM_DEVICE)"
                    : "");
        return 1;
    }
    /* The certificate is read once; reconnects cost the chip one signature
     * (none when the TLS session is resumed), no object reads. */
    n->signer.chip = &n->chip;
    n->signer.key_oid = o->key_oid;
    n->signer.protect = n->protect;
    mbedtls_pk_init(&n->pk);
    st = tma_tls_chip_key_bind(&n->key, &n->pk, &n->signer, &n->chain, false);
    if (st != TMA_OK) {
        fprintf(stderr, "%s: key 0x%04X does not fit the certificate in 0x%04X: %s\n", prog, o->key_oid,
                o->cert_oid, tma_status_str(st));
        return 1;
    }
    n->pk_bound = true;
    for (nm = &n->chain.subject; nm != NULL; nm = nm->next) {
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &nm->oid) == 0 && nm->val.len < sizeof(n->cn)) {
            memcpy(n->cn, nm->val.p, nm->val.len);
            n->cn[nm->val.len] = '\0';
        }
    }
    return 0;
}

/* The default backup root object 0xF1E0 (read when no --ca-oid is given) is
 * skipped only when it holds no certificate; a read that failed is an error,
 * or the device would quietly run with fewer trust anchors than it was
 * personalised with (and fail after IoT Hub's root migration with a
 * misleading TLS error). "No certificate there" is exactly:
 *  - TMA_ERR(TLS, NOT_FOUND) from tma_tls_chip_load_certs(): used size 0, or
 *    the first byte 0x00 (a factory chip's 0xF1E0: used size 1,500 of
 *    zeros, spec 7.1 and 7.5), or chip error 0x08 at offset 0 (libtrustm passes it
 *    through: spec 13 item 4, a chip may say "boundary" for an empty
 *    object; the TLS glue maps it to NOT_FOUND);
 *  - TMA_CHIP_ERROR(0x08) itself, for the same reason, should the glue
 *    ever pass it on unmapped;
 *  - TMA_ERR(TLS, MALFORMED) when the object does not begin like a
 *    certificate (first byte neither 0x30, a DER SEQUENCE, nor 0xC0, the
 *    TLS-identity wrapper): 0xF1E0 is a general data object holding other
 *    data.
 * Everything else stops the sample: bus, link, network and shielded-
 * connection failures, time-outs, any other chip error (0x07: its Read
 * access condition is not met, e.g. NEV or Conf(0xE140) without
 * --binding), and a MALFORMED object that begins like a certificate (a
 * damaged backup root). docs/iothub-samples.md says the same. */
static bool backup_root_absent(tma_status st, uint8_t first)
{
    if (st == TMA_ERR(TMA_LAYER_TLS, TMA_C_NOT_FOUND) || st == TMA_CHIP_ERROR(0x08)) {
        return true;
    }
    return st == TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED) && first != 0x30 && first != 0xC0;
}

/* Why a trust-anchor object could not be used, naming the object and the
 * status (with its layer: "link: timeout", "chip: access conditions not
 * satisfied"). */
static void anchor_error(const struct sample_net *n, const struct sample_opts *o, uint16_t oid, tma_status st,
                         uint8_t first)
{
    bool backup = o->ca_backup_default && oid == o->ca_oids[1];
    const char *layer = TMA_STATUS_LAYER(st) == TMA_LAYER_CHIP ? "" : tma_layer_name(TMA_STATUS_LAYER(st));
    const char *hint = backup ? "; --ca-oid 0xE0E8 uses 0xE0E8 alone" : "";
    if (st == TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED) && (first == 0x30 || first == 0xC0)) {
        fprintf(stderr, "%s: trust anchor object 0x%04X%s begins like a certificate but does not parse "
                        "(damaged?): %s%s\n",
                prog, oid, backup ? " (the Azure backup root)" : "", tma_status_str(st), hint);
    } else if (st == TMA_ERR(TMA_LAYER_TLS, TMA_C_NOT_FOUND) || st == TMA_ERR(TMA_LAYER_TLS, TMA_C_MALFORMED)) {
        fprintf(stderr, "%s: no trust anchor in 0x%04X: %s\n", prog, oid, tma_status_str(st));
    } else {
        fprintf(stderr, "%s: cannot read trust anchor object 0x%04X%s: %s%s%s%s; not connecting with fewer trust "
                        "anchors than the chip holds%s\n",
                prog, oid, backup ? " (the Azure backup root)" : "", layer, layer[0] ? ": " : "",
                tma_status_str(st),
                st == TMA_CHIP_ERROR(0x07)
                    ? (n->protect == TRUSTM_PROTECT_NONE
                           ? " (its Read access condition is not met; one that asks for the shielded connection "
                             "needs --binding FILE)"
                           : " (its Read access condition is not met)")
                    : "",
                hint);
    }
}

int sample_tls_setup(struct sample_net *n, const struct sample_opts *o, const char *host,
                     const char *port)
{
    struct tma_tls_client_config cfg;
    uint8_t *ca = NULL;
    size_t ca_len = 0;
    tma_status st;
    static uint8_t obj[1728];
    if (o->ca_file != NULL) {
        if (read_file(o->ca_file, &ca, &ca_len) != 0) {
            return 1;
        }
    } else {
        mbedtls_x509_crt anchors;
        const mbedtls_x509_crt *c;
        int i;
        if (!n->chip_open) {
            fprintf(stderr, "%s: trust anchors: give --ca FILE (no chip is used with SAS)\n", prog);
            return 1;
        }
        mbedtls_x509_crt_init(&anchors);
        for (i = 0; i < o->n_ca; i++) {
            obj[0] = 0x00; /* the read leaves the object's first byte here */
            st = tma_tls_chip_load_certs(&n->chip, n->protect, o->ca_oids[i], obj, sizeof(obj), &anchors, NULL);
            if (st != TMA_OK && i == 1 && o->ca_backup_default && backup_root_absent(st, obj[0])) {
                continue; /* no backup root there (empty, or other data): G2's object alone */
            }
            if (st != TMA_OK) {
                anchor_error(n, o, o->ca_oids[i], st, obj[0]);
                mbedtls_x509_crt_free(&anchors);
                return 1;
            }
        }
        for (c = &anchors; c != NULL && c->raw.p != NULL; c = c->next) ca_len += c->raw.len;
        ca = ca_len > 0 ? malloc(ca_len) : NULL;
        if (ca == NULL) {
            fprintf(stderr, "%s: trust anchors: %s\n", prog,
                    ca_len > 0 ? "out of memory" : "none read from the chip");
            mbedtls_x509_crt_free(&anchors);
            return 1;
        }
        ca_len = 0;
        for (c = &anchors; c != NULL && c->raw.p != NULL; c = c->next) {
            memcpy(ca + ca_len, c->raw.p, c->raw.len);
            ca_len += c->raw.len;
        }
        mbedtls_x509_crt_free(&anchors);
    }
    /* Behind an IoT Edge gateway the connection to the hub goes to the
     * gateway: TCP, SNI and certificate verification use its name, while
     * the MQTT user name and SAS resource keep the hub's (sample_hub_init). */
    if (o->gateway != NULL && o->host != NULL && strcmp(host, o->host) == 0) {
        printf("IoT Edge gateway %s for hub %s\n", o->gateway, o->host);
        fflush(stdout);
        host = o->gateway;
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.host = host;
    cfg.port = port;
    cfg.address = o->address;
    cfg.ca.ptr = ca;
    cfg.ca.len = ca_len;
    if (n->pk_bound) {
        cfg.own_chain.ptr = n->chain.raw.p;
        cfg.own_chain.len = n->chain.raw.len;
        cfg.own_key = &n->pk;
        n->crng.chip = &n->chip;
        n->crng.protect = n->protect;
        n->rng.ctx = &n->crng;
        n->rng.fill = tma_tls_chip_random;
        cfg.rng = &n->rng;
    }
    cfg.timeout_ms = 20; /* recv waits this long; the client loop polls */
    n->tls = calloc(1, sizeof(*n->tls));
    st = n->tls == NULL ? TMA_ERR(TMA_LAYER_TLS, TMA_C_INTERNAL) : tma_tls_client_init(n->tls, &cfg);
    free(ca);
    if (st != TMA_OK) {
        fprintf(stderr, "%s: TLS setup: %s%s%s%s\n", prog, n->tls ? tma_tls_client_error(n->tls) : "out of memory",
                o->ca_file != NULL ? " (--ca '" : "", o->ca_file != NULL ? o->ca_file : "",
                o->ca_file != NULL ? "')" : "");
        return 1;
    }
    n->tls_ready = true;
    return 0;
}

/* recv that never waits: sample_run() waits on the socket instead, only
 * when the client has nothing else to do. */
static int32_t recv_nowait(void *ctx, uint8_t *buf, size_t len)
{
    struct tma_tls_client *t = ctx;
    if (mbedtls_ssl_get_bytes_avail(&t->ssl) == 0) {
        struct pollfd p;
        p.fd = t->net.fd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, 0) <= 0) {
            return 0;
        }
    }
    return tma_tls_client_recv(t, buf, len);
}

static tma_status conn_open(void *ctx, struct tma_transport *out_tr, bool *out_used_key)
{
    struct sample_net *n = ctx;
    tma_status st;
    uint32_t signs = n->key.sign_count;
    /* The handshake may wait for the chip and the server: a long read
     * timeout for it, then a short one so the client loop keeps polling.
     * (tls.h has no setter; the config is the mbedTLS one.) */
    n->key.last_signer_status = TMA_OK;
    mbedtls_ssl_conf_read_timeout(&n->tls->conf, 10000);
    st = tma_tls_client_connect(n->tls);
    mbedtls_ssl_conf_read_timeout(&n->tls->conf, 20);
    *out_used_key = false;
    if (st != TMA_OK) {
        fprintf(stderr, "connect: %s\n", tma_tls_client_error(n->tls));
        if (n->pk_bound && n->key.last_signer_status == TMA_CHIP_ERROR(0x07)) {
            /* The key's Execute condition is not met: no retry can change
             * that, and each would count as a Security Monitor event. */
            fprintf(stderr, "%s: the chip refuses to sign with 0x%04X (chip error 0x07: its Execute condition "
                            "is not met%s); not retrying\n",
                    prog, n->signer.key_oid,
                    n->protect == TRUSTM_PROTECT_NONE ? "; a bound key needs --binding FILE" : "");
            sample_stop = 1; /* ends sample_run() and the DPS loop, exit status 1 */
        }
        /* A failed handshake cost the chip a key operation only if it got
         * as far as CertificateVerify (a signature, or a signer call that
         * failed); one cut before that must not hold the next attempt back
         * for the pacer (docs/design/network-faults.md, F1). */
        *out_used_key = n->pk_bound && (n->key.sign_count != signs || n->key.last_signer_status != TMA_OK);
        return st;
    }
    *out_used_key = n->pk_bound && !tma_tls_client_resumed(n->tls);
    *out_tr = tma_tls_client_transport(n->tls);
    out_tr->recv = recv_nowait;
    return TMA_OK;
}

static void conn_close(void *ctx)
{
    struct sample_net *n = ctx;
    tma_tls_client_close(n->tls);
}

struct iothub_connector sample_connector(struct sample_net *n)
{
    struct iothub_connector c;
    c.ctx = n;
    c.open = conn_open;
    c.close = conn_close;
    return c;
}

void sample_tls_close(struct sample_net *n)
{
    if (n->tls_ready) {
        tma_tls_client_deinit(n->tls);
        n->tls_ready = false;
    }
    free(n->tls);
    n->tls = NULL;
}

void sample_net_close(struct sample_net *n)
{
    sample_tls_close(n);
    if (n->pk_bound) {
        mbedtls_pk_free(&n->pk);
        n->pk_bound = false;
    }
    if (n->chip_open) {
        mbedtls_x509_crt_free(&n->chain);
        (void)trustm_close(&n->chip);
        trustm_deinit(&n->chip);
        n->chip_open = false;
    }
    trustm_port_close(n->port_handle);
    n->port_handle = NULL;
}

/* A clock the samples cannot read is fatal: the callbacks have no error
 * channel, and a made-up time would become a wrong SAS expiry or a frozen
 * back-off. The usual cause is a 32-bit time_t past 2038-01-19 (EOVERFLOW);
 * docs/porting.md ("Linux") says how to build with a 64-bit one. */
static uint64_t clock_ms_or_exit(clockid_t id, const char *name)
{
    struct timespec ts;
    int rc = clock_gettime(id, &ts);
    if (rc != 0 || ts.tv_sec < 0) {
        int e = rc != 0 ? errno : 0;
        fprintf(stderr, "sample: cannot read %s: %s%s\n", name,
                e != 0 ? strerror(e) : "time before 1970",
                sizeof(time_t) < 8 ? " (32-bit time_t: see docs/porting.md, Linux)" : "");
        exit(1);
    }
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t sample_mono_ms(void *ctx)
{
    (void)ctx;
    return clock_ms_or_exit(CLOCK_MONOTONIC, "CLOCK_MONOTONIC");
}

uint64_t sample_wall_ms(void *ctx)
{
    (void)ctx;
    return clock_ms_or_exit(CLOCK_REALTIME, "the wall clock (CLOCK_REALTIME)");
}

static tma_status hmac(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *msg,
                       size_t msg_len, uint8_t out[32])
{
    (void)ctx;
    return mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, key_len, msg,
                           msg_len, out) == 0
               ? TMA_OK
               : TMA_ERR(TMA_LAYER_IOTHUB, TMA_C_CRYPTO);
}

struct iothub_hmac_ops sample_hmac_ops(void)
{
    struct iothub_hmac_ops o;
    o.ctx = NULL;
    o.hmac_sha256 = hmac;
    return o;
}

uint32_t sample_random(void *ctx)
{
    static uint32_t s;
    (void)ctx;
    if (s == 0) {
        s = (uint32_t)sample_mono_ms(NULL) ^ 0x9E3779B9u;
    }
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
}

void sample_sleep_ms(uint64_t ms)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000u);
    ts.tv_nsec = (long)(ms % 1000u) * 1000000L;
    nanosleep(&ts, NULL);
}

void sample_conn_config(struct iothub_client_config *cfg, struct sample_net *n,
                        const struct sample_opts *o)
{
    /* One connection at a time (DPS ends before the hub client starts), so
     * both use these buffers. */
    static uint8_t tx[16384], rx[SAMPLE_RX_BUF_MAX], rec[8192];
    static char cred[2048];
    static struct mqtt_inflight infl[17];
    memset(cfg, 0, sizeof(*cfg));
    cfg->sas_key = o->sas_key;
    cfg->hmac = sample_hmac_ops();
    cfg->clock.now_ms = sample_mono_ms;
    cfg->wall.now_ms = sample_wall_ms;
    cfg->connector = sample_connector(n);
    cfg->random = sample_random;
    cfg->retry = sample_retry_policy(o);
    cfg->keep_alive_s = (uint16_t)o->keep_alive_s;
    cfg->tx_buf = tx;
    cfg->tx_cap = sizeof(tx);
    cfg->rx_buf = rx;
    cfg->rx_cap = o->rx_buf > 0 ? (size_t)o->rx_buf : sizeof(rx);
    cfg->inflight = infl;
    cfg->inflight_count = sizeof(infl) / sizeof(infl[0]);
    cfg->record_buf = rec;
    cfg->record_cap = sizeof(rec);
    cfg->cred_buf = cred;
    cfg->cred_cap = sizeof(cred);
}

static void storage_close(struct sample_hub *h)
{
    iothub_file_storage_close(&h->fs); /* safe on a zeroed or closed context */
    iothub_flash_file_close(&h->ff);
}

/* --outbox-flash: the flash log on a file that behaves like NOR flash
 * (every program and erase synced, a unit programmed twice is an error).
 * Without a geometry in the option: the file's own, or the defaults. */
static int storage_open_flash(struct sample_hub *h, const struct sample_opts *o, struct iothub_storage *out_st)
{
    const struct iothub_flash_geometry *g = &o->flash_geo;
    struct iothub_flash fl;
    tma_status s = iothub_flash_file_open(&h->ff, o->outbox_flash, g,
                                          IOTHUB_FLASH_FILE_SYNC | IOTHUB_FLASH_FILE_STRICT, &fl);
    if (s == TMA_ERR(TMA_LAYER_STORE, TMA_C_MALFORMED) && h->ff.found.sector_count == 0) {
        fprintf(stderr, "outbox: '%s' (%llu bytes) is not a flash file (left unchanged; give another --outbox-flash)\n",
                o->outbox_flash, (unsigned long long)h->ff.file_size);
        return 1;
    }
    if (s == TMA_ERR(TMA_LAYER_STORE, TMA_C_MALFORMED)) {
        fprintf(stderr,
                "outbox: '%s' is a flash of %u x %u bytes, unit %u, not %u x %u, unit %u (left unchanged; give "
                "its geometry or none)\n",
                o->outbox_flash, (unsigned)h->ff.found.sector_count, (unsigned)h->ff.found.sector_size,
                (unsigned)h->ff.found.program_unit, (unsigned)g->sector_count, (unsigned)g->sector_size,
                (unsigned)g->program_unit);
        return 1;
    }
    if (s == TMA_ERR(TMA_LAYER_STORE, TMA_C_IN_USE)) {
        fprintf(stderr, "outbox: '%s' is in use by another process (one device per outbox)\n", o->outbox_flash);
        return 1;
    }
    if (s != TMA_OK) {
        fprintf(stderr, "outbox: cannot open '%s': %s%s%s\n", o->outbox_flash, tma_status_str(s),
                TMA_STATUS_CODE(s) == TMA_C_IO ? ": " : "", TMA_STATUS_CODE(s) == TMA_C_IO ? strerror(errno) : "");
        return 1;
    }
    s = iothub_flash_storage_open(&h->fls, &fl, out_st);
    if (s != TMA_OK) {
        fprintf(stderr, "outbox: '%s': flash log: %s\n", o->outbox_flash, tma_status_str(s));
        iothub_flash_file_close(&h->ff);
        return 1;
    }
    printf("outbox: flash log on %s, %u sectors of %u bytes, program unit %u, messages up to %zu bytes\n",
           o->outbox_flash, (unsigned)fl.sector_count, (unsigned)fl.sector_size, (unsigned)fl.program_unit,
           iothub_flash_storage_max_record(&h->fls));
    return 0;
}

/* --outbox (or ./<device id>.outbox): the log file, fsync()ed per record. */
static int storage_open_file(struct sample_hub *h, const struct sample_opts *o, const char *device_id,
                             struct iothub_storage *out_st)
{
    static char path[512];
    tma_status s;
    if (o->outbox != NULL) {
        snprintf(path, sizeof(path), "%s", o->outbox);
    } else {
        snprintf(path, sizeof(path), "%s.outbox", device_id);
    }
    s = iothub_file_storage_open(&h->fs, path, true);
    if (s == TMA_ERR(TMA_LAYER_STORE, TMA_C_MALFORMED)) {
        fprintf(stderr, "outbox: '%s' is not an outbox file (left unchanged; give another --outbox)\n", path);
        return 1;
    }
    if (s == TMA_ERR(TMA_LAYER_STORE, TMA_C_UNSUPPORTED)) {
        fprintf(stderr, "outbox: '%s' is an outbox of another format version (left unchanged)\n", path);
        return 1;
    }
    if (s == TMA_ERR(TMA_LAYER_STORE, TMA_C_IN_USE)) {
        fprintf(stderr, "outbox: '%s' is in use by another process (one device per outbox)\n", path);
        return 1;
    }
    if (s == TMA_ERR(TMA_LAYER_STORE, TMA_C_INTEGRITY)) {
        fprintf(stderr, "outbox: '%s' has a damaged file header (left unchanged; its messages cannot be read "
                        "without it: keep the file for inspection and give another --outbox)\n", path);
        return 1;
    }
    if (s != TMA_OK) {
        /* The errno may be the lock file's (port/storage_file.c takes
         * "<path>.lock" first): name both, or a reason like "No such file
         * or directory" reads as if it were about the outbox itself. */
        int e = errno;
        fprintf(stderr, "outbox: cannot open '%s' (with its lock file '%s.lock'): %s%s%s\n", path, path,
                tma_status_str(s), TMA_STATUS_CODE(s) == TMA_C_IO ? ": " : "",
                TMA_STATUS_CODE(s) == TMA_C_IO ? strerror(e) : "");
        return 1;
    }
    if (h->fs.damaged_bytes > 0) {
        fprintf(stderr,
                "outbox: %s was damaged: %llu byte(s) in %u place(s) skipped, the records after them "
                "recovered; the original is kept as %s\n",
                path, (unsigned long long)h->fs.damaged_bytes, (unsigned)h->fs.damaged_regions,
                h->fs.damaged_path != NULL ? h->fs.damaged_path : "?");
    }
    if (h->fs.truncated_bytes > 0) {
        fprintf(stderr, "outbox: %s: cut %llu byte(s) of an unfinished write (earlier crash)\n", path,
                (unsigned long long)h->fs.truncated_bytes);
    }
    if (h->fs.format_found == 1u) {
        fprintf(stderr, "outbox: %s: rewritten from format 1 to format 2 (every message kept)\n", path);
    }
    *out_st = iothub_file_storage_iface(&h->fs);
    return 0;
}

int sample_hub_init(struct sample_hub *h, struct sample_net *n, const struct sample_opts *o,
                    const char *host, const char *device_id, uint32_t subs,
                    const struct iothub_callbacks *cb)
{
    struct iothub_client_config cfg;
    struct iothub_storage st;
    tma_status s;
    if ((o->outbox_flash != NULL ? storage_open_flash(h, o, &st) : storage_open_file(h, o, device_id, &st)) != 0) {
        return 1;
    }
    s = iothub_outbox_init(&h->outbox, &st, 10000, IOTHUB_OUTBOX_DROP_OLDEST);
    if (s != TMA_OK) {
        fprintf(stderr, "outbox: %s\n", tma_status_str(s));
        storage_close(h);
        return 1;
    }
    if (iothub_outbox_count(&h->outbox) > 0) {
        printf("outbox: %u unacknowledged message(s) from an earlier run will be sent first\n",
               iothub_outbox_count(&h->outbox));
    }
    sample_conn_config(&cfg, n, o);
    cfg.id.host = host;
    cfg.id.device_id = device_id;
    cfg.id.module_id = o->module_id;
    cfg.model_id = o->model_id;
    cfg.subscriptions = subs;
    cfg.outbox = &h->outbox;
    cfg.cb = *cb;
    s = iothub_client_init(&h->client, &cfg);
    if (s != TMA_OK) {
        fprintf(stderr, "client: %s\n", tma_status_str(s));
        storage_close(h);
        return 1;
    }
    h->net = n;
    return 0;
}

void sample_hub_close(struct sample_hub *h)
{
    iothub_client_disconnect(&h->client);
    storage_close(h);
}

int sample_run(struct sample_hub *h, const struct sample_opts *o, bool (*done)(void *), void *ctx,
               void (*tick)(void *), void *tick_ctx)
{
    uint64_t start = sample_mono_ms(NULL), last_connected = start;
    bool told_store = false;
    while (!sample_stop) {
        uint64_t now;
        const struct iothub_outbox *ob = &h->outbox;
        tma_status st = iothub_client_step(&h->client);
        now = sample_mono_ms(NULL);
        if (st < 0 && TMA_STATUS_LAYER(st) == TMA_LAYER_STORE && !told_store) {
            /* The connection stays and the client tries again at every
             * step; said once, or a stuck outbox would look like silence. */
            fprintf(stderr, "outbox: the next message cannot be read (%s): it stays stored and "
                            "holds back the messages after it; tried again every 20 ms\n",
                    tma_status_str(st));
            told_store = true;
        }
        if (iothub_client_state(&h->client) == IOTHUB_STATE_AUTH_FAILED) {
            fprintf(stderr, "hub refused the connection: %s\n",
                    iothub_reason_text(iothub_client_last_reason(&h->client)));
            return 1;
        }
        if (iothub_client_state(&h->client) == IOTHUB_STATE_CONNECTED) {
            last_connected = now;
        } else if (now - last_connected > (uint64_t)o->timeout_ms) {
            fprintf(stderr, "no connection for %ld ms (last: %s)\n", o->timeout_ms,
                    iothub_reason_text(iothub_client_last_reason(&h->client)));
            return 1;
        }
        if (tick != NULL) {
            tick(tick_ctx);
        }
        if (done != NULL && done(ctx)) {
            return 0;
        }
        if (o->run_ms > 0 && now - start >= (uint64_t)o->run_ms) {
            return 0; /* a timed run that ends is a success; callers check their own goals */
        }
        if (iothub_client_state(&h->client) != IOTHUB_STATE_CONNECTED) {
            uint64_t w = iothub_client_next_attempt_in_ms(&h->client);
            sample_sleep_ms(w > 100 ? 100 : (w == 0 ? 1 : w));
        } else if (!iothub_outbox_has_due(ob) ||
                   mqtt_client_inflight_publishes(&h->client.mqtt) >= h->client.cfg.window ||
                   (st < 0 && TMA_STATUS_LAYER(st) == TMA_LAYER_STORE)) {
            /* Nothing to send now: wait for the hub (or 20 ms for the next
             * tick). Also when every stored message is in flight (nothing
             * left to hand out: a late PUBACK, as IoT Hub sends under
             * throttling) and when the outbox could not be read (the next
             * read in 20 ms, not at once): before (RETRY16) both asked the
             * client again at once, one core at 100 % until the PUBACK came. */
            struct pollfd p;
            p.fd = h->net->tls->net.fd;
            p.events = POLLIN;
            p.revents = 0;
            (void)poll(&p, 1, 20);
        }
    }
    return 1;
}

void sample_put(const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;
    for (i = 0; i < n; i++) {
        /* Bytes from the network never reach the terminal as control
         * characters (escape sequences, carriage returns, NUL). */
        if (b[i] < 0x20 || b[i] == 0x7F) {
            printf("\\x%02X", b[i]);
        } else {
            putchar(b[i]);
        }
    }
}

static void print_bag(struct tma_span bag)
{
    struct iothub_bag_iter it;
    struct tma_span k, v;
    bool has;
    char kd[256], vd[1024];
    size_t kl, vl;
    iothub_bag_iter_init(&it, bag);
    while (iothub_bag_next(&it, &k, &v, &has) == TMA_OK) {
        /* A property that does not decode (bad %-escape, longer than the
         * buffer) is shown as it came, marked, rather than left out. */
        bool kok = iothub_url_decode(k, kd, sizeof(kd), &kl) == TMA_OK;
        bool vok = !has || iothub_url_decode(v, vd, sizeof(vd), &vl) == TMA_OK;
        fputs("  property ", stdout);
        sample_put(kok ? (const void *)kd : (const void *)k.ptr, kok ? kl : k.len);
        if (has) {
            fputs(" = ", stdout);
            sample_put(vok ? (const void *)vd : (const void *)v.ptr, vok ? vl : v.len);
        }
        if (!kok || !vok) {
            fputs(" (not URL-decodable: shown as received)", stdout);
        }
        putchar('\n');
    }
    fflush(stdout);
}

const char *sample_event_name(enum iothub_event ev)
{
    switch (ev) {
    case IOTHUB_EVENT_CONNECTED: return "connected";
    case IOTHUB_EVENT_AUTH_FAILED: return "refused";
    case IOTHUB_EVENT_SUBSCRIBE_REFUSED: return "subscription refused (no C2D, twin or method messages on this connection)";
    default: return "disconnected";
    }
}

void sample_print_c2d(struct tma_span bag, struct tma_span payload)
{
    fputs("C2D message: ", stdout);
    sample_put(payload.ptr, payload.len);
    putchar('\n');
    print_bag(bag);
}

void sample_print_input(struct tma_span input, struct tma_span bag, struct tma_span payload)
{
    char in[256];
    size_t n;
    fputs("input message on '", stdout);
    if (iothub_url_decode(input, in, sizeof(in), &n) == TMA_OK) {
        sample_put(in, n);
    } else {
        sample_put(input.ptr, input.len);
    }
    fputs("': ", stdout);
    sample_put(payload.ptr, payload.len);
    putchar('\n');
    print_bag(bag);
}
