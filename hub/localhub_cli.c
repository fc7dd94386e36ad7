/*
 * localhub: command line of the local IoT Hub / DPS (shaped like `az iot hub`).
 * State lives in one folder (--state DIR, env LOCALHUB_HOME, default ./.localhub).
 * Live operations go through the registry database, which the broker plugin
 * polls (see docs/localhub.md).
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/x509v3.h>

#include "localhub_db.h"
#include "localhub_parse.h"
#include "localhub_pki.h"

#ifndef LOCALHUB_VERSION
#define LOCALHUB_VERSION "0"
#endif

#define C2D_QUEUE_MAX 50
#define C2D_MAX_SIZE (64 * 1024)

/* ------------------------------------------------------------------ */
/* options                                                             */

#define MAX_OPTS 64
static struct {
    const char *name;
    const char *value; /* NULL for flags */
    int used;
} opts[MAX_OPTS];
static int nopts;
static const char *pos[16];
static int npos;
static int json_out;
static char state_dir[2048];
static const char *cmd_path = "localhub";

/* Options that take no value. */
static const char *const flag_names[] = {"--json", "--help", "-h", "--version", "--verified", "--from-start",
                                         "--disabled", NULL};

static int is_flag(const char *n)
{
    for (int i = 0; flag_names[i]; i++)
        if (strcmp(flag_names[i], n) == 0) return 1;
    return 0;
}

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: error: ", cmd_path);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static const char *opt(const char *name)
{
    const char *v = NULL;
    for (int i = 0; i < nopts; i++)
        if (strcmp(opts[i].name, name) == 0) {
            opts[i].used = 1;
            v = opts[i].value ? opts[i].value : "";
        }
    return v;
}

static int flag(const char *name)
{
    return opt(name) != NULL;
}

static const char *need(const char *name)
{
    const char *v = opt(name);
    if (!v || !*v) die("missing required option %s (see --help)", name);
    return v;
}

/* The device and module options, with the names az also accepts. */
static const char *opt_device(void)
{
    const char *d = opt("--device");
    if (!d) d = opt("--device-id");
    if (!d) d = opt("-d");
    return d;
}

static const char *opt_module(void)
{
    const char *m = opt("--module");
    return m ? m : opt("--module-id");
}

static const char *need_device(void)
{
    const char *d = opt_device();
    if (!d || !*d) die("missing required option --device (see --help)");
    return d;
}

/* Whether a word may be a secret (a SAS key: 16 or more base64 characters;
 * a connection string or token holding one): an error message names it by
 * its position instead of echoing it into a terminal or a log. */
static int may_be_secret(const char *s)
{
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=");
    return (n >= 16 && s[n] == '\0') || strstr(s, "SharedAccess") || strstr(s, "sig=");
}

/* Every option must have been consumed by the command. */
static void no_extra(int max_pos)
{
    for (int i = 0; i < nopts; i++)
        if (!opts[i].used) die("unknown option %s for this command (see --help)", opts[i].name);
    if (npos > max_pos && may_be_secret(pos[max_pos]))
        die("an unexpected argument, not shown: it may be a key (see --help)");
    if (npos > max_pos) die("unexpected argument '%s' (see --help)", pos[max_pos]);
}

static long num(const char *name, const char *v, long lo, long hi)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || !end || *end || end == v || n < lo || n > hi) die("%s must be an integer in %ld..%ld", name, lo, hi);
    return n;
}

/* ------------------------------------------------------------------ */
/* output                                                              */

static void print_scalar(const cJSON *v)
{
    if (cJSON_IsString(v)) {
        fputs(v->valuestring, stdout);
    } else {
        char *s = cJSON_PrintUnformatted(v);
        fputs(s ? s : "", stdout);
        free(s);
    }
}

/* --json: pretty JSON; otherwise "key: value" lines, or one line per item. */
static void emit(cJSON *v)
{
    if (json_out) {
        char *s = cJSON_Print(v);
        puts(s ? s : "null");
        free(s);
    } else if (cJSON_IsArray(v)) {
        for (cJSON *it = v->child; it; it = it->next) {
            int first = 1;
            if (!cJSON_IsObject(it)) {
                print_scalar(it);
            } else {
                for (cJSON *f = it->child; f; f = f->next) {
                    if (cJSON_IsObject(f) || cJSON_IsArray(f)) continue;
                    if (!first) fputs("  ", stdout);
                    print_scalar(f);
                    first = 0;
                }
            }
            fputc('\n', stdout);
        }
    } else if (cJSON_IsObject(v)) {
        for (cJSON *f = v->child; f; f = f->next) {
            printf("%s: ", f->string);
            print_scalar(f);
            fputc('\n', stdout);
        }
    } else {
        print_scalar(v);
        fputc('\n', stdout);
    }
    cJSON_Delete(v);
}

/* ------------------------------------------------------------------ */
/* state                                                               */

/* Set for commands that only report (status, ... list, ... show): they must
 * not create a state folder or registry where none exists. */
static int read_only_cmd;

/* The state folder holds every SAS device key and the hub's private keys:
 * it is the user's alone (0700), also when the user supplied an existing
 * folder; the registry files in it are 0600. */
/* 1 if folder @dir has no entries but . and .. (0 also when unreadable). */
static int dir_empty(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int empty = 1;
    if (!d) return 0;
    while (empty && (e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = 0;
    closedir(d);
    return empty;
}

static void state_dir_secure(void)
{
    struct stat sb;
    char path[4096];
    static const char *const files[] = {"registry.db", "registry.db-journal", "registry.db-wal", "registry.db-shm"};
    if (stat(state_dir, &sb) != 0) die("state folder %s: %s", state_dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) die("state folder %s is not a folder", state_dir);
    if ((sb.st_mode & 077) != 0) {
        /* Tightened only when it is this user's to tighten: their own, not
         * a shared one (sticky bit, like /tmp), and empty or already a
         * localhub folder (a registry in it). --state /tmp, /, a home or a
         * project folder given by mistake is refused, never chmod'ed. */
        int ours = sb.st_uid == geteuid() && !(sb.st_mode & S_ISVTX);
        if ((size_t)snprintf(path, sizeof(path), "%s/registry.db", state_dir) >= sizeof(path)) die("state path too long");
        if (!ours || !(dir_empty(state_dir) || access(path, F_OK) == 0))
            die("state folder %s is accessible by others (mode %03o) and is not an empty or localhub folder of "
                "yours: give a new folder, or make this one private (chmod 700) first",
                state_dir, (unsigned)(sb.st_mode & 0777));
        if (chmod(state_dir, 0700) != 0)
            die("state folder %s is accessible by others and cannot be made private (chmod 700): %s", state_dir,
                strerror(errno));
    }
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir, files[i]) >= sizeof(path)) die("state path too long");
        if (stat(path, &sb) == 0 && (sb.st_mode & 077) != 0 && chmod(path, 0600) != 0)
            die("%s is readable by others and cannot be made private (chmod 600): %s", path, strerror(errno));
    }
}

static sqlite3 *db_open(void)
{
    char err[512], path[4096];
    sqlite3 *db;
    if (read_only_cmd) {
        if ((size_t)snprintf(path, sizeof(path), "%s/registry.db", state_dir) >= sizeof(path)) die("state path too long");
        if (access(path, F_OK) != 0) die("no localhub state in %s (give --state FOLDER or create a device first)", state_dir);
    } else if (mkdir(state_dir, 0700) && errno != EEXIST) {
        die("cannot create state folder %s: %s", state_dir, strerror(errno));
    }
    state_dir_secure();
    db = localhub_db_open(state_dir, err, sizeof(err));
    if (!db) die("%s", err);
    return db;
}

static void path_in(char *out, size_t n, const char *name)
{
    if ((size_t)snprintf(out, n, "%s/%s", state_dir, name) >= n) die("state path too long");
}

static const char *scol(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? s : "";
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die("registry: %s", sqlite3_errmsg(db));
    return st;
}

static void step_done(sqlite3 *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        const char *m = sqlite3_errmsg(db);
        die("registry: %s", m);
    }
    sqlite3_finalize(st);
}

/* Step an INSERT: 0 when done, 1 when the row exists already (primary key
 * or unique constraint); any other failure dies with SQLite's reason. Every
 * failure read "already exists" before, also a registry locked by another
 * process ("device 'x' already exists" for a device that did not). */
static int insert_step(sqlite3 *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st), ext;
    if (rc == SQLITE_DONE) return 0;
    ext = sqlite3_extended_errcode(db);
    if (ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE) return 1;
    die("registry: %s", sqlite3_errmsg(db));
}

/* pid of the running broker, or 0. Checks that the pid is really ours. */
static pid_t hub_pid(void)
{
    char path[4096], buf[64], proc[64], cmd[8192];
    FILE *f;
    long pid;
    path_in(path, sizeof(path), "broker.pid");
    f = fopen(path, "r");
    if (!f) return 0;
    if (!fgets(buf, sizeof(buf), f)) buf[0] = '\0';
    fclose(f);
    pid = strtol(buf, NULL, 10);
    if (pid <= 0) return 0;
    snprintf(proc, sizeof(proc), "/proc/%ld/stat", pid);
    f = fopen(proc, "r");
    if (!f) return 0;
    char st = 0;
    if (fscanf(f, "%*d (%*[^)]) %c", &st) != 1) st = 0;
    fclose(f);
    if (st == 'Z' || st == 0) return 0;
    snprintf(proc, sizeof(proc), "/proc/%ld/cmdline", pid);
    f = fopen(proc, "r");
    if (!f) return 0;
    size_t n = fread(cmd, 1, sizeof(cmd) - 1, f);
    fclose(f);
    cmd[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (cmd[i] == '\0') cmd[i] = ' ';
    path_in(path, sizeof(path), "mosquitto.conf");
    return strstr(cmd, path) ? (pid_t)pid : 0;
}

/* ------------------------------------------------------------------ */
/* life cycle                                                          */

/* What a host name, an IP address literal or HOST:PORT is made of. */
#define ADDR_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-:"

static void ensure_identity(sqlite3 *db, const char *hostname)
{
    char v[256];
    if (hostname) {
        if (!*hostname || strlen(hostname) > LOCALHUB_HOST_MAX || strspn(hostname, ADDR_CHARS) != strlen(hostname))
            die("invalid --hostname: one host name with an optional :PORT (letters, digits, '.', '-', ':')");
        localhub_db_meta_set(db, "hostname", hostname);
    } else if (localhub_db_meta_get(db, "hostname", v, sizeof(v))) {
        localhub_db_meta_set(db, "hostname", "localhost");
    }
    if (localhub_db_meta_get(db, "id_scope", v, sizeof(v))) {
        char hex[9];
        localhub_random_hex(hex, 4);
        for (char *p = hex; *p; p++)
            if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
        snprintf(v, sizeof(v), "0ne%s", hex);
        localhub_db_meta_set(db, "id_scope", v);
    }
}

static int port_open(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0), ok;
    struct sockaddr_in a = {0};
    if (s < 0) return 0;
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(s);
    return ok;
}

/* Whether [::1]:port can be bound: the machine has an IPv6 loopback and
 * nothing listens there. */
static int ipv6_loopback_free(long port)
{
    int s = socket(AF_INET6, SOCK_STREAM, 0), ok, one = 1;
    struct sockaddr_in6 a;
    if (s < 0) return 0;
    memset(&a, 0, sizeof(a));
    a.sin6_family = AF_INET6;
    a.sin6_port = htons((uint16_t)port);
    a.sin6_addr = in6addr_loopback;
    (void)setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    (void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    ok = bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(s);
    return ok;
}

static int file_contains(const char *path, const char *needle, char *last_line, size_t lsz)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int found = 0;
    if (!f) return 0;
    while (fgets(line, sizeof(line), f)) {
        if (strstr(line, needle)) found = 1;
        if (last_line && (strstr(line, "Error") || strstr(line, "error"))) {
            line[strcspn(line, "\n")] = '\0';
            size_t k = strlen(line) < lsz ? strlen(line) : lsz - 1;
            memcpy(last_line, line, k);
            last_line[k] = '\0';
        }
    }
    fclose(f);
    return found;
}

/* A byte count with an optional K, M or G suffix (powers of 1024). */
static long long size_arg(const char *name, const char *v, long long lo, long long hi)
{
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10), mul = 1;
    if (end && *end && !end[1]) {
        if (*end == 'K' || *end == 'k') mul = 1024, end++;
        else if (*end == 'M' || *end == 'm') mul = 1024 * 1024, end++;
        else if (*end == 'G' || *end == 'g') mul = 1024LL * 1024 * 1024, end++;
    }
    if (errno || !end || *end || end == v || n < 0 || n > hi / mul || n * mul < lo)
        die("%s must be a size in %lld..%lld bytes (suffix K, M or G allowed)", name, lo, hi);
    return n * mul;
}

/* The server certificate: made with the root at the first start; renewed
 * from the same root when it ends within LOCALHUB_SERVER_RENEW_DAYS (devices
 * keep trusting the root). The root is only reported: replacing it would
 * cut off every device that has it as its trust anchor. */
static void check_server_pki(const char *ca, const char *cakey, const char *srv, const char *srvkey)
{
    X509 *root;
    int64_t left;
    char when[32];
    if (access(srv, R_OK) != 0 || access(srvkey, R_OK) != 0) {
        if (access(ca, R_OK) == 0 && access(cakey, R_OK) == 0) {
            if (localhub_renew_server_cert(ca, cakey, srv, srvkey, NULL))
                die("cannot make a server certificate with the root CA %s", ca);
            fprintf(stderr, "%s: server certificate was missing: made a new one with the root CA %s\n", cmd_path, ca);
        } else if (localhub_make_server_pki(ca, cakey, srv, srvkey, NULL)) {
            die("cannot create the server certificates");
        }
    }
    struct localhub_renewal r;
    switch (localhub_server_cert_renew_due(ca, cakey, srv, srvkey, 0, &r)) {
    case 1:
        fprintf(stderr, "%s: server certificate %s %s: renewed with the same root CA, valid until %s\n", cmd_path,
                r.left_s < 0 ? "expired on" : "was to expire on", r.old_end, r.new_end);
        break;
    case -2:
        fprintf(stderr, "%s: warning: the server certificate %s %s and was not issued by %s: replace it yourself\n",
                cmd_path, srv, r.left_s < 0 ? "has expired" : "expires soon", ca);
        break;
    case -1:
        if (r.old_end[0]) die("the server certificate %s ends %s and cannot be renewed with %s", srv, r.old_end, ca);
        break; /* unreadable: mosquitto says so when it loads it */
    default:
        break;
    }
    root = localhub_cert_load_file(ca);
    left = localhub_cert_seconds_left(root);
    if (root && left < (int64_t)LOCALHUB_ROOT_WARN_DAYS * 86400) {
        localhub_cert_not_after(root, when);
        fprintf(stderr,
                "%s: warning: the root CA %s %s %s: every device trusts it; plan its replacement (docs/localhub.md)\n",
                cmd_path, ca, left < 0 ? "expired on" : "expires on", when);
    }
    X509_free(root);
}

static void cmd_start(void)
{
    const char *port_s = opt("--port"), *hostname = opt("--hostname"), *bind_addr = opt("--bind");
    long port = port_s ? num("--port", port_s, 1, 65535) : 8883;
    /* Settings the plugin reads at start (meta table); kept for later starts. */
    const char *tmax = opt("--telemetry-max-size"), *tkeep = opt("--telemetry-keep"), *dret = opt("--dps-op-retention");
    long long tmax_n = tmax ? size_arg("--telemetry-max-size", tmax, 1024, 1LL << 50) : 0;
    long tkeep_n = tkeep ? num("--telemetry-keep", tkeep, 0, 100) : 0;
    long dret_n = dret ? num("--dps-op-retention", dret, 1, 30L * 86400) : 0;
    char conf[4096], pki[4096], ca[4096], cakey[4096], srv[4096], srvkey[4096], log[4096], pidf[4096], persist[4096];
    char out[4096], errline[512] = "";
    sqlite3 *db;
    FILE *f;
    pid_t pid;
    no_extra(1);
    /* By default the IPv4 and the IPv6 loopback: "localhost" names both on
     * Debian (/etc/hosts), and a client that tries only the first address
     * (Node.js 18's, for one) went to ::1 and was refused. ::1 only where
     * the machine has it. */
    int also_ipv6 = 0;
    if (!bind_addr) {
        bind_addr = "127.0.0.1";
        also_ipv6 = ipv6_loopback_free(port);
    }
    /* It goes into mosquitto.conf as is: a newline in it added listeners of
     * its own (without TLS, on every interface). Host names and IPv4/IPv6
     * literals need no other characters. */
    if (!*bind_addr || strlen(bind_addr) > LOCALHUB_HOST_MAX || strspn(bind_addr, ADDR_CHARS) != strlen(bind_addr))
        die("--bind must be one IP address or host name (letters, digits, '.', '-', ':')");
    if (strpbrk(state_dir, " \t\n\r"))
        die("the state folder '%s' contains whitespace, which mosquitto's configuration cannot express", state_dir);
    db = db_open();
    {
        /* One start at a time per state folder: two at once both found no
         * broker and both started one (on two ports, one registry), and
         * 'stop' then stopped only the second. The lock is released when
         * this process exits; mosquitto does not inherit it (O_CLOEXEC). */
        char lockp[4096];
        int lfd;
        path_in(lockp, sizeof(lockp), "start.lock");
        lfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lfd < 0) die("cannot open %s: %s", lockp, strerror(errno));
        while (flock(lfd, LOCK_EX) != 0)
            if (errno != EINTR) die("cannot lock %s: %s", lockp, strerror(errno));
    }
    if ((pid = hub_pid())) die("localhub is already running (pid %d); run 'localhub stop' first", (int)pid);
    ensure_identity(db, hostname);
    path_in(pki, sizeof(pki), "pki");
    mkdir(pki, 0700);
    path_in(ca, sizeof(ca), "pki/root-ca.pem");
    path_in(cakey, sizeof(cakey), "pki/root-ca.key");
    path_in(srv, sizeof(srv), "pki/server.pem");
    path_in(srvkey, sizeof(srvkey), "pki/server.key");
    check_server_pki(ca, cakey, srv, srvkey);
    path_in(conf, sizeof(conf), "mosquitto.conf");
    path_in(log, sizeof(log), "broker.log");
    path_in(persist, sizeof(persist), "broker/");
    mkdir(persist, 0700);
    path_in(pidf, sizeof(pidf), "broker.pid");
    path_in(out, sizeof(out), "broker.out");
    unlink(log);
    f = fopen(conf, "w");
    if (!f) die("cannot write %s", conf);
    struct passwd *pw = getpwuid(geteuid());
    fprintf(f,
            "# written by localhub start; edits are overwritten\n"
            "per_listener_settings false\n"
            "allow_anonymous true\n"
            "user %s\n"
            "persistence true\n"
            "persistence_location %s\n"
            "autosave_interval 5\n"
            "max_queued_messages 1000\n"
            "max_inflight_messages 20\n"
            "log_dest file %s\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
            "connection_messages true\n"
            "plugin %s\n"
            "plugin_opt_state_dir %s\n",
            pw ? pw->pw_name : "mosquitto", persist, log, LOCALHUB_PLUGIN_PATH, state_dir);
    for (int l = 0; l < 1 + also_ipv6; l++)
        fprintf(f,
                "listener %ld %s\n"
                "certfile %s\nkeyfile %s\ncafile %s\n"
                "require_certificate true\n"
                "tls_version tlsv1.2\n"
                /* TLS 1.2: the four suites IoT Hub enforces since 2025-08-31
                 * (spec 1.1, D4/D4a; RSA server key): no static-RSA, DHE, CBC-SHA1
                 * or ChaCha suite a device could come to rely on here only. */
                "ciphers ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA256:"
                "ECDHE-RSA-AES256-SHA384\n"
                "max_qos 1\n",
                port, l ? "::1" : bind_addr, srv, srvkey, ca);
    if (fclose(f)) die("cannot write %s", conf);
    localhub_db_meta_set(db, "port", port_s ? port_s : "8883");
    {
        char v[32];
        if (tmax) {
            snprintf(v, sizeof(v), "%lld", tmax_n);
            localhub_db_meta_set(db, "telemetry_max_bytes", v);
        }
        if (tkeep) {
            snprintf(v, sizeof(v), "%ld", tkeep_n);
            localhub_db_meta_set(db, "telemetry_keep", v);
        }
        if (dret) {
            snprintf(v, sizeof(v), "%ld", dret_n);
            localhub_db_meta_set(db, "dps_op_retention_s", v);
        }
    }
    sqlite3_close(db);

    pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        char preload[8192], asan[4200];
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        setsid();
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 0);
            close(fd);
        }
        snprintf(preload, sizeof(preload), "%s%s%s", LOCALHUB_SAN_PRELOAD, LOCALHUB_SAN_PRELOAD[0] ? ":" : "",
                 LOCALHUB_SHIM_PATH);
        setenv("LD_PRELOAD", preload, 1);
        /* mosquitto's own allocations are not ours to judge; our bugs still abort. */
        snprintf(asan, sizeof(asan), "detect_leaks=0:abort_on_error=1:log_path=%s/asan", state_dir);
        setenv("ASAN_OPTIONS", asan, 1);
        snprintf(asan, sizeof(asan), "print_stacktrace=1:log_path=%s/ubsan", state_dir);
        setenv("UBSAN_OPTIONS", asan, 1);
        execl(LOCALHUB_MOSQUITTO_PATH, "mosquitto", "-c", conf, (char *)NULL);
        _exit(127);
    }
    f = fopen(pidf, "w");
    if (f) {
        fprintf(f, "%d\n", (int)pid);
        fclose(f);
    }
    for (int i = 0; i < 200; i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            unlink(pidf);
            file_contains(log, "\n", errline, sizeof(errline));
            if (!errline[0]) file_contains(out, "\n", errline, sizeof(errline));
            die("broker exited during start (port %ld in use?): %s", port, errline[0] ? errline : "see broker.log");
        }
        if (file_contains(log, " running", NULL, 0) && file_contains(log, "localhub: plugin ready", NULL, 0) &&
            port_open((int)port)) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "status", "running");
            cJSON_AddNumberToObject(o, "pid", pid);
            cJSON_AddNumberToObject(o, "port", (double)port);
            cJSON_AddStringToObject(o, "caFile", ca);
            emit(o);
            return;
        }
        usleep(50000);
    }
    kill(pid, SIGKILL);
    unlink(pidf);
    die("broker did not become ready within 10 s; see %s", log);
}

static void cmd_stop(void)
{
    char pidf[4096];
    pid_t pid;
    no_extra(1);
    pid = hub_pid();
    path_in(pidf, sizeof(pidf), "broker.pid");
    if (!pid) {
        unlink(pidf);
        if (json_out) emit(cJSON_CreateString("stopped"));
        else printf("localhub is not running (state folder %s; --state DIR or LOCALHUB_HOME names another)\n",
                    state_dir);
        return;
    }
    kill(pid, SIGTERM);
    for (int i = 0; i < 200 && hub_pid(); i++) {
        waitpid(pid, NULL, WNOHANG);
        usleep(50000);
    }
    if (hub_pid()) {
        kill(pid, SIGKILL);
        usleep(100000);
    }
    unlink(pidf);
    if (json_out) emit(cJSON_CreateString("stopped"));
    else puts("localhub stopped");
}

static int count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = prep(db, sql);
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return n;
}

static void cmd_status(void)
{
    sqlite3 *db;
    char v[256], ca[4096];
    pid_t pid;
    cJSON *o = cJSON_CreateObject();
    no_extra(1);
    db = db_open();
    pid = hub_pid();
    cJSON_AddStringToObject(o, "status", pid ? "running" : "stopped");
    if (pid) cJSON_AddNumberToObject(o, "pid", pid);
    if (!localhub_db_meta_get(db, "port", v, sizeof(v))) cJSON_AddNumberToObject(o, "port", atoi(v));
    if (!localhub_db_meta_get(db, "hostname", v, sizeof(v))) cJSON_AddStringToObject(o, "hostName", v);
    if (!localhub_db_meta_get(db, "id_scope", v, sizeof(v))) cJSON_AddStringToObject(o, "idScope", v);
    cJSON_AddStringToObject(o, "stateDir", state_dir);
    path_in(ca, sizeof(ca), "pki/root-ca.pem");
    cJSON_AddStringToObject(o, "caFile", ca);
    cJSON_AddNumberToObject(o, "devices", count(db, "SELECT count(*) FROM devices"));
    cJSON_AddNumberToObject(o, "connected", count(db, "SELECT count(*) FROM devices WHERE conn_state='Connected'"));
    cJSON_AddNumberToObject(o, "modules", count(db, "SELECT count(*) FROM modules"));
    cJSON_AddNumberToObject(o, "connectedModules", count(db, "SELECT count(*) FROM modules WHERE conn_state='Connected'"));
    cJSON_AddNumberToObject(o, "certificates", count(db, "SELECT count(*) FROM cas"));
    cJSON_AddNumberToObject(o, "queuedC2d", count(db, "SELECT count(*) FROM c2d"));
    cJSON_AddNumberToObject(o, "telemetryWriteErrors",
                            localhub_db_meta_get(db, "telemetry_write_errors", v, sizeof(v)) ? 0 : atof(v));
    cJSON_AddNumberToObject(o, "dpsOperations", count(db, "SELECT count(*) FROM dps_ops"));
    {
        /* certificate ends: the server one is renewed at start, the root is not */
        static const char *const files[2] = {"pki/root-ca.pem", "pki/server.pem"};
        static const char *const keys[2] = {"rootCaNotAfter", "serverCertNotAfter"};
        char path[4096], when[32];
        cJSON *warn = cJSON_CreateArray();
        for (int i = 0; i < 2; i++) {
            path_in(path, sizeof(path), files[i]);
            X509 *c = localhub_cert_load_file(path);
            int64_t left = localhub_cert_seconds_left(c);
            if (c && !localhub_cert_not_after(c, when)) {
                cJSON_AddStringToObject(o, keys[i], when);
                if (i == 0 && left < (int64_t)LOCALHUB_ROOT_WARN_DAYS * 86400) {
                    char w[160];
                    snprintf(w, sizeof(w), "root CA %s %s: plan its replacement", left < 0 ? "expired on" : "expires on",
                             when);
                    cJSON_AddItemToArray(warn, cJSON_CreateString(w));
                }
                if (i == 1 && left < (int64_t)LOCALHUB_SERVER_RENEW_DAYS * 86400) {
                    char w[160];
                    snprintf(w, sizeof(w),
                             "server certificate %s %s: the running broker renews it at its daily check, "
                             "'localhub stop; localhub start' at once",
                             left < 0 ? "expired on" : "expires on", when);
                    cJSON_AddItemToArray(warn, cJSON_CreateString(w));
                }
            }
            X509_free(c);
        }
        cJSON_AddItemToObject(o, "warnings", warn);
    }
    sqlite3_close(db);
    emit(o);
}

/* ------------------------------------------------------------------ */
/* CA certificates                                                     */

static int name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 64) return 0;
    for (const char *p = n; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-_.", *p)))
            return 0;
    return 1;
}

static cJSON *ca_json(sqlite3_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", scol(st, 0));
    cJSON_AddStringToObject(o, "subject", scol(st, 1));
    cJSON_AddStringToObject(o, "thumbprint", scol(st, 2));
    cJSON_AddBoolToObject(o, "isVerified", sqlite3_column_int(st, 3));
    if (!sqlite3_column_int(st, 3)) cJSON_AddStringToObject(o, "verificationCode", scol(st, 4));
    return o;
}

static void cmd_ca(const char *sub)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    if (!sub) die("ca: expected add|verify|list|show|delete (see --help)");
    if (strcmp(sub, "add") == 0) {
        int verified = flag("--verified");
        char code[33], s1[41], s256[65], subj[512];
        X509 *cert;
        no_extra(4);
        if (npos < 4) die("usage: localhub ca add NAME CA.pem [--verified]");
        if (!name_ok(pos[2])) die("invalid certificate name '%s' (letters, digits, - _ .)", pos[2]);
        cert = localhub_cert_load_file(pos[3]);
        if (!cert) die("cannot read a certificate from %s", pos[3]);
        if (X509_check_ca(cert) < 1) die("%s is not a CA certificate (basicConstraints CA:TRUE missing)", pos[3]);
        if (!localhub_cert_time_valid(cert)) die("%s is expired or not yet valid", pos[3]);
        char *pem = localhub_cert_to_pem(cert);
        localhub_cert_thumbprints(cert, s1, s256);
        X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof(subj));
        localhub_random_hex(code, 16);
        for (char *p = code; *p; p++)
            if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
        db = db_open();
        st = prep(db, "INSERT INTO cas(name,pem,code,verified,thumb,subject,created) VALUES(?,?,?,?,?,?,?)");
        sqlite3_bind_text(st, 1, pos[2], -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, pem, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, code, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, verified);
        sqlite3_bind_text(st, 5, s256, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, subj, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, localhub_now_s());
        if (insert_step(db, st)) die("a certificate named '%s' already exists", pos[2]);
        sqlite3_finalize(st);
        sqlite3_close(db);
        free(pem);
        X509_free(cert);
        if (json_out) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", pos[2]);
            cJSON_AddBoolToObject(o, "isVerified", verified);
            if (!verified) cJSON_AddStringToObject(o, "verificationCode", code);
            emit(o);
        } else if (verified) {
            printf("CA '%s' added and marked verified\n", pos[2]);
        } else {
            puts(code);
        }
        return;
    }
    if (strcmp(sub, "verify") == 0) {
        char code[64];
        X509 *verif, *ca;
        no_extra(4);
        if (npos < 4) die("usage: localhub ca verify NAME verification.pem");
        db = db_open();
        st = prep(db, "SELECT pem,code,verified FROM cas WHERE name=?");
        sqlite3_bind_text(st, 1, pos[2], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW) die("no CA certificate named '%s'", pos[2]);
        ca = localhub_cert_from_pem(scol(st, 0));
        snprintf(code, sizeof(code), "%s", scol(st, 1));
        sqlite3_finalize(st);
        verif = localhub_cert_load_file(pos[3]);
        if (!verif) die("cannot read a certificate from %s", pos[3]);
        if (localhub_verify_pop(ca, verif, code))
            die("verification failed: the certificate's CN must be the code %s and it must be signed by the CA's key",
                code);
        st = prep(db, "UPDATE cas SET verified=1 WHERE name=?");
        sqlite3_bind_text(st, 1, pos[2], -1, SQLITE_STATIC);
        step_done(db, st);
        sqlite3_close(db);
        X509_free(ca);
        X509_free(verif);
        if (json_out) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", pos[2]);
            cJSON_AddBoolToObject(o, "isVerified", 1);
            emit(o);
        } else {
            printf("CA '%s' verified\n", pos[2]);
        }
        return;
    }
    if (strcmp(sub, "list") == 0) {
        cJSON *a = cJSON_CreateArray();
        no_extra(2);
        db = db_open();
        st = prep(db, "SELECT name,subject,thumb,verified,code FROM cas ORDER BY name");
        while (sqlite3_step(st) == SQLITE_ROW) cJSON_AddItemToArray(a, ca_json(st));
        sqlite3_finalize(st);
        sqlite3_close(db);
        emit(a);
        return;
    }
    if (strcmp(sub, "show") == 0 || strcmp(sub, "delete") == 0) {
        no_extra(3);
        if (npos < 3) die("usage: localhub ca %s NAME", sub);
        db = db_open();
        st = prep(db, "SELECT name,subject,thumb,verified,code FROM cas WHERE name=?");
        sqlite3_bind_text(st, 1, pos[2], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW) die("no CA certificate named '%s'", pos[2]);
        cJSON *o = ca_json(st);
        sqlite3_finalize(st);
        if (strcmp(sub, "delete") == 0) {
            cJSON_Delete(o);
            st = prep(db, "DELETE FROM cas WHERE name=?");
            sqlite3_bind_text(st, 1, pos[2], -1, SQLITE_STATIC);
            step_done(db, st);
            o = cJSON_CreateString("deleted");
        }
        sqlite3_close(db);
        emit(o);
        return;
    }
    die("ca: unknown command '%s' (add|verify|list|show|delete)", sub);
}

/* ------------------------------------------------------------------ */
/* devices                                                             */

static int thumb_ok(const char *t)
{
    size_t n = strlen(t);
    if (n != 40 && n != 64) return 0;
    for (const char *p = t; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F'))) return 0;
    return 1;
}

/* SHA-256 thumbprint (hex) of the certificate in FILE into s256 (65 bytes). */
static const char *cert_file_thumbprint(const char *file, char s256[65])
{
    char s1[41];
    X509 *c = localhub_cert_load_file(file);
    if (!c || localhub_cert_thumbprints(c, s1, s256)) die("cannot read a certificate from %s", file);
    X509_free(c);
    return s256;
}

/* SAS keys: generate what was not given, then check both are base64. */
static void sas_keys(const char **k1, const char **k2, char key1[45], char key2[45])
{
    char tmp[64];
    if (!*k1) {
        localhub_random_key_b64(key1);
        *k1 = key1;
    }
    if (!*k2) {
        localhub_random_key_b64(key2);
        *k2 = key2;
    }
    int n1 = localhub_key_b64_len(*k1), n2 = localhub_key_b64_len(*k2);
    /* IoT Hub's rule; a shorter key would make a guessable signature. */
    if (n1 < 16 || n1 > 64 || n2 < 16 || n2 > 64 || localhub_hmac_b64(*k1, "x", tmp, sizeof(tmp)) ||
        localhub_hmac_b64(*k2, "x", tmp, sizeof(tmp)))
        die("keys must be base64 (16..64 bytes)");
}

/* The credentials of a new device or module: creds_read() takes --auth
 * (default sas), --thumbprint/--secondary-thumbprint/--cert (x509-thumbprint
 * only) and --primary-key/--secondary-key (sas only; generated when absent)
 * before no_extra() looks for unknown options; creds_check() then refuses
 * what does not fit the method. Members that do not apply stay NULL, as the
 * registry keeps them. */
struct creds {
    const char *auth, *thumb1, *thumb2, *key1, *key2, *certf;
    char s256[65], k1buf[45], k2buf[45];
};

static void creds_read(struct creds *c)
{
    c->auth = opt("--auth");
    c->thumb1 = opt("--thumbprint");
    c->thumb2 = opt("--secondary-thumbprint");
    c->certf = opt("--cert");
    c->key1 = opt("--primary-key");
    c->key2 = opt("--secondary-key");
}

static void creds_check(struct creds *c)
{
    const char *certf = c->certf;
    if (!c->auth) c->auth = "sas";
    if (strcmp(c->auth, "x509-ca") && strcmp(c->auth, "x509-thumbprint") && strcmp(c->auth, "sas"))
        die("--auth must be x509-ca, x509-thumbprint or sas");
    if (strcmp(c->auth, "x509-thumbprint") == 0) {
        if (certf) c->thumb1 = cert_file_thumbprint(certf, c->s256);
        if (!c->thumb1 || !thumb_ok(c->thumb1))
            die("x509-thumbprint needs --thumbprint (40 or 64 hex digits) or --cert FILE");
        if (c->thumb2 && !thumb_ok(c->thumb2)) die("--secondary-thumbprint must be 40 or 64 hex digits");
    } else if (c->thumb1 || c->thumb2 || certf) {
        die("--thumbprint/--cert only apply to --auth x509-thumbprint");
    }
    if (strcmp(c->auth, "sas") == 0) {
        sas_keys(&c->key1, &c->key2, c->k1buf, c->k2buf);
    } else if (c->key1 || c->key2) {
        die("--primary-key/--secondary-key only apply to --auth sas");
    }
}

/* The fields a device and a module share: authentication, and with secrets
 * its thumbprints or keys (columns auth+1..auth+4), then for both the
 * connection state (7), last activity (8) and the subscriptions bits (9). */
static void identity_json(cJSON *o, sqlite3_stmt *st, int auth_col, int secrets)
{
    static const char *const kinds[] = {"c2d", "twin-responses", "twin-desired", "methods", "dps", "inputs"};
    const char *auth = scol(st, auth_col);
    cJSON_AddStringToObject(o, "authentication",
                            strcmp(auth, "sas") == 0       ? "sas"
                            : strcmp(auth, "x509-ca") == 0 ? "certificateAuthority"
                                                           : "selfSigned");
    cJSON_AddStringToObject(o, "connectionState", scol(st, 7));
    if (!secrets) return;
    if (strcmp(auth, "x509-thumbprint") == 0) {
        cJSON_AddStringToObject(o, "primaryThumbprint", scol(st, auth_col + 1));
        cJSON_AddStringToObject(o, "secondaryThumbprint", scol(st, auth_col + 2));
    }
    if (strcmp(auth, "sas") == 0) {
        cJSON_AddStringToObject(o, "primaryKey", scol(st, auth_col + 3));
        cJSON_AddStringToObject(o, "secondaryKey", scol(st, auth_col + 4));
    }
    char t[32];
    localhub_iso8601(sqlite3_column_int64(st, 8) * 1000, t);
    cJSON_AddStringToObject(o, "lastActivityTime", t);
    /* What the session is subscribed to (kept for persistent sessions):
     * LOCALHUB_S_* bits, in the order of kinds[]. */
    cJSON *subs = cJSON_CreateArray();
    for (int b = 0; b < 6; b++)
        if (sqlite3_column_int(st, 9) & (1 << b)) cJSON_AddItemToArray(subs, cJSON_CreateString(kinds[b]));
    cJSON_AddItemToObject(o, "subscriptions", subs);
}

static cJSON *device_json(sqlite3_stmt *st, int secrets)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "deviceId", scol(st, 0));
    cJSON_AddStringToObject(o, "status", scol(st, 6));
    identity_json(o, st, 1, secrets);
    return o;
}

static const char device_cols[] =
    "SELECT id,auth,thumb1,thumb2,key1,key2,status,conn_state,last_activity,subs FROM devices";

static sqlite3_stmt *device_row(sqlite3 *db, const char *id)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "%s WHERE id=?", device_cols);
    sqlite3_stmt *st = prep(db, sql);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) die("device '%s' not found", id);
    return st;
}

static void device_modules_purge(sqlite3 *db, const char *device);
static sqlite3_stmt *module_row(sqlite3 *db, const char *device, const char *module);

static const char *dev_id(void)
{
    const char *id = opt("--id");
    if (!id) id = opt_device();
    if (!id && npos >= 3) id = pos[2];
    if (!id || !*id) die("missing --id (see --help)");
    return id;
}

static void cmd_device(const char *sub)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    if (!sub) die("device: expected create|list|show|enable|disable|delete|connection-string (see --help)");
    if (strcmp(sub, "create") == 0) {
        const char *id = need("--id");
        int disabled = flag("--disabled");
        struct creds c;
        creds_read(&c);
        no_extra(2);
        if (!localhub_device_id_valid(id))
            die("invalid device id '%s': up to 128 of A-Z a-z 0-9 - . %% _ * ? ! ( ) , : = @ $ '", id);
        creds_check(&c);
        db = db_open();
        st = prep(db, "INSERT INTO devices(id,auth,thumb1,thumb2,key1,key2,status,created) VALUES(?,?,?,?,?,?,?,?)");
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, c.auth, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, c.thumb1, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, c.thumb2, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, c.key1, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, c.key2, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, disabled ? "disabled" : "enabled", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 8, localhub_now_s());
        if (insert_step(db, st)) die("device '%s' already exists", id);
        sqlite3_finalize(st);
        if (localhub_twin_ensure(db, id)) die("registry: cannot create the twin");
        st = device_row(db, id);
        cJSON *o = device_json(st, 1);
        sqlite3_finalize(st);
        sqlite3_close(db);
        emit(o);
        return;
    }
    if (strcmp(sub, "list") == 0) {
        cJSON *a = cJSON_CreateArray();
        char sql[256];
        no_extra(2);
        db = db_open();
        snprintf(sql, sizeof(sql), "%s ORDER BY id", device_cols);
        st = prep(db, sql);
        while (sqlite3_step(st) == SQLITE_ROW) cJSON_AddItemToArray(a, device_json(st, 0));
        sqlite3_finalize(st);
        sqlite3_close(db);
        emit(a);
        return;
    }
    if (strcmp(sub, "show") == 0 || strcmp(sub, "connection-string") == 0) {
        const char *id = dev_id();
        char host[256] = "localhost", port[16] = "";
        no_extra(3);
        db = db_open();
        st = device_row(db, id);
        if (strcmp(sub, "show") == 0) {
            cJSON *o = device_json(st, 1);
            sqlite3_finalize(st);
            sqlite3_close(db);
            emit(o);
            return;
        }
        localhub_db_meta_get(db, "hostname", host, sizeof(host));
        localhub_db_meta_get(db, "port", port, sizeof(port));
        char cs[1024];
        if (strcmp(scol(st, 1), "sas") == 0)
            snprintf(cs, sizeof(cs), "HostName=%s;DeviceId=%s;SharedAccessKey=%s", host, id, scol(st, 4));
        else
            snprintf(cs, sizeof(cs), "HostName=%s;DeviceId=%s;x509=true", host, id);
        sqlite3_finalize(st);
        sqlite3_close(db);
        if (json_out) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "connectionString", cs);
            cJSON_AddNumberToObject(o, "port", atoi(port));
            emit(o);
        } else {
            puts(cs);
        }
        return;
    }
    if (strcmp(sub, "enable") == 0 || strcmp(sub, "disable") == 0 || strcmp(sub, "delete") == 0) {
        const char *id = dev_id();
        no_extra(3);
        db = db_open();
        sqlite3_finalize(device_row(db, id));
        if (strcmp(sub, "delete") == 0) {
            const char *const sqls[] = {"DELETE FROM devices WHERE id=?", "DELETE FROM twins WHERE device=?",
                                        "DELETE FROM c2d WHERE device=?", "DELETE FROM desired_push WHERE device=?"};
            for (size_t i = 0; i < 4; i++) {
                st = prep(db, sqls[i]);
                sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                step_done(db, st);
            }
            device_modules_purge(db, id); /* a device's modules go with it */
        } else {
            st = prep(db, "UPDATE devices SET status=? WHERE id=?");
            sqlite3_bind_text(st, 1, strcmp(sub, "enable") == 0 ? "enabled" : "disabled", -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
            step_done(db, st);
        }
        if (strcmp(sub, "enable") != 0) {
            /* Like IoT Hub: disabling or deleting a device drops its connection,
             * and its modules' (a module of a disabled device is refused). */
            st = prep(db, "INSERT INTO kick_requests(device) VALUES(?)");
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            step_done(db, st);
            st = prep(db, "INSERT INTO kick_requests(device) SELECT device||'/'||id FROM modules WHERE device=?");
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            step_done(db, st);
        }
        sqlite3_close(db);
        if (json_out) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "deviceId", id);
            cJSON_AddStringToObject(o, "result", strcmp(sub, "delete") == 0 ? "deleted" : sub);
            emit(o);
        } else {
            printf("device '%s' %s\n", id, strcmp(sub, "delete") == 0 ? "deleted" : strcmp(sub, "enable") == 0 ? "enabled" : "disabled");
        }
        return;
    }
    die("device: unknown command '%s'", sub);
}

/* SAS token for a device (or DPS registration), signed with its key. */
static void cmd_sas_token(void)
{
    const char *id = opt_device(), *reg = opt("--registration-id"), *key = opt("--key"), *dur = opt("--duration"),
               *module = opt_module();
    long duration = dur ? num("--duration", dur, 1, 365L * 86400) : 3600;
    char host[256] = "localhost", scope[64] = "", sr[700], sr_enc[2100], msg[2200], sig[64], sig_enc[128];
    sqlite3 *db;
    sqlite3_stmt *st;
    no_extra(1);
    if (!id == !reg) die("give exactly one of --device ID or --registration-id ID");
    if (module && !id) die("--module needs --device");
    if (module && !localhub_device_id_valid(module)) die("invalid module id '%s'", module);
    db = db_open();
    localhub_db_meta_get(db, "hostname", host, sizeof(host));
    localhub_db_meta_get(db, "id_scope", scope, sizeof(scope));
    char k[128] = "";
    if (key) {
        snprintf(k, sizeof(k), "%s", key);
    } else if (id && module) {
        st = module_row(db, id, module);
        if (strcmp(scol(st, 2), "sas")) die("module '%s' of device '%s' does not use SAS", module, id);
        snprintf(k, sizeof(k), "%s", scol(st, 5));
        sqlite3_finalize(st);
    } else if (id) {
        st = device_row(db, id);
        if (strcmp(scol(st, 1), "sas")) die("device '%s' does not use SAS", id);
        snprintf(k, sizeof(k), "%s", scol(st, 4));
        sqlite3_finalize(st);
    } else {
        st = prep(db, "SELECT key1 FROM enrollments WHERE reg_id=? AND attestation='symmetric'");
        sqlite3_bind_text(st, 1, reg, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW) die("no symmetric-key enrollment '%s' (give --key for group keys)", reg);
        snprintf(k, sizeof(k), "%s", scol(st, 0));
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    if (id && module)
        snprintf(sr, sizeof(sr), "%s/devices/%s/modules/%s", host, id, module);
    else if (id)
        snprintf(sr, sizeof(sr), "%s/devices/%s", host, id);
    else
        snprintf(sr, sizeof(sr), "%s/registrations/%s", scope, reg);
    localhub_url_encode(sr, sr_enc, sizeof(sr_enc));
    long long se = (long long)localhub_now_s() + duration;
    snprintf(msg, sizeof(msg), "%s\n%lld", sr_enc, se);
    if (localhub_hmac_b64(k, msg, sig, sizeof(sig))) die("key is not valid base64");
    localhub_url_encode(sig, sig_enc, sizeof(sig_enc));
    char tok[2400];
    snprintf(tok, sizeof(tok), "SharedAccessSignature sr=%s&sig=%s&se=%lld%s", sr_enc, sig_enc, se,
             reg ? "&skn=registration" : "");
    if (json_out) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "sas", tok);
        emit(o);
    } else {
        puts(tok);
    }
}

/* ------------------------------------------------------------------ */
/* C2D                                                                 */

static int prop_chars_ok(const char *s)
{
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("!#$%&'*+-.^_`|~", *p)))
            return 0;
    return 1;
}

static void bag_add(char *bag, size_t bagsz, const char *k, const char *v)
{
    char ke[1024], ve[4096];
    size_t n = strlen(bag);
    if (localhub_url_encode(k, ke, sizeof(ke)) < 0 || (v && localhub_url_encode(v, ve, sizeof(ve)) < 0))
        die("property too long");
    if ((size_t)snprintf(bag + n, bagsz - n, "%s%s%s%s", n ? "&" : "", ke, v ? "=" : "", v ? ve : "") >= bagsz - n)
        die("properties too long");
}

/* c2d list / purge: the messages still waiting in the hub's queue. */
static void cmd_c2d_queue(const char *sub)
{
    const char *id = need_device();
    sqlite3 *db;
    sqlite3_stmt *st;
    no_extra(2);
    db = db_open();
    sqlite3_finalize(device_row(db, id));
    if (strcmp(sub, "purge") == 0) {
        st = prep(db, "DELETE FROM c2d WHERE device=?");
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        step_done(db, st);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "deviceId", id);
        cJSON_AddNumberToObject(o, "purged", sqlite3_changes(db));
        sqlite3_close(db);
        emit(o);
        return;
    }
    cJSON *a = cJSON_CreateArray();
    st = prep(db, "SELECT mid,enqueued,expires,length(payload) FROM c2d WHERE device=? ORDER BY seq");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        char t[32];
        cJSON_AddStringToObject(o, "messageId", scol(st, 0));
        localhub_iso8601(sqlite3_column_int64(st, 1) * 1000, t);
        cJSON_AddStringToObject(o, "enqueuedTime", t);
        localhub_iso8601(sqlite3_column_int64(st, 2) * 1000, t);
        cJSON_AddStringToObject(o, "expiryTime", t);
        cJSON_AddNumberToObject(o, "size", sqlite3_column_int(st, 3));
        cJSON_AddItemToArray(a, o);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    emit(a);
}

/* Application properties of a message from --props k=v;k2=v2 (az style)
 * or repeated --prop k=v, appended to the property bag. */
static void props_from_args(char *bag, size_t cap)
{
    for (int i = 0; i < nopts; i++) {
        if (strcmp(opts[i].name, "--props") && strcmp(opts[i].name, "--prop")) continue;
        opts[i].used = 1;
        char *copy = strdup(opts[i].value ? opts[i].value : ""), *save = NULL;
        if (!copy) die("out of memory");
        for (char *kv = strtok_r(copy, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
            char *eq = strchr(kv, '=');
            if (eq) *eq = '\0';
            if (!*kv || !prop_chars_ok(kv) || (eq && !prop_chars_ok(eq + 1)))
                die("invalid property '%s': names and values use A-Z a-z 0-9 ! # $ %% & ' * + - . ^ _ ` | ~", kv);
            if (kv[0] == '$') die("property names starting with '$' are reserved");
            bag_add(bag, cap, kv, eq ? eq + 1 : NULL);
        }
        free(copy);
    }
}

static void cmd_c2d(const char *sub)
{
    if (sub && (strcmp(sub, "list") == 0 || strcmp(sub, "purge") == 0)) {
        cmd_c2d_queue(sub);
        return;
    }
    const char *id = need_device(), *data = opt("--data"), *ttl_s = opt("--ttl"), *mid = opt("--message-id"),
               *ct = opt("--content-type"), *ce = opt("--content-encoding"), *ack = opt("--ack");
    long ttl = ttl_s ? num("--ttl", ttl_s, 1, 172800) : 3600;
    char bag[8192] = "", to[300], midbuf[40];
    sqlite3 *db;
    sqlite3_stmt *st;
    if (!sub || strcmp(sub, "send")) die("c2d: expected send|list|purge (see --help)");
    if (!data) data = "";
    if (strlen(data) > C2D_MAX_SIZE) die("message body larger than 64 KB");
    if (!mid) {
        char h[33];
        localhub_random_hex(h, 16);
        snprintf(midbuf, sizeof(midbuf), "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
        mid = midbuf;
    }
    if (!*mid || strlen(mid) > 128 || !prop_chars_ok(mid)) die("invalid --message-id");
    snprintf(to, sizeof(to), "/devices/%s/messages/devicebound", id);
    bag_add(bag, sizeof(bag), "$.mid", mid);
    bag_add(bag, sizeof(bag), "$.to", to);
    if (ct) bag_add(bag, sizeof(bag), "$.ct", ct);
    if (ce) bag_add(bag, sizeof(bag), "$.ce", ce);
    if (ack) {
        if (strcmp(ack, "none") && strcmp(ack, "positive") && strcmp(ack, "negative") && strcmp(ack, "full"))
            die("--ack must be none, positive, negative or full");
        bag_add(bag, sizeof(bag), "iothub-ack", ack);
    }
    props_from_args(bag, sizeof(bag));
    no_extra(2);
    db = db_open();
    sqlite3_finalize(device_row(db, id));
    if (localhub_db_exec(db, "BEGIN IMMEDIATE")) die("registry busy");
    st = prep(db, "SELECT count(*) FROM c2d WHERE device=?");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (n >= C2D_QUEUE_MAX) {
        localhub_db_exec(db, "ROLLBACK");
        die("403004 DeviceMaximumQueueDepthExceeded: device '%s' already has %d queued messages", id, n);
    }
    st = prep(db, "INSERT INTO c2d(device,mid,bag,payload,enqueued,expires) VALUES(?,?,?,?,?,?)");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, mid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, bag, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, data, (int)strlen(data), SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, localhub_now_s());
    sqlite3_bind_int64(st, 6, localhub_now_s() + ttl);
    step_done(db, st);
    if (localhub_db_exec(db, "COMMIT")) die("registry: commit failed");
    sqlite3_close(db);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "deviceId", id);
    cJSON_AddStringToObject(o, "messageId", mid);
    cJSON_AddNumberToObject(o, "queued", n + 1);
    emit(o);
}

/* ------------------------------------------------------------------ */
/* twin and methods                                                    */

/* The identity behind a twin / method command: a device, or a module of
 * one. The registry key of a module's twin and method calls is "{d}/{m}". */
struct ident {
    const char *device, *module;
    char key[2 * LOCALHUB_ID_MAX + 2];
};

static void module_check(sqlite3 *db, const struct ident *who);

static void ident_check(sqlite3 *db, const struct ident *who)
{
    if (who->module)
        module_check(db, who);
    else
        sqlite3_finalize(device_row(db, who->device));
}

static void twin_run(const char *sub, const struct ident *who, int max_pos)
{
    const char *id = who->key;
    sqlite3 *db;
    char *doc, err[200] = "";
    if (strcmp(sub, "show") == 0) {
        no_extra(max_pos);
    } else if (strcmp(sub, "update") == 0) {
        const char *desired = need("--desired");
        int64_t ver = 0;
        no_extra(max_pos);
        db = db_open();
        ident_check(db, who);
        int rc = localhub_twin_patch(db, id, 1, desired, strlen(desired), &ver, err, sizeof(err));
        if (rc) die("twin update failed (%d): %s", rc, err);
        sqlite3_stmt *st = prep(db, "INSERT INTO desired_push(device,version,patch) VALUES(?,?,?)");
        cJSON *p = cJSON_Parse(desired);
        char *compact = cJSON_PrintUnformatted(p);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, ver);
        sqlite3_bind_text(st, 3, compact, -1, SQLITE_STATIC);
        step_done(db, st);
        free(compact);
        cJSON_Delete(p);
        sqlite3_close(db);
    } else {
        die("twin: unknown command '%s' (show|update)", sub);
    }
    db = db_open();
    ident_check(db, who);
    doc = localhub_twin_json(db, id, 1);
    sqlite3_close(db);
    if (!doc) die("'%s' has no twin", id);
    cJSON *t = cJSON_Parse(doc), *o = cJSON_CreateObject();
    free(doc);
    cJSON_AddStringToObject(o, "deviceId", who->device);
    if (who->module) cJSON_AddStringToObject(o, "moduleId", who->module);
    cJSON *props = cJSON_CreateObject();
    cJSON_AddItemToObject(props, "desired", cJSON_DetachItemFromObject(t, "desired"));
    cJSON_AddItemToObject(props, "reported", cJSON_DetachItemFromObject(t, "reported"));
    cJSON_AddItemToObject(o, "properties", props);
    cJSON_Delete(t);
    int save = json_out;
    json_out = 1; /* a twin is a document: always JSON */
    emit(o);
    json_out = save;
}

static void cmd_twin(const char *sub)
{
    struct ident who = {0};
    if (!sub) die("twin: expected show|update (see --help)");
    who.device = dev_id();
    snprintf(who.key, sizeof(who.key), "%s", who.device);
    twin_run(sub, &who, 3);
}

static void method_run(const struct ident *who, int max_pos)
{
    const char *id = who->key, *name = need("--name"), *payload = opt("--payload"), *to = opt("--timeout");
    const char *what = who->module ? "module" : "device";
    long timeout = to ? num("--timeout", to, 5, 300) : 30;
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t rowid, deadline;
    no_extra(max_pos);
    if (!localhub_method_name_valid(name)) die("invalid method name '%s'", name);
    if (!payload) payload = "{}";
    cJSON *pj = cJSON_Parse(payload);
    if (!pj) die("--payload must be valid JSON");
    cJSON_Delete(pj);
    if (strlen(payload) > 128 * 1024) die("--payload larger than 128 KB");
    db = db_open();
    ident_check(db, who);
    if (!hub_pid()) die("localhub is not running");
    st = prep(db, "INSERT INTO methods(device,name,payload,timeout,created) VALUES(?,?,?,?,?)");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, payload, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, timeout);
    sqlite3_bind_int64(st, 5, localhub_now_ms());
    step_done(db, st);
    rowid = sqlite3_last_insert_rowid(db);
    deadline = localhub_mono_ms() + timeout * 1000 + 5000; /* monotonic: a wall-clock step must not move it */
    for (;;) {
        st = prep(db, "SELECT state,status,response FROM methods WHERE id=?");
        sqlite3_bind_int64(st, 1, rowid);
        if (sqlite3_step(st) == SQLITE_ROW && strcmp(scol(st, 0), "done") == 0) {
            int status = sqlite3_column_int(st, 1);
            /* The hub's own 404/504 carry no response at all (NULL); an
             * answer of the device, even an empty one, is a string. */
            int from_hub = sqlite3_column_type(st, 2) == SQLITE_NULL;
            char *resp = strdup(scol(st, 2));
            sqlite3_finalize(st);
            st = prep(db, "DELETE FROM methods WHERE id=?");
            sqlite3_bind_int64(st, 1, rowid);
            step_done(db, st);
            sqlite3_close(db);
            if (!resp) die("out of memory");
            if (status == 404 && from_hub)
                die("404103 DeviceNotOnline: %s '%s' is not connected to methods", what, id);
            if (status == 504 && from_hub)
                die("504101 GatewayTimeout: %s '%s' did not answer within %ld s", what, id, timeout);
            cJSON *o = cJSON_CreateObject(), *p = resp[0] ? cJSON_Parse(resp) : cJSON_CreateNull();
            cJSON_AddNumberToObject(o, "status", status);
            cJSON_AddItemToObject(o, "payload", p ? p : cJSON_CreateString(resp));
            free(resp);
            int save = json_out;
            json_out = 1;
            emit(o);
            json_out = save;
            return;
        }
        sqlite3_finalize(st);
        if (localhub_mono_ms() > deadline) {
            st = prep(db, "DELETE FROM methods WHERE id=?");
            sqlite3_bind_int64(st, 1, rowid);
            step_done(db, st);
            die("504101 GatewayTimeout: no answer from the hub within %ld s", timeout + 5);
        }
        usleep(20000);
    }
}

static void cmd_method(const char *sub)
{
    struct ident who = {0};
    who.device = need_device();
    snprintf(who.key, sizeof(who.key), "%s", who.device);
    if (!sub || strcmp(sub, "invoke")) die("method: expected invoke (see --help)");
    method_run(&who, 2);
}

/* ------------------------------------------------------------------ */
/* monitor-events                                                      */

static volatile sig_atomic_t stop_flag;
static void on_sigint(int s)
{
    (void)s;
    stop_flag = 1;
}

static void print_event(cJSON *rec, const char *props)
{
    cJSON *ev = cJSON_CreateObject(), *out = cJSON_CreateObject();
    cJSON *sys = cJSON_GetObjectItem(rec, "systemProperties"), *app = cJSON_GetObjectItem(rec, "applicationProperties");
    cJSON *pl = cJSON_GetObjectItem(rec, "payload");
    cJSON_AddStringToObject(ev, "origin", cJSON_GetStringValue(cJSON_GetObjectItem(rec, "deviceId")));
    const char *mid = cJSON_GetStringValue(cJSON_GetObjectItem(rec, "moduleId"));
    cJSON_AddStringToObject(ev, "module", mid ? mid : "");
    cJSON_AddStringToObject(ev, "interface", "");
    cJSON_AddStringToObject(ev, "component", cJSON_GetStringValue(cJSON_GetObjectItem(sys, "dt-subject")) ? cJSON_GetStringValue(cJSON_GetObjectItem(sys, "dt-subject")) : "");
    if (cJSON_IsString(pl)) {
        cJSON *parsed = cJSON_Parse(pl->valuestring);
        cJSON_AddItemToObject(ev, "payload", parsed ? parsed : cJSON_CreateString(pl->valuestring));
    } else {
        cJSON *b = cJSON_GetObjectItem(rec, "payloadBase64");
        cJSON_AddStringToObject(ev, "payload", cJSON_GetStringValue(b) ? cJSON_GetStringValue(b) : "");
    }
    if (props && (strcmp(props, "all") == 0 || strcmp(props, "sys") == 0)) {
        cJSON *ann = cJSON_CreateObject();
        cJSON_AddStringToObject(ann, "iothub-enqueuedtime", cJSON_GetStringValue(cJSON_GetObjectItem(rec, "enqueuedTime")));
        for (cJSON *f = sys ? sys->child : NULL; f; f = f->next)
            if (strncmp(f->string, "iothub-connection", 17) == 0 || strcmp(f->string, "iothub-message-source") == 0)
                cJSON_AddItemToObject(ann, f->string, cJSON_Duplicate(f, 1));
        cJSON_AddItemToObject(ev, "annotations", ann);
    }
    if (props && (strcmp(props, "all") == 0 || strcmp(props, "sys") == 0 || strcmp(props, "app") == 0)) {
        cJSON *p = cJSON_CreateObject(), *s = cJSON_CreateObject();
        for (cJSON *f = sys ? sys->child : NULL; f; f = f->next)
            if (strncmp(f->string, "iothub-connection", 17) && strcmp(f->string, "iothub-enqueuedtime") &&
                strcmp(f->string, "iothub-message-source"))
                cJSON_AddItemToObject(s, f->string, cJSON_Duplicate(f, 1));
        if (strcmp(props, "app")) cJSON_AddItemToObject(p, "system", s);
        else cJSON_Delete(s);
        if (strcmp(props, "sys")) cJSON_AddItemToObject(p, "application", app ? cJSON_Duplicate(app, 1) : cJSON_CreateObject());
        cJSON_AddItemToObject(ev, "properties", p);
    }
    cJSON_AddItemToObject(out, "event", ev);
    char *s = json_out ? cJSON_PrintUnformatted(out) : cJSON_Print(out);
    puts(s ? s : "");
    fflush(stdout);
    free(s);
    cJSON_Delete(out);
}

/* The file to read after @p old, which was rotated away and has been read
 * to its end. The plugin rotates by renaming .K-1 to .K from the highest K
 * down to telemetry.jsonl -> .1, then starts a new telemetry.jsonl: while
 * @p old is .K, the next newer file is .K-1 (.0 = telemetry.jsonl), however
 * many rotations happened since the last poll. NULL: try again later (a
 * rotation in progress, or the new telemetry.jsonl not made yet). When @p old
 * is found nowhere it was deleted (the reader is more than --telemetry-keep
 * files behind, or the keep is 0); after a second look (*gone_seen) the
 * reader goes on with the oldest file kept (or the current one) and *gone
 * is set: the caller compares the next record's "seq" with the last one's
 * to tell whether files were lost in between. */
#define MONITOR_GEN_MAX 101 /* --telemetry-keep is at most 100 */
static FILE *monitor_next(const char *path, const struct stat *old, int *gone_seen, int *gone)
{
    char p[4200];
    struct stat sb;
    int oldest = 0;
    for (int k = 1; k <= MONITOR_GEN_MAX; k++) {
        snprintf(p, sizeof(p), "%s.%d", path, k);
        if (stat(p, &sb)) continue;
        oldest = k;
        if (sb.st_ino != old->st_ino || sb.st_dev != old->st_dev) continue;
        char q[4200];
        FILE *nf;
        if (k > 1) snprintf(q, sizeof(q), "%s.%d", path, k - 1);
        else snprintf(q, sizeof(q), "%s", path);
        if (!(nf = fopen(q, "r"))) return NULL;
        /* Still .K after the open: nothing was renamed in between (the
         * renames run from the top down, .K before .K-1), so what was
         * opened was .K-1 and is the next file. Otherwise look again. */
        if (stat(p, &sb) || sb.st_ino != old->st_ino || sb.st_dev != old->st_dev) {
            fclose(nf);
            return NULL;
        }
        *gone_seen = 0;
        return nf;
    }
    if (!*gone_seen) { /* a scan racing a rotation can miss the file once */
        *gone_seen = 1;
        return NULL;
    }
    *gone_seen = 0;
    *gone = 1;
    if (oldest) {
        snprintf(p, sizeof(p), "%s.%d", path, oldest);
        return fopen(p, "r");
    }
    return fopen(path, "r");
}

static void cmd_monitor(void)
{
    const char *device = opt_device(), *props = opt("--properties"), *cnt = opt("--count"), *to = opt("--timeout"),
               *module = opt_module();
    int from_start = flag("--from-start");
    long max = cnt ? num("--count", cnt, 1, 1000000000L) : 0, timeout = to ? num("--timeout", to, 0, 86400) : 0;
    char path[4096];
    FILE *f;
    long seen = 0;
    int rotated = 0, gone_seen = 0, check_gap = 0;
    double last_seq = 0;
    char *buf = NULL;
    size_t cap = 0, len = 0;
    int64_t end = timeout ? localhub_mono_ms() + timeout * 1000 : 0;
    no_extra(1);
    if (module && !device) die("--module needs --device");
    if (props && strcmp(props, "all") && strcmp(props, "sys") && strcmp(props, "app"))
        die("--properties must be all, sys or app");
    path_in(path, sizeof(path), "telemetry.jsonl");
    f = fopen(path, "a+");
    if (!f) die("cannot open %s", path);
    if (!from_start) fseek(f, 0, SEEK_END);
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!json_out) fprintf(stderr, "Starting event monitor%s%s, use ctrl-c to stop...\n", device ? " for " : "", device ? device : "");
    while (!stop_flag && (!max || seen < max) && (!end || localhub_mono_ms() < end)) {
        int c = fgetc(f);
        if (c == EOF) {
            /* Rotation (the hub renamed the file to telemetry.jsonl.1 and
             * started a new one): read the old file to its end, then the
             * files rotated after it, oldest first, then the current one. */
            struct stat now_sb, open_sb;
            clearerr(f);
            if (!rotated && stat(path, &now_sb) == 0 && fstat(fileno(f), &open_sb) == 0 &&
                (now_sb.st_ino != open_sb.st_ino || now_sb.st_dev != open_sb.st_dev)) {
                rotated = 1; /* once more to the end: lines written before the rename */
                continue;
            }
            if (rotated && fstat(fileno(f), &open_sb) == 0) {
                int gone = 0;
                FILE *nf = monitor_next(path, &open_sb, &gone_seen, &gone);
                if (nf) {
                    if (gone) check_gap = 1;
                    fclose(f);
                    f = nf;
                    len = 0;
                    rotated = 0;
                    continue;
                }
            }
            usleep(50000);
            continue;
        }
        if (len + 2 > cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            if (!buf) die("out of memory");
        }
        if (c != '\n') {
            buf[len++] = (char)c;
            continue;
        }
        buf[len] = '\0';
        len = 0;
        cJSON *rec = cJSON_Parse(buf);
        if (!rec) continue;
        {
            /* "seq" counts the hub's records (from 1 at each broker start):
             * after a file that had been deleted, a jump says how much was
             * lost; a smaller number (the hub restarted) cannot tell. */
            cJSON *sq = cJSON_GetObjectItem(rec, "seq");
            double seq = cJSON_IsNumber(sq) ? sq->valuedouble : 0;
            if (check_gap && seq > last_seq + 1 && last_seq > 0)
                fprintf(stderr,
                        "%s: missed telemetry: records %.0f to %.0f were in rotated telemetry files deleted before "
                        "this reader got to them (it fell more than --telemetry-keep files behind)\n",
                        cmd_path, last_seq + 1, seq - 1);
            else if (check_gap && seq <= last_seq)
                fprintf(stderr,
                        "%s: missed telemetry: maybe; rotated telemetry files were deleted before this reader got "
                        "to them and the hub restarted meanwhile, so it cannot tell how many records were in them\n",
                        cmd_path);
            check_gap = 0;
            if (seq > 0) last_seq = seq;
        }
        const char *d = cJSON_GetStringValue(cJSON_GetObjectItem(rec, "deviceId"));
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(rec, "moduleId"));
        if ((!device || (d && strcmp(d, device) == 0)) && (!module || (m && strcmp(m, module) == 0))) {
            print_event(rec, props);
            seen++;
        }
        cJSON_Delete(rec);
    }
    free(buf);
    fclose(f);
    if (max && seen < max) die("timed out after %ld events (wanted %ld)", seen, max);
}

/* ------------------------------------------------------------------ */
/* DPS                                                                 */

static cJSON *group_json(sqlite3_stmt *st, int secrets)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "enrollmentGroupId", scol(st, 0));
    cJSON_AddStringToObject(o, "attestation", scol(st, 1));
    if (*scol(st, 2)) cJSON_AddStringToObject(o, "caName", scol(st, 2));
    cJSON_AddStringToObject(o, "provisioningStatus", sqlite3_column_int(st, 5) ? "enabled" : "disabled");
    if (secrets && *scol(st, 3)) {
        cJSON_AddStringToObject(o, "primaryKey", scol(st, 3));
        cJSON_AddStringToObject(o, "secondaryKey", scol(st, 4));
    }
    return o;
}

static cJSON *enr_json(sqlite3_stmt *st, int secrets)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "registrationId", scol(st, 0));
    cJSON_AddStringToObject(o, "attestation", scol(st, 1));
    if (*scol(st, 2)) cJSON_AddStringToObject(o, "thumbprint", scol(st, 2));
    cJSON_AddStringToObject(o, "deviceId", *scol(st, 5) ? scol(st, 5) : scol(st, 0));
    cJSON_AddStringToObject(o, "provisioningStatus", sqlite3_column_int(st, 6) ? "enabled" : "disabled");
    if (secrets && *scol(st, 3)) {
        cJSON_AddStringToObject(o, "primaryKey", scol(st, 3));
        cJSON_AddStringToObject(o, "secondaryKey", scol(st, 4));
    }
    return o;
}

static void cmd_dps(const char *what, const char *sub)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    if (what && strcmp(what, "show") == 0) {
        char v[256];
        cJSON *o = cJSON_CreateObject();
        no_extra(2);
        db = db_open();
        ensure_identity(db, NULL);
        localhub_db_meta_get(db, "id_scope", v, sizeof(v));
        cJSON_AddStringToObject(o, "idScope", v);
        localhub_db_meta_get(db, "hostname", v, sizeof(v));
        cJSON_AddStringToObject(o, "globalDeviceEndpoint", v);
        cJSON_AddStringToObject(o, "assignedHub", v);
        sqlite3_close(db);
        emit(o);
        return;
    }
    if (!what || !sub || (strcmp(what, "enrollment-group") && strcmp(what, "enrollment")))
        die("dps: expected 'enrollment-group|enrollment create|list|show|delete|enable|disable' or 'dps show'");
    int group = strcmp(what, "enrollment-group") == 0;
    const char *idopt = group ? "--group-id" : "--registration-id";
    if (strcmp(sub, "create") == 0) {
        const char *id = need(idopt), *att = opt("--attestation"), *ca = opt("--ca"), *thumb = opt("--thumbprint"),
                   *certf = opt("--cert"), *devid = group ? NULL : opt("--device-id"), *k1 = opt("--primary-key"),
                   *k2 = opt("--secondary-key");
        int disabled = flag("--disabled");
        char key1[45], key2[45], s256[65];
        no_extra(3);
        if (!att) att = (ca || thumb || certf) ? "x509" : "symmetric";
        if (!strcmp(att, "symmetric-key")) att = "symmetric";
        if (strcmp(att, "x509") && strcmp(att, "symmetric")) die("--attestation must be x509 or symmetric-key");
        if (group ? !name_ok(id) : !localhub_registration_id_valid(id)) die("invalid %s '%s'", idopt, id);
        if (devid && !localhub_device_id_valid(devid)) die("invalid --device-id '%s'", devid);
        db = db_open();
        if (!strcmp(att, "x509")) {
            if (k1 || k2) die("--primary-key/--secondary-key only apply to symmetric-key attestation");
            if (group) {
                if (!ca) die("an x509 enrollment group needs --ca NAME (a verified CA)");
                st = prep(db, "SELECT verified FROM cas WHERE name=?");
                sqlite3_bind_text(st, 1, ca, -1, SQLITE_STATIC);
                if (sqlite3_step(st) != SQLITE_ROW) die("no CA certificate named '%s'", ca);
                if (!sqlite3_column_int(st, 0)) die("CA '%s' is not verified; run 'localhub ca verify' first", ca);
                sqlite3_finalize(st);
            } else {
                if (certf) thumb = cert_file_thumbprint(certf, s256);
                if (!thumb || !thumb_ok(thumb)) die("an x509 enrollment needs --cert FILE or --thumbprint HEX");
            }
        } else {
            if (ca || thumb || certf) die("--ca/--thumbprint/--cert only apply to x509 attestation");
            sas_keys(&k1, &k2, key1, key2);
        }
        if (group) {
            st = prep(db, "INSERT INTO enroll_groups(id,attestation,ca,key1,key2,enabled,created) VALUES(?,?,?,?,?,?,?)");
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, att, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, !strcmp(att, "x509") ? ca : NULL, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, strcmp(att, "x509") ? k1 : NULL, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 5, strcmp(att, "x509") ? k2 : NULL, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 6, !disabled);
            sqlite3_bind_int64(st, 7, localhub_now_ms());
        } else {
            st = prep(db, "INSERT INTO enrollments(reg_id,attestation,thumb,key1,key2,device_id,enabled,created)"
                          " VALUES(?,?,?,?,?,?,?,?)");
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, att, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, !strcmp(att, "x509") ? thumb : NULL, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, strcmp(att, "x509") ? k1 : NULL, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 5, strcmp(att, "x509") ? k2 : NULL, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 6, devid, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 7, !disabled);
            sqlite3_bind_int64(st, 8, localhub_now_ms());
        }
        if (insert_step(db, st)) die("%s '%s' already exists", what, id);
        sqlite3_finalize(st);
        ensure_identity(db, NULL);
        sqlite3_close(db);
        npos = 4;
        pos[3] = id;
    } else {
        if (strcmp(sub, "list")) {
            const char *id = opt(idopt);
            if (!id && npos >= 4) id = pos[3];
            if (!id) die("missing %s", idopt);
            pos[3] = id;
            npos = npos < 4 ? 4 : npos;
        }
        no_extra(4);
    }
    db = db_open();
    if (strcmp(sub, "list") == 0) {
        cJSON *a = cJSON_CreateArray();
        st = prep(db, group ? "SELECT id,attestation,ca,key1,key2,enabled FROM enroll_groups ORDER BY id"
                            : "SELECT reg_id,attestation,thumb,key1,key2,device_id,enabled FROM enrollments ORDER BY reg_id");
        while (sqlite3_step(st) == SQLITE_ROW) cJSON_AddItemToArray(a, group ? group_json(st, 0) : enr_json(st, 0));
        sqlite3_finalize(st);
        sqlite3_close(db);
        emit(a);
        return;
    }
    const char *id = pos[3];
    if (!strcmp(sub, "delete") || !strcmp(sub, "enable") || !strcmp(sub, "disable")) {
        char sql[160];
        if (!strcmp(sub, "delete"))
            snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s=?", group ? "enroll_groups" : "enrollments", group ? "id" : "reg_id");
        else
            snprintf(sql, sizeof(sql), "UPDATE %s SET enabled=%d WHERE %s=?", group ? "enroll_groups" : "enrollments",
                     !strcmp(sub, "enable"), group ? "id" : "reg_id");
        st = prep(db, sql);
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        step_done(db, st);
        if (sqlite3_changes(db) == 0) die("%s '%s' not found", what, id);
        sqlite3_close(db);
        if (!strcmp(sub, "delete")) {
            emit(cJSON_CreateString("deleted"));
            return;
        }
        db = db_open();
    } else if (strcmp(sub, "show") && strcmp(sub, "create")) {
        die("dps %s: unknown command '%s' (create|list|show|delete|enable|disable)", what, sub);
    }
    st = prep(db, group ? "SELECT id,attestation,ca,key1,key2,enabled FROM enroll_groups WHERE id=?"
                        : "SELECT reg_id,attestation,thumb,key1,key2,device_id,enabled FROM enrollments WHERE reg_id=?");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) die("%s '%s' not found", what, id);
    cJSON *o = group ? group_json(st, 1) : enr_json(st, 1);
    sqlite3_finalize(st);
    char v[64];
    if (!localhub_db_meta_get(db, "id_scope", v, sizeof(v))) cJSON_AddStringToObject(o, "idScope", v);
    sqlite3_close(db);
    emit(o);
}

/* ------------------------------------------------------------------ */
/* module identities                                                   */

static const char module_cols[] =
    "SELECT device,id,auth,thumb1,thumb2,key1,key2,conn_state,last_activity,subs FROM modules";

static const char *mod_device(void)
{
    const char *d = opt_device();
    if (!d || !*d) die("missing --device (see --help)");
    if (!localhub_device_id_valid(d)) die("invalid device id '%s'", d);
    return d;
}

static const char *mod_module(void)
{
    const char *m = opt_module();
    if (!m || !*m) die("missing --module (see --help)");
    if (!localhub_device_id_valid(m))
        die("invalid module id '%s': up to 128 of A-Z a-z 0-9 - . %% _ * ? ! ( ) , : = @ $ '", m);
    return m;
}

static void ident_of_module(struct ident *who)
{
    who->device = mod_device();
    who->module = mod_module();
    snprintf(who->key, sizeof(who->key), "%s/%s", who->device, who->module);
}

static sqlite3_stmt *module_row(sqlite3 *db, const char *device, const char *module)
{
    char sql[256];
    sqlite3_finalize(device_row(db, device));
    snprintf(sql, sizeof(sql), "%s WHERE device=? AND id=?", module_cols);
    sqlite3_stmt *st = prep(db, sql);
    sqlite3_bind_text(st, 1, device, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, module, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) die("module '%s' of device '%s' not found", module, device);
    return st;
}

static void module_check(sqlite3 *db, const struct ident *who)
{
    sqlite3_finalize(module_row(db, who->device, who->module));
}

static cJSON *module_json(sqlite3_stmt *st, int secrets)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "deviceId", scol(st, 0));
    cJSON_AddStringToObject(o, "moduleId", scol(st, 1));
    identity_json(o, st, 2, secrets);
    return o;
}

/* Remove module @module of @device with everything keyed on it, and drop its
 * connection (the plugin kicks client id "{d}/{m}"). */
static void module_purge(sqlite3 *db, const char *device, const char *module)
{
    char key[2 * LOCALHUB_ID_MAX + 2];
    sqlite3_stmt *st;
    snprintf(key, sizeof(key), "%s/%s", device, module);
    const char *const by_key[] = {"DELETE FROM twins WHERE device=?", "DELETE FROM desired_push WHERE device=?",
                                  "DELETE FROM methods WHERE device=?", "INSERT INTO kick_requests(device) VALUES(?)"};
    for (size_t i = 0; i < sizeof(by_key) / sizeof(by_key[0]); i++) {
        st = prep(db, by_key[i]);
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        step_done(db, st);
    }
    const char *const by_pair[] = {"DELETE FROM module_inputs WHERE device=? AND module=?",
                                   "DELETE FROM modules WHERE device=? AND id=?"};
    for (size_t i = 0; i < sizeof(by_pair) / sizeof(by_pair[0]); i++) {
        st = prep(db, by_pair[i]);
        sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, module, -1, SQLITE_STATIC);
        step_done(db, st);
    }
}

/* Every module of @device goes with it. */
static void device_modules_purge(sqlite3 *db, const char *device)
{
    char mods[64][LOCALHUB_ID_MAX + 1];
    int n;
    do {
        sqlite3_stmt *st = prep(db, "SELECT id FROM modules WHERE device=? LIMIT 64");
        sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
        for (n = 0; n < 64 && sqlite3_step(st) == SQLITE_ROW; n++) snprintf(mods[n], sizeof(mods[n]), "%s", scol(st, 0));
        sqlite3_finalize(st);
        for (int i = 0; i < n; i++) module_purge(db, device, mods[i]);
    } while (n == 64);
}

#define INPUT_QUEUE_MAX 50
#define INPUT_TTL_S 3600

/* module send-input: what an IoT Edge route would deliver to the module's input. */
static void module_send_input(void)
{
    struct ident who = {0};
    const char *input = need("--input"), *data = opt("--data");
    char bag[8192] = "";
    sqlite3 *db;
    sqlite3_stmt *st;
    ident_of_module(&who);
    if (!localhub_input_name_valid(input)) die("invalid --input '%s': 1..128 of A-Z a-z 0-9 - . _", input);
    if (!data) data = "";
    if (strlen(data) > C2D_MAX_SIZE) die("message body larger than 64 KB");
    props_from_args(bag, sizeof(bag));
    no_extra(2);
    db = db_open();
    module_check(db, &who);
    if (localhub_db_exec(db, "BEGIN IMMEDIATE")) die("registry busy");
    st = prep(db, "SELECT count(*) FROM module_inputs WHERE device=? AND module=?");
    sqlite3_bind_text(st, 1, who.device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, who.module, -1, SQLITE_STATIC);
    int n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (n >= INPUT_QUEUE_MAX) {
        localhub_db_exec(db, "ROLLBACK");
        die("module '%s' already has %d input messages waiting", who.key, n);
    }
    st = prep(db, "INSERT INTO module_inputs(device,module,input,bag,payload,enqueued,expires) VALUES(?,?,?,?,?,?,?)");
    sqlite3_bind_text(st, 1, who.device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, who.module, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, input, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, bag, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, data, (int)strlen(data), SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, localhub_now_s());
    sqlite3_bind_int64(st, 7, localhub_now_s() + INPUT_TTL_S);
    step_done(db, st);
    if (localhub_db_exec(db, "COMMIT")) die("registry: commit failed");
    sqlite3_close(db);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "deviceId", who.device);
    cJSON_AddStringToObject(o, "moduleId", who.module);
    cJSON_AddStringToObject(o, "input", input);
    cJSON_AddNumberToObject(o, "queued", n + 1);
    emit(o);
}

static void cmd_module(const char *sub, const char *sub2)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    struct ident who = {0};
    if (!sub)
        die("module: expected create|list|show|delete|connection-string|twin|method|send-input (see --help)");
    if (strcmp(sub, "create") == 0) {
        struct creds c;
        creds_read(&c);
        ident_of_module(&who);
        no_extra(2);
        creds_check(&c);
        db = db_open();
        sqlite3_finalize(device_row(db, who.device));
        st = prep(db, "INSERT INTO modules(device,id,auth,thumb1,thumb2,key1,key2,created) VALUES(?,?,?,?,?,?,?,?)");
        sqlite3_bind_text(st, 1, who.device, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, who.module, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, c.auth, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, c.thumb1, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, c.thumb2, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, c.key1, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, c.key2, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 8, localhub_now_s());
        if (insert_step(db, st)) die("module '%s' of device '%s' already exists", who.module, who.device);
        sqlite3_finalize(st);
        if (localhub_twin_ensure(db, who.key)) die("registry: cannot create the module twin");
        st = module_row(db, who.device, who.module);
        cJSON *o = module_json(st, 1);
        sqlite3_finalize(st);
        sqlite3_close(db);
        emit(o);
        return;
    }
    if (strcmp(sub, "list") == 0) {
        const char *d = mod_device();
        char sql[256];
        cJSON *a = cJSON_CreateArray();
        no_extra(2);
        db = db_open();
        sqlite3_finalize(device_row(db, d));
        snprintf(sql, sizeof(sql), "%s WHERE device=? ORDER BY id", module_cols);
        st = prep(db, sql);
        sqlite3_bind_text(st, 1, d, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) cJSON_AddItemToArray(a, module_json(st, 0));
        sqlite3_finalize(st);
        sqlite3_close(db);
        emit(a);
        return;
    }
    if (strcmp(sub, "show") == 0 || strcmp(sub, "connection-string") == 0) {
        char host[256] = "localhost", port[16] = "", cs[1024];
        ident_of_module(&who);
        no_extra(2);
        db = db_open();
        st = module_row(db, who.device, who.module);
        if (strcmp(sub, "show") == 0) {
            cJSON *o = module_json(st, 1);
            sqlite3_finalize(st);
            sqlite3_close(db);
            emit(o);
            return;
        }
        localhub_db_meta_get(db, "hostname", host, sizeof(host));
        localhub_db_meta_get(db, "port", port, sizeof(port));
        if (strcmp(scol(st, 2), "sas") == 0)
            snprintf(cs, sizeof(cs), "HostName=%s;DeviceId=%s;ModuleId=%s;SharedAccessKey=%s", host, who.device,
                     who.module, scol(st, 5));
        else
            snprintf(cs, sizeof(cs), "HostName=%s;DeviceId=%s;ModuleId=%s;x509=true", host, who.device, who.module);
        sqlite3_finalize(st);
        sqlite3_close(db);
        if (json_out) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "connectionString", cs);
            cJSON_AddNumberToObject(o, "port", atoi(port));
            emit(o);
        } else {
            puts(cs);
        }
        OPENSSL_cleanse(cs, sizeof(cs));
        return;
    }
    if (strcmp(sub, "delete") == 0) {
        ident_of_module(&who);
        no_extra(2);
        db = db_open();
        module_check(db, &who);
        if (localhub_db_exec(db, "BEGIN IMMEDIATE")) die("registry busy");
        module_purge(db, who.device, who.module);
        if (localhub_db_exec(db, "COMMIT")) die("registry: commit failed");
        sqlite3_close(db);
        if (json_out) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "deviceId", who.device);
            cJSON_AddStringToObject(o, "moduleId", who.module);
            cJSON_AddStringToObject(o, "result", "deleted");
            emit(o);
        } else {
            printf("module '%s' of device '%s' deleted\n", who.module, who.device);
        }
        return;
    }
    if (strcmp(sub, "twin") == 0) {
        if (!sub2) die("module twin: expected show|update (see --help)");
        ident_of_module(&who);
        twin_run(sub2, &who, 3);
        return;
    }
    if (strcmp(sub, "method") == 0) {
        if (!sub2 || strcmp(sub2, "invoke")) die("module method: expected invoke (see --help)");
        ident_of_module(&who);
        method_run(&who, 3);
        return;
    }
    if (strcmp(sub, "send-input") == 0) {
        module_send_input();
        return;
    }
    die("module: unknown command '%s' (create|list|show|delete|connection-string|twin|method|send-input)", sub);
}

/* ------------------------------------------------------------------ */

static const char usage[] =
    "usage: localhub [--state DIR] [--json] COMMAND ...\n"
    "A local Azure IoT Hub + DPS on mosquitto. State: --state DIR, $LOCALHUB_HOME, or ./.localhub\n"
    "\n"
    "  start [--port 8883] [--hostname localhost] [--bind ADDR]   default: 127.0.0.1 and ::1\n"
    "        [--telemetry-max-size 64M] [--telemetry-keep 3] [--dps-op-retention 3600]   kept for later starts\n"
    "  stop | status\n"
    "  ca add NAME CA.pem [--verified]      prints the proof-of-possession code\n"
    "  ca verify NAME VERIFICATION.pem      CN = code, signed by the CA key\n"
    "  ca list | ca show NAME | ca delete NAME\n"
    "  device create --id ID [--auth sas|x509-ca|x509-thumbprint] [--thumbprint HEX | --cert FILE]\n"
    "                [--secondary-thumbprint HEX] [--primary-key B64 --secondary-key B64] [--disabled]\n"
    "  device list | show|enable|disable|delete|connection-string --id ID\n"
    "  generate-sas-token (--device ID [--module M] | --registration-id ID) [--key B64] [--duration S]\n"
    "  monitor-events [--device ID [--module M]] [--properties all|sys|app] [--from-start] [--count N] [--timeout S]\n"
    "  c2d send --device ID [--data TEXT] [--props k=v;k2=v2] [--ttl S] [--message-id ID]\n"
    "           [--content-type T] [--content-encoding E] [--ack none|positive|negative|full]\n"
    "  c2d list --device ID | c2d purge --device ID   messages waiting in the hub's queue\n"
    "  twin show --device ID | twin update --device ID --desired JSON\n"
    "  method invoke --device ID --name NAME [--payload JSON] [--timeout 5..300]\n"
    "  module create --device D --module M [--auth sas|x509-ca|x509-thumbprint] [--thumbprint HEX | --cert FILE]\n"
    "                [--secondary-thumbprint HEX] [--primary-key B64 --secondary-key B64]\n"
    "  module list --device D | module show|delete|connection-string --device D --module M\n"
    "  module twin show --device D --module M | module twin update --device D --module M --desired JSON\n"
    "  module method invoke --device D --module M --name NAME [--payload JSON] [--timeout 5..300]\n"
    "  module send-input --device D --module M --input NAME [--data TEXT] [--props k=v;k2=v2]\n"
    "                what an IoT Edge route would deliver to the module's input (localhub only)\n"
    "  dps show\n"
    "  dps enrollment-group create --group-id G (--ca NAME | --attestation symmetric-key)\n"
    "  dps enrollment create --registration-id R (--cert FILE | --thumbprint HEX | --attestation symmetric-key)\n"
    "                       [--device-id D]\n"
    "  dps enrollment-group|enrollment list | show|delete|enable|disable --group-id G | --registration-id R\n"
    "\n"
    "As in az: --device-id or -d for --device, --module-id for --module; --prop k=v, repeatable,\n"
    "for --props.\n"
    "Errors: one line on stderr, exit status 1. --json: machine-readable output.\n";

int main(int argc, char **argv)
{
    const char *home = getenv("LOCALHUB_HOME");
    snprintf(state_dir, sizeof(state_dir), "%s", home && *home ? home : ".localhub");
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-", 1) == 0 && strcmp(argv[i], "-") != 0 && strcmp(argv[i], "-d") != 0 &&
            strncmp(argv[i], "--", 2) != 0 && strcmp(argv[i], "-h") != 0)
            die("unknown option %s (see --help)", argv[i]);
        if (strncmp(argv[i], "--", 2) == 0 || strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "-d") == 0) {
            /* --name=VALUE, as az takes it; the value (maybe a key) is then
             * never part of the name an error message quotes */
            char *eq = strncmp(argv[i], "--", 2) == 0 ? strchr(argv[i], '=') : NULL;
            if (eq) *eq = '\0';
            if (strcmp(argv[i], "--state") == 0) {
                if (!eq && i + 1 >= argc) die("--state needs a folder");
                snprintf(state_dir, sizeof(state_dir), "%s", eq ? eq + 1 : argv[++i]);
                continue;
            }
            if (nopts >= MAX_OPTS) die("too many options");
            opts[nopts].name = argv[i];
            if (eq) {
                if (is_flag(argv[i])) die("option %s takes no value", argv[i]);
                opts[nopts].value = eq + 1;
            } else if (!is_flag(argv[i])) {
                if (i + 1 >= argc) die("option %s needs a value", argv[i]);
                opts[nopts].value = argv[++i];
            }
            nopts++;
        } else {
            if (npos >= 16) die("too many arguments");
            pos[npos++] = argv[i];
        }
    }
    if (flag("--help") || flag("-h")) {
        fputs(usage, stdout);
        return 0;
    }
    if (flag("--version")) {
        printf("localhub %s\n", LOCALHUB_VERSION);
        return 0;
    }
    /* Everything this CLI and the broker it starts create (registry, keys,
     * logs) is private to the user. */
    umask(077);
        json_out = flag("--json");
    if (npos == 0) die("no command given (see --help)");
    /* Make the state path absolute: the broker runs from another folder. */
    if (state_dir[0] != '/') {
        char cwd[1024], abs[3100];
        if (!getcwd(cwd, sizeof(cwd))) die("getcwd failed");
        snprintf(abs, sizeof(abs), "%s/%s", cwd, state_dir);
        if (strlen(abs) >= sizeof(state_dir)) die("state path too long");
        memcpy(state_dir, abs, strlen(abs) + 1);
    }
    const char *c = pos[0], *s1 = npos > 1 ? pos[1] : NULL, *s2 = npos > 2 ? pos[2] : NULL;
    read_only_cmd = !strcmp(c, "status") || (s1 && (!strcmp(s1, "list") || !strcmp(s1, "show"))) ||
                    (s2 && (!strcmp(s2, "list") || !strcmp(s2, "show")));
    if (!strcmp(c, "start")) cmd_start();
    else if (!strcmp(c, "stop")) cmd_stop();
    else if (!strcmp(c, "status")) cmd_status();
    else if (!strcmp(c, "ca")) cmd_ca(s1);
    else if (!strcmp(c, "device")) cmd_device(s1);
    else if (!strcmp(c, "generate-sas-token")) cmd_sas_token();
    else if (!strcmp(c, "monitor-events")) cmd_monitor();
    else if (!strcmp(c, "c2d")) cmd_c2d(s1);
    else if (!strcmp(c, "twin")) cmd_twin(s1);
    else if (!strcmp(c, "method")) cmd_method(s1);
    else if (!strcmp(c, "module")) cmd_module(s1, s2);
    else if (!strcmp(c, "dps")) cmd_dps(s1, s2);
    else die("unknown command '%s' (see --help)", c);
    return 0;
}
