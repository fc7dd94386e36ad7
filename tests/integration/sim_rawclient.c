/*
 * Raw-frame test client for the trustm-sim daemon (test code only; it is
 * deliberately NOT libtrustm, so the simulator is checked independently).
 * It speaks the socket protocol of docs/sim-socket-protocol.md, builds and
 * checks frames itself (own CRC, own frame counters, own chaining) and checks
 * results with openssl:
 *  - OpenApplication; read 0xE0E0 (chained) and `openssl verify` the device
 *    certificate against the exported factory chain;
 *  - GenKeyPair P-256 into 0xE0F1, CalcSign, `openssl pkeyutl -verify` with
 *    the returned public key;
 *  - reading 0xE0F1 fails; 0xF1C2 then holds 0x07 (access conditions);
 *  - write a new PBS into 0xE140; shielded handshake; protected GetRandom;
 *    a corrupted command MAC gets alert 0x44; a corrupted response MAC
 *    (fault injector) is resent after the host's alert;
 *  - the daemon's state survives a restart (the key in 0xE0F1 still signs);
 *  - malformed socket requests get status 0x10 and the daemon keeps serving.
 * Usage: sim_rawclient PATH-TO-trustm-sim
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ccm.h>
#include <mbedtls/md.h>
#include <mbedtls/sha256.h>

static int passed, failed;

static void msleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}
static char dir[256];
static pid_t daemon_pid = -1;
static const char *daemon_path;

#define CHECK(cond, ...)                                        \
    do {                                                        \
        if (cond) {                                             \
            passed++;                                           \
        } else {                                                \
            failed++;                                           \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                       \
            fprintf(stderr, "\n");                              \
        }                                                       \
    } while (0)

#define REQUIRE(cond, ...)                 \
    do {                                   \
        if (!(cond)) {                     \
            CHECK(cond, __VA_ARGS__);      \
            finish();                      \
        }                                  \
    } while (0)

static void stop_daemon(void)
{
    if (daemon_pid > 0) {
        kill(daemon_pid, SIGTERM);
        int st;
        for (int i = 0; i < 100; i++) {
            if (waitpid(daemon_pid, &st, WNOHANG) == daemon_pid) {
                daemon_pid = -1;
                return;
            }
            msleep_us(20000);
        }
        kill(daemon_pid, SIGKILL);
        waitpid(daemon_pid, &st, 0);
        daemon_pid = -1;
    }
}

static void finish(void)
{
    stop_daemon();
    if (dir[0]) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "cleanup of %s failed\n", dir);
        }
    }
    printf("sim_rawclient: %d passed, %d failed\n", passed, failed);
    exit(failed ? 1 : 0);
}

static void on_alarm(int sig)
{
    (void)sig;
    if (daemon_pid > 0) {
        kill(daemon_pid, SIGKILL);
    }
    static const char msg[] = "sim_rawclient: timeout\n";
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    (void)w;
    _exit(2);
}

/* ---- daemon and socket --------------------------------------------------- */
static int sock_fd = -1;

static void start_daemon(void)
{
    char sock[300], state[300], ca[300];
    snprintf(sock, sizeof(sock), "%s/sim.sock", dir);
    snprintf(state, sizeof(state), "%s/chip.state", dir);
    snprintf(ca, sizeof(ca), "%s/ca", dir);
    mkdir(ca, 0700);
    unlink(sock);
    daemon_pid = fork();
    if (daemon_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0) {
            dup2(nul, 2);
        }
        execl(daemon_path, daemon_path, "--socket", sock, "--state", state, "--seed", "42",
              "--export-ca", ca, (char *)NULL);
        _exit(127);
    }
    REQUIRE(daemon_pid > 0, "fork failed");
    for (int i = 0; i < 250; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = {0};
        a.sun_family = AF_UNIX;
        REQUIRE(strlen(sock) < sizeof(a.sun_path), "socket path too long");
        memcpy(a.sun_path, sock, strlen(sock) + 1);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
            sock_fd = fd;
            return;
        }
        if (fd >= 0) {
            close(fd);
        }
        msleep_us(20000);
    }
    REQUIRE(false, "daemon did not come up on %s", sock);
}

static void io_all(bool wr, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = wr ? write(sock_fd, p, n) : read(sock_fd, p, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        REQUIRE(r > 0, "socket %s failed", wr ? "write" : "read");
        p += r;
        n -= (size_t)r;
    }
}

/* One request; returns the status; reply data into out (up to cap). */
static int rpc(uint8_t op, uint8_t addr, uint16_t len, const uint8_t *data, size_t dlen, uint8_t *out,
               size_t cap, size_t *out_len)
{
    uint8_t hdr[4] = {op, addr, (uint8_t)(len >> 8), (uint8_t)len};
    static uint8_t rbuf[70000];
    io_all(true, hdr, 4);
    if (dlen) {
        io_all(true, (uint8_t *)(uintptr_t)data, dlen);
    }
    uint8_t rh[3];
    io_all(false, rh, 3);
    size_t n = ((size_t)rh[1] << 8) | rh[2];
    if (n) {
        io_all(false, rbuf, n);
    }
    if (out) {
        memcpy(out, rbuf, n < cap ? n : cap);
    }
    if (out_len) {
        *out_len = n;
    }
    return rh[0];
}

static void host_sleep(uint32_t us)
{
    uint8_t d[4] = {(uint8_t)(us >> 24), (uint8_t)(us >> 16), (uint8_t)(us >> 8), (uint8_t)us};
    REQUIRE(rpc(0x07, 0x30, 4, d, 4, NULL, 0, NULL) == 0, "sleep op refused");
}

static int bus_write(const uint8_t *d, size_t n)
{
    int st = 1;
    for (int i = 0; i < 300 && st == 1; i++) {
        st = rpc(0x01, 0x30, (uint16_t)n, d, n, NULL, 0, NULL);
        if (st == 1) {
            host_sleep(1000);
        }
    }
    return st;
}

static int bus_read(uint8_t *out, size_t n)
{
    int st = 1;
    for (int i = 0; i < 300 && st == 1; i++) {
        size_t got = 0;
        st = rpc(0x02, 0x30, (uint16_t)n, NULL, 0, out, n, &got);
        if (st == 0 && got != n) {
            return -1;
        }
        if (st == 1) {
            host_sleep(1000);
        }
    }
    return st;
}

static int reg_read(uint8_t reg, uint8_t *out, size_t n)
{
    int st = bus_write(&reg, 1);
    return st ? st : bus_read(out, n);
}

/* ---- data link (the test's own) ----------------------------------------- */
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

static uint8_t tx_nr = 3, rx_nr = 3;
static uint8_t stash[300];
static size_t stash_len;

static void send_frame(uint8_t fctr, const uint8_t *pkt, size_t n)
{
    uint8_t w[300];
    w[0] = 0x80;
    w[1] = fctr;
    w[2] = (uint8_t)(n >> 8);
    w[3] = (uint8_t)n;
    if (n) {
        memcpy(w + 4, pkt, n);
    }
    uint16_t c = crc16(w + 1, n + 3);
    w[4 + n] = (uint8_t)(c >> 8);
    w[5 + n] = (uint8_t)c;
    REQUIRE(bus_write(w, n + 6) == 0, "frame write not acknowledged");
}

static size_t recv_frame(uint8_t *buf, size_t cap)
{
    for (int i = 0; i < 20000; i++) { /* up to 20 s of virtual time */
        uint8_t st[4];
        REQUIRE(reg_read(0x82, st, 4) == 0, "I2C_STATE read failed");
        if (st[0] & 0x40) {
            size_t len = ((size_t)st[2] << 8) | st[3];
            REQUIRE(len >= 5 && len <= cap, "bad frame length %zu", len);
            REQUIRE(reg_read(0x80, buf, len) == 0, "DATA read failed");
            uint16_t c = crc16(buf, len - 2);
            REQUIRE(buf[len - 2] == (uint8_t)(c >> 8) && buf[len - 1] == (uint8_t)c, "chip frame CRC bad");
            REQUIRE((((size_t)buf[1] << 8) | buf[2]) + 5 == len, "chip frame LEN bad");
            return len;
        }
        host_sleep(1000);
    }
    REQUIRE(false, "no frame from the chip");
    return 0;
}

static void send_packet(const uint8_t *pkt, size_t n)
{
    uint8_t f[300];
    tx_nr = (uint8_t)((tx_nr + 1) & 3);
    send_frame((uint8_t)((tx_nr << 2) | rx_nr), pkt, n);
    size_t len = recv_frame(f, sizeof(f));
    if (f[0] & 0x80) {
        REQUIRE(f[0] == (0x80 | tx_nr), "expected ACK %u, got FCTR %02X", tx_nr, f[0]);
        return;
    }
    REQUIRE((f[0] & 3) == tx_nr, "data frame does not acknowledge our frame");
    memcpy(stash, f, len);
    stash_len = len;
}

/* Receive one message (all packets), acknowledging each frame. Returns its length. */
static size_t recv_message(uint8_t *msg, size_t cap, uint8_t *out_pctr)
{
    size_t total = 0;
    for (;;) {
        uint8_t f[300];
        size_t len;
        if (stash_len) {
            memcpy(f, stash, stash_len);
            len = stash_len;
            stash_len = 0;
        } else {
            len = recv_frame(f, sizeof(f));
        }
        if (f[0] & 0x80) {
            continue; /* control ACK before the response */
        }
        uint8_t nr = (uint8_t)((f[0] >> 2) & 3);
        REQUIRE(nr == ((rx_nr + 1) & 3), "unexpected frame number %u", nr);
        rx_nr = nr;
        send_frame((uint8_t)(0x80 | nr), NULL, 0);
        uint8_t pctr = f[3];
        size_t pl = len - 6;
        REQUIRE(total + pl <= cap, "message too long");
        memcpy(msg + total, f + 4, pl);
        if (total == 0) {
            *out_pctr = pctr;
        }
        total += pl;
        uint8_t chain = pctr & 7;
        if (chain == 0 || chain == 4 || chain == 7) {
            return total;
        }
    }
}

/* Send msg (chained as needed) with the presence bit as asked; receive the answer. */
static size_t transceive(const uint8_t *msg, size_t n, bool presence, uint8_t *out, size_t cap)
{
    uint8_t pkt[272];
    size_t off = 0;
    uint8_t pbit = presence ? 0x08 : 0x00;
    while (off < n || n == 0) {
        size_t left = n - off, take = left > 271 ? 271 : left;
        uint8_t chain = (off == 0 && left <= 271) ? 0 : off == 0 ? 1 : left > 271 ? 2 : 4;
        pkt[0] = (uint8_t)(pbit | chain);
        memcpy(pkt + 1, msg + off, take);
        send_packet(pkt, take + 1);
        off += take;
        if (n == 0) {
            break;
        }
    }
    uint8_t pctr = 0;
    size_t len = recv_message(out, cap, &pctr);
    REQUIRE((pctr & 7) != 7, "chip reported a chaining error");
    REQUIRE((pctr & 0x08) == pbit, "presence bit of the answer differs");
    return len;
}

static size_t apdu(const uint8_t *cmd, size_t n, uint8_t *rsp, size_t cap)
{
    size_t len = transceive(cmd, n, false, rsp, cap);
    REQUIRE(len >= 4 && (((size_t)rsp[2] << 8) | rsp[3]) + 4 == len, "malformed response APDU");
    return len;
}

static uint8_t last_error(void)
{
    static const uint8_t rd[] = {0x01, 0x00, 0x00, 0x06, 0xF1, 0xC2, 0x00, 0x00, 0x00, 0x01};
    uint8_t r[16];
    size_t n = apdu(rd, sizeof(rd), r, sizeof(r));
    REQUIRE(n == 5 && r[0] == 0, "reading 0xF1C2 failed");
    return r[4];
}

static const uint8_t open_app[] = {0xF0, 0x00, 0x00, 0x10, 0xD2, 0x76, 0x00, 0x00, 0x04, 0x47,
                                   0x65, 0x6E, 0x41, 0x75, 0x74, 0x68, 0x41, 0x70, 0x70, 0x6C};

static void write_file(const char *name, const uint8_t *d, size_t n)
{
    char p[400];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    REQUIRE(f && fwrite(d, 1, n, f) == n, "cannot write %s", p);
    fclose(f);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[1500];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* ---- the checks ----------------------------------------------------------- */
static void open_application(void)
{
    uint8_t r[16];
    size_t n = apdu(open_app, sizeof(open_app), r, sizeof(r));
    CHECK(n == 4 && r[0] == 0x00, "OpenApplication failed (Sta %02X)", r[0]);
}

/* The [DS] App. B OpenApplication log, byte for byte, against the real application. */
static void open_application_as_in_datasheet_log(void)
{
    static const uint8_t fr[] = {0x03, 0x00, 0x15, 0x00, 0x70, 0x00, 0x00, 0x10, 0xD2, 0x76, 0x00, 0x00, 0x04,
                                 0x47, 0x65, 0x6E, 0x41, 0x75, 0x74, 0x68, 0x41, 0x70, 0x70, 0x6C, 0x04, 0x1A};
    uint8_t w[40] = {0x80}, st[4], f[16];
    memcpy(w + 1, fr, sizeof(fr));
    REQUIRE(bus_write(w, sizeof(fr) + 1) == 0, "frame write");
    REQUIRE(reg_read(0x82, st, 4) == 0, "I2C_STATE");
    CHECK(memcmp(st, "\xC8\x80\x00\x05", 4) == 0, "I2C_STATE %02X %02X %02X %02X, log has C8 80 00 05",
          st[0], st[1], st[2], st[3]);
    REQUIRE(reg_read(0x80, f, 5) == 0, "DATA");
    CHECK(memcmp(f, "\x80\x00\x00\x0C\xEC", 5) == 0, "chip ACK differs from the log");
    for (int i = 0; i < 100; i++) {
        REQUIRE(reg_read(0x82, st, 4) == 0, "I2C_STATE");
        if (st[0] & 0x40) {
            break;
        }
        host_sleep(1000);
    }
    CHECK(memcmp(st, "\x48\x80\x00\x0A", 4) == 0, "I2C_STATE before the response differs from the log");
    REQUIRE(reg_read(0x80, f, 10) == 0, "DATA");
    CHECK(memcmp(f, "\x00\x00\x05\x00\x00\x00\x00\x00\x14\x87", 10) == 0, "response frame differs from the log");
    send_frame(0x80, NULL, 0);
    /* the log's UID read: answered directly by a data frame carrying the ACK */
    static const uint8_t uid[] = {0x04, 0x00, 0x0B, 0x00, 0x01, 0x00, 0x00, 0x06, 0xE0, 0xC2, 0x00, 0x00,
                                  0x00, 0x64, 0xF0, 0x9F};
    uint8_t big[64];
    memcpy(w + 1, uid, sizeof(uid));
    REQUIRE(bus_write(w, sizeof(uid) + 1) == 0, "frame write");
    size_t n = recv_frame(big, sizeof(big));
    /* no control ACK first: the 27-byte read is modelled under 5 ms */
    CHECK(n == 37 && memcmp(big, "\x05\x00\x20\x00\x00\x00\x00\x1B\xCD", 9) == 0,
          "UID response frame differs from the log (%zu bytes, FCTR %02X)", n, big[0]);
    /* the rest is this chip's UID (seeded, spec 7.2 layout) and the CRC */
    uint16_t crc = crc16(big, n - 2);
    CHECK(n == 37 && big[35] == (uint8_t)(crc >> 8) && big[36] == (uint8_t)crc, "UID frame CRC");
    send_frame(0x81, NULL, 0); /* 81 00 00 56 30 */
    tx_nr = 1;
    rx_nr = 1;
}

static void read_and_verify_certificate(void)
{
    static const uint8_t rd[] = {0x81, 0x00, 0x00, 0x06, 0xE0, 0xE0, 0x00, 0x00, 0x06, 0x11};
    static uint8_t r[1600];
    size_t n = apdu(rd, sizeof(rd), r, sizeof(r));
    REQUIRE(r[0] == 0x00 && n > 280, "reading 0xE0E0 failed or was not chained (%zu bytes)", n);
    const uint8_t *o = r + 4;
    size_t olen = n - 4;
    const uint8_t *der = o;
    size_t dlen = olen;
    if (o[0] == 0xC0) { /* TLS identity wrapper: C0 LL LL, list len(3), cert len(3), cert */
        REQUIRE(olen > 9, "short wrapper");
        dlen = ((size_t)o[6] << 16) | ((size_t)o[7] << 8) | o[8];
        der = o + 9;
        CHECK((((size_t)o[1] << 8) | o[2]) + 3 == olen, "wrapper length mismatch");
        REQUIRE(dlen + 9 <= olen, "certificate length exceeds the object");
    }
    CHECK(der[0] == 0x30, "certificate is not DER");
    write_file("device.der", der, dlen);
    CHECK(sh("openssl x509 -inform DER -in '%s/device.der' -out '%s/device.pem' 2>/dev/null", dir, dir) == 0,
          "openssl cannot parse the device certificate");
    CHECK(sh("openssl verify -CAfile '%s/ca/root.pem' -untrusted '%s/ca/ca.pem' '%s/device.pem' >/dev/null 2>&1",
             dir, dir, dir) == 0,
          "openssl verify rejected the device certificate");
}

static const uint8_t spki_p256[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02,
                                    0x01, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07};

static void sign_and_verify(const char *tag)
{
    uint8_t dg[32], r[200], sig[160];
    REQUIRE(mbedtls_sha256_ret((const uint8_t *)tag, strlen(tag), dg, 0) == 0, "sha256");
    uint8_t cmd[4 + 3 + 32 + 5] = {0xB1, 0x11, 0x00, 0x28, 0x01, 0x00, 0x20};
    memcpy(cmd + 7, dg, 32);
    memcpy(cmd + 39, "\x03\x00\x02\xE0\xF1", 5);
    size_t n = apdu(cmd, sizeof(cmd), r, sizeof(r));
    REQUIRE(r[0] == 0x00 && n > 8 && r[4] == 0x02, "CalcSign failed (Sta %02X, error %02X)", r[0],
            r[0] ? last_error() : 0);
    size_t sl = n - 4;
    sig[0] = 0x30;
    sig[1] = (uint8_t)sl;
    memcpy(sig + 2, r + 4, sl);
    write_file("sig.der", sig, sl + 2);
    write_file("digest.bin", dg, 32);
    CHECK(sh("openssl pkeyutl -verify -pubin -keyform DER -inkey '%s/pub.der' -in '%s/digest.bin' "
             "-sigfile '%s/sig.der' >/dev/null 2>&1", dir, dir, dir) == 0,
          "openssl rejected the chip's signature (%s)", tag);
}

static void generate_sign_verify(void)
{
    static const uint8_t gen[] = {0xB8, 0x03, 0x00, 0x09, 0x01, 0x00, 0x02, 0xE0, 0xF1, 0x02, 0x00, 0x01, 0x10};
    uint8_t r[200];
    size_t n = apdu(gen, sizeof(gen), r, sizeof(r));
    REQUIRE(r[0] == 0x00 && n == 4 + 3 + 68 && r[4] == 0x02 && r[7] == 0x03 && r[8] == 0x42,
            "GenKeyPair failed (Sta %02X, %zu bytes)", r[0], n);
    uint8_t spki[91];
    memcpy(spki, spki_p256, sizeof(spki_p256));
    memcpy(spki + sizeof(spki_p256), r + 7, 68);
    write_file("pub.der", spki, sizeof(spki));
    sign_and_verify("abc");
}

static void key_object_is_not_readable(void)
{
    static const uint8_t rd[] = {0x81, 0x00, 0x00, 0x06, 0xE0, 0xF1, 0x00, 0x00, 0x06, 0x11};
    uint8_t r[64];
    size_t n = apdu(rd, sizeof(rd), r, sizeof(r));
    CHECK(n == 4 && r[0] == 0xFF, "reading key object 0xE0F1 did not fail");
    uint8_t e = last_error();
    CHECK(e == 0x07, "0xF1C2 = %02X, expected 0x07 (access conditions not satisfied)", e);
}

/* ---- shielded connection ---------------------------------------------------- */
static uint8_t pbs[64];
static uint8_t keys[40];
static uint32_t mseq, sseq;

static int prf(const uint8_t *secret, size_t sl, const uint8_t *seed, size_t seedl, uint8_t *out, size_t ol)
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    uint8_t a[32], buf[32 + 16 + 32], blk[32];
    const char *label = "Platform Binding";
    memcpy(buf + 32, label, 16);
    memcpy(buf + 48, seed, seedl);
    if (mbedtls_md_hmac(md, secret, sl, buf + 32, 16 + seedl, a)) {
        return -1;
    }
    for (size_t off = 0; off < ol; off += 32) {
        memcpy(buf, a, 32);
        if (mbedtls_md_hmac(md, secret, sl, buf, 48 + seedl, blk)) {
            return -1;
        }
        memcpy(out + off, blk, ol - off < 32 ? ol - off : 32);
        if (mbedtls_md_hmac(md, secret, sl, a, 32, a)) {
            return -1;
        }
    }
    return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int ccm(bool enc, const uint8_t *key, const uint8_t *pfx, uint8_t sctr, uint32_t seq,
               const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
    uint8_t nonce[8], ad[8] = {sctr, 0, 0, 0, 0, 0x01, (uint8_t)(len >> 8), (uint8_t)len};
    memcpy(nonce, pfx, 4);
    put32(nonce + 4, seq);
    put32(ad + 1, seq);
    mbedtls_ccm_context c;
    mbedtls_ccm_init(&c);
    int rc = mbedtls_ccm_setkey(&c, MBEDTLS_CIPHER_ID_AES, key, 128);
    if (!rc) {
        rc = enc ? mbedtls_ccm_encrypt_and_tag(&c, len, nonce, 8, ad, 8, in, out, tag, 8)
                 : mbedtls_ccm_auth_decrypt(&c, len, nonce, 8, ad, 8, in, out, tag, 8);
    }
    mbedtls_ccm_free(&c);
    return rc;
}

static void write_pbs(void)
{
    uint8_t cmd[8 + 64] = {0x82, 0x40, 0x00, 0x44, 0xE1, 0x40, 0x00, 0x00};
    uint8_t r[16];
    for (int i = 0; i < 64; i++) {
        pbs[i] = (uint8_t)(0x5A ^ (i * 29));
    }
    memcpy(cmd + 8, pbs, 64);
    size_t n = apdu(cmd, sizeof(cmd), r, sizeof(r));
    CHECK(n == 4 && r[0] == 0x00, "writing the PBS into 0xE140 failed (error %02X)", r[0] ? last_error() : 0);
}

static void handshake(void)
{
    uint8_t m[64] = {0x00, 0x01}, r[300], pt[36];
    size_t n = transceive(m, 2, true, r, sizeof(r));
    REQUIRE(n == 38 && r[0] == 0x00 && r[1] == 0x01, "bad slave Hello (%zu bytes, %02X)", n, r[0]);
    sseq = get32(r + 34);
    REQUIRE(prf(pbs, 64, r + 2, 32, keys, 40) == 0, "PRF failed");
    memcpy(pt, r + 2, 32);
    put32(pt + 32, sseq);
    m[0] = 0x08;
    put32(m + 1, sseq);
    REQUIRE(ccm(true, keys, keys + 32, 0x08, sseq, pt, 36, m + 5, m + 41) == 0, "CCM failed");
    n = transceive(m, 49, true, r, sizeof(r));
    REQUIRE(n == 49 && r[0] == 0x08, "bad slave Finished (%zu bytes, SCTR %02X): PBS not used?", n, r[0]);
    mseq = get32(r + 1);
    REQUIRE(ccm(false, keys + 16, keys + 36, 0x08, mseq, r + 5, 36, pt, r + 41) == 0,
            "slave Finished does not verify");
    CHECK(memcmp(pt + 32, r + 1, 4) == 0, "slave Finished plaintext wrong");
    passed++;
}

/* Protected GetRandom (0x23); corrupt_cmd flips a MAC bit. Returns the chip's message length. */
static size_t protected_getrandom(bool corrupt_cmd, uint8_t *r, size_t cap)
{
    static const uint8_t gr[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
    uint8_t m[64];
    m[0] = 0x23;
    put32(m + 1, ++mseq);
    REQUIRE(ccm(true, keys, keys + 32, 0x23, mseq, gr, 6, m + 5, m + 11) == 0, "CCM failed");
    if (corrupt_cmd) {
        m[14] ^= 0x20;
    }
    return transceive(m, 19, true, r, cap);
}

static void shielded_checks(void)
{
    uint8_t r[300], pt[64];
    /* application open inside a plain record (the PRL is mandatory now) */
    uint8_t m[64] = {0x20};
    memcpy(m + 1, open_app, sizeof(open_app));
    size_t n = transceive(m, 1 + sizeof(open_app), true, r, sizeof(r));
    CHECK(n == 5 && r[0] == 0x20 && r[1] == 0x00, "OpenApplication in a plain record failed");
    handshake();
    n = protected_getrandom(false, r, sizeof(r));
    REQUIRE(n == 1 + 4 + 36 + 8 && r[0] == 0x23, "protected GetRandom: %zu bytes, SCTR %02X", n, r[0]);
    uint32_t s = get32(r + 1);
    CHECK(s == sseq + 1, "response SSEQ %u, expected %u", s, sseq + 1);
    sseq = s;
    CHECK(ccm(false, keys + 16, keys + 36, 0x23, s, r + 5, 36, pt, r + 41) == 0, "response MAC bad");
    CHECK(pt[0] == 0 && pt[2] == 0 && pt[3] == 0x20, "GetRandom response header wrong");

    /* our MAC corrupted: integrity alert, then the next sequence number works */
    n = protected_getrandom(true, r, sizeof(r));
    CHECK(n == 1 && r[0] == 0x44, "corrupted command MAC: expected alert 44, got %zu bytes %02X", n, r[0]);
    n = protected_getrandom(false, r, sizeof(r));
    CHECK(n == 49 && ccm(false, keys + 16, keys + 36, 0x23, get32(r + 1), r + 5, 36, pt, r + 41) == 0,
          "command after an integrity alert failed");
    sseq = get32(r + 1);

    /* the chip's MAC corrupted by the fault injector: we alert, it resends */
    const char *cfg = "{\"corrupt_mac\":1,\"max_faults\":1}";
    CHECK(rpc(0x06, 0x30, (uint16_t)strlen(cfg), (const uint8_t *)cfg, strlen(cfg), NULL, 0, NULL) == 0,
          "fault configuration refused");
    n = protected_getrandom(false, r, sizeof(r));
    REQUIRE(n == 49, "protected GetRandom with fault: %zu bytes", n);
    CHECK(ccm(false, keys + 16, keys + 36, 0x23, get32(r + 1), r + 5, 36, pt, r + 41) != 0,
          "the injected MAC corruption was not visible");
    uint8_t alert = 0x44;
    n = transceive(&alert, 1, true, r, sizeof(r));
    CHECK(n == 49 && get32(r + 1) == sseq + 2, "no resend with a new SSEQ after the host's alert");
    CHECK(ccm(false, keys + 16, keys + 36, 0x23, get32(r + 1), r + 5, 36, pt, r + 41) == 0,
          "resent response does not verify");
    sseq = get32(r + 1);
}

/* Fully protected command; returns the decrypted response APDU length (0 on failure). */
static size_t protected_apdu(const uint8_t *cmd, size_t n, uint8_t *out, size_t cap)
{
    static uint8_t m[1600], r[1700];
    m[0] = 0x23;
    put32(m + 1, ++mseq);
    REQUIRE(ccm(true, keys, keys + 32, 0x23, mseq, cmd, n, m + 5, m + 5 + n) == 0, "CCM failed");
    size_t len = transceive(m, n + 13, true, r, sizeof(r));
    if (len < 13 || r[0] != 0x23 || len - 13 > cap) {
        return 0;
    }
    sseq = get32(r + 1);
    if (ccm(false, keys + 16, keys + 36, 0x23, sseq, r + 5, len - 13, out, r + len - 8) != 0) {
        return 0;
    }
    return len - 13;
}

/* Hibernate with an open shielded connection, restart the daemon, restore. */
static void hibernate_across_restart(void)
{
    static const uint8_t close_hib[] = {0xF1, 0x01, 0x00, 0x00};
    uint8_t r[64], handle[8];
    /* hibernate needs SEC == 0: the signatures above raised it; the Security
     * Monitor lowers it by one per t_max (5 s) without events */
    for (int i = 0; i < 30; i++) {
        host_sleep(5000000);
    }
    size_t n = protected_apdu(close_hib, sizeof(close_hib), r, sizeof(r));
    if (n != 12 || r[0] != 0x00) {
        static const uint8_t rd[] = {0x01, 0x00, 0x00, 0x06, 0xF1, 0xC2, 0x00, 0x00, 0x00, 0x01};
        uint8_t e[16] = {0};
        size_t en = protected_apdu(rd, sizeof(rd), e, sizeof(e));
        REQUIRE(false, "CloseApplication(hibernate) failed (%zu bytes, Sta %02X, error %02X)", n, r[0],
                en == 5 ? e[4] : 0xEE);
    }
    memcpy(handle, r + 4, 8);
    uint8_t save = 0x60;
    n = transceive(&save, 1, true, r, sizeof(r));
    CHECK(n == 1 && r[0] == 0x64, "context save: %zu bytes %02X", n, r[0]);
    close(sock_fd);
    stop_daemon();
    tx_nr = rx_nr = 3;
    start_daemon();
    uint8_t restore[5] = {0x68};
    put32(restore + 1, sseq);
    n = transceive(restore, 5, true, r, sizeof(r));
    REQUIRE(n == 5 && (r[0] & 0xFC) == 0x6C, "context restore: %zu bytes %02X", n, r[0]);
    CHECK(get32(r + 1) == mseq, "restored MSEQ %u, expected %u", get32(r + 1), mseq);
    uint8_t open_restore[4 + 16 + 8] = {0xF0, 0x01, 0x00, 0x18};
    memcpy(open_restore + 4, open_app + 4, 16);
    memcpy(open_restore + 20, handle, 8);
    n = protected_apdu(open_restore, sizeof(open_restore), r, sizeof(r));
    CHECK(n == 4 && r[0] == 0x00, "OpenApplication(restore) failed (%zu bytes, Sta %02X)", n, r[0]);
    static const uint8_t gr[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
    n = protected_apdu(gr, sizeof(gr), r, sizeof(r));
    CHECK(n == 36 && r[0] == 0x00, "protected GetRandom after restore failed");
}

/* Write E0E1 with 1000 bytes of value v (chained command). With kill_at_end the
 * last frame's request is sent and the daemon is killed (-9) without waiting. */
static void write_e0e1(uint8_t v, bool kill_at_end)
{
    static uint8_t cmd[8 + 1000];
    uint8_t r[16];
    memcpy(cmd, "\x82\x40\x03\xEC\xE0\xE1\x00\x00", 8);
    memset(cmd + 8, v, 1000);
    if (!kill_at_end) {
        size_t n = apdu(cmd, sizeof(cmd), r, sizeof(r));
        REQUIRE(n == 4 && r[0] == 0, "writing 0xE0E1 failed");
        return;
    }
    uint8_t pkt[272], w[300];
    size_t off = 0, n = sizeof(cmd);
    while (n - off > 271) {
        pkt[0] = off == 0 ? 0x01 : 0x02;
        memcpy(pkt + 1, cmd + off, 271);
        send_packet(pkt, 272);
        off += 271;
    }
    size_t take = n - off;
    pkt[0] = 0x04;
    memcpy(pkt + 1, cmd + off, take);
    tx_nr = (uint8_t)((tx_nr + 1) & 3);
    w[0] = 0x80;
    w[1] = (uint8_t)((tx_nr << 2) | rx_nr);
    w[2] = 0;
    w[3] = (uint8_t)(take + 1);
    memcpy(w + 4, pkt, take + 1);
    uint16_t c = crc16(w + 1, take + 4);
    w[5 + take] = (uint8_t)(c >> 8);
    w[6 + take] = (uint8_t)c;
    uint8_t hdr[4] = {0x01, 0x30, 0, (uint8_t)(take + 7)};
    io_all(true, hdr, 4);
    io_all(true, w, take + 7);
    msleep_us((long)(rand() % 3000)); /* race the daemon's NVM write */
    kill(daemon_pid, SIGKILL);
    int st;
    waitpid(daemon_pid, &st, 0);
    daemon_pid = -1;
    close(sock_fd);
}

/* kill -9 while a write is in flight: the state file is the old or the new object, never a mixture. */
static void kill9_rounds(void)
{
    uint8_t v = 1;
    for (int round = 0; round < 6; round++) {
        int writes = 1 + rand() % 4;
        for (int i = 0; i < writes; i++) {
            write_e0e1(v++, false);
        }
        uint8_t last_ok = (uint8_t)(v - 1);
        write_e0e1(v++, true);
        tx_nr = rx_nr = 3;
        start_daemon();
        open_application();
        static const uint8_t rd[] = {0x81, 0x00, 0x00, 0x06, 0xE0, 0xE1, 0x00, 0x00, 0x06, 0x11};
        static uint8_t r[1100];
        size_t n = apdu(rd, sizeof(rd), r, sizeof(r));
        REQUIRE(n == 1004 && r[0] == 0, "0xE0E1 unreadable after kill -9 (%zu bytes)", n);
        uint8_t got = r[4];
        bool uniform = true;
        for (size_t i = 4; i < n; i++) {
            uniform &= r[i] == got;
        }
        CHECK(uniform && (got == last_ok || got == (uint8_t)(v - 1)),
              "after kill -9: object holds %02X (uniform %d), expected %02X or %02X", got, uniform,
              last_ok, (uint8_t)(v - 1));
        v = (uint8_t)(got + 1); /* continue from what survived */
    }
}

static void malformed_requests(void)
{
    uint8_t out[16];
    size_t n;
    CHECK(rpc(0x09, 0x30, 0, NULL, 0, out, sizeof(out), &n) == 0x10, "unknown op accepted");
    CHECK(rpc(0x02, 0x30, 0, NULL, 0, out, sizeof(out), &n) == 0x10, "zero-length read accepted");
    CHECK(rpc(0x01, 0x80, 1, (const uint8_t *)"\x82", 1, out, sizeof(out), &n) == 0x10, "8-bit address accepted");
    CHECK(rpc(0x03, 0x30, 1, (const uint8_t *)"\x00", 1, out, sizeof(out), &n) == 0x10, "reset with data accepted");
    CHECK(rpc(0x06, 0x30, 5, (const uint8_t *)"{bad}", 5, out, sizeof(out), &n) == 0x10, "bad fault JSON accepted");
    CHECK(rpc(0x01, 0x31, 1, (const uint8_t *)"\x82", 1, out, sizeof(out), &n) == 0x01, "other address acknowledged");
    static char js[70000];
    CHECK(rpc(0x05, 0x30, 0, NULL, 0, (uint8_t *)js, sizeof(js) - 1, &n) == 0 && n > 10, "no statistics");
    js[n < sizeof(js) ? n : sizeof(js) - 1] = 0;
    CHECK(strstr(js, "\"name\":\"CalcSign\"") != NULL, "statistics lack CalcSign: %.200s", js);
    /* still serving */
    uint8_t st[4];
    CHECK(reg_read(0x82, st, 4) == 0 && (st[0] & 0x08), "daemon stopped answering");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: sim_rawclient PATH-TO-trustm-sim\n");
        return 2;
    }
    daemon_path = argv[1];
    signal(SIGALRM, on_alarm);
    alarm(100);
    snprintf(dir, sizeof(dir), "/tmp/sim_rawclient.XXXXXX");
    if (!mkdtemp(dir)) {
        dir[0] = 0;
        fprintf(stderr, "mkdtemp failed\n");
        return 1;
    }
    start_daemon();
    open_application_as_in_datasheet_log();
    read_and_verify_certificate();
    generate_sign_verify();
    key_object_is_not_readable();
    write_pbs();
    malformed_requests();

    /* persistence: restart the daemon; the key generated in 0xE0F1 still signs */
    close(sock_fd);
    stop_daemon();
    tx_nr = rx_nr = 3;
    start_daemon();
    open_application();
    sign_and_verify("after restart");

    /* kill -9 in the middle of NVM writes */
    srand(12345);
    kill9_rounds();
    sign_and_verify("after kill -9");

    /* shielded connection with the new PBS (warm reset first: fresh PRL state) */
    CHECK(rpc(0x03, 0x30, 0, NULL, 0, NULL, 0, NULL) == 0, "warm reset refused");
    tx_nr = rx_nr = 3;
    shielded_checks();
    hibernate_across_restart();
    close(sock_fd);
    finish();
}
