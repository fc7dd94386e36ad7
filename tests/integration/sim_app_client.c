/*
 * Minimal raw-frame client for the trustm-sim daemon, for the sim_app
 * integration scripts (test code only, independent of libtrustm).
 *
 *   sim_app_client SOCKET [--reset] APDU_HEX...
 *
 * Speaks the socket protocol of issue 2 (request op|addr|len16|data, reply
 * status|len16|data), builds data-link frames itself (CRC-16 high byte
 * first, frame numbers, control ACKs, chaining in both directions, no
 * presentation layer) and prints each response APDU as one line of hex.
 * --reset sends a warm reset first (frame counters back to 3/3).
 * Exit 0 when every exchange completed (whatever the chip answered), 1 on a
 * protocol or I/O failure (one-line reason on stderr).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define ADDR 0x30
#define MAX_PACKET 272

static int fd = -1;
static uint8_t tx_nr = 3, rx_nr = 3;

static void die(const char *why)
{
    fprintf(stderr, "sim_app_client: %s\n", why);
    exit(1);
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void io_all(bool wr, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = wr ? write(fd, p, n) : read(fd, p, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            die("socket I/O failed");
        }
        p += r;
        n -= (size_t)r;
    }
}

/* One socket request; returns the status byte, reply data into out. */
static int request(uint8_t op, const uint8_t *data, size_t len, uint8_t *out, size_t cap,
                   size_t *out_len)
{
    uint8_t h[4] = {op, ADDR, (uint8_t)(len >> 8), (uint8_t)len};
    io_all(true, h, 4);
    if (len && op != 0x02) {
        io_all(true, (uint8_t *)(uintptr_t)data, len);
    }
    uint8_t r[3];
    io_all(false, r, 3);
    size_t n = (size_t)(r[1] << 8 | r[2]);
    if (n > cap) {
        die("reply larger than expected");
    }
    io_all(false, out, n);
    if (out_len) {
        *out_len = n;
    }
    return r[0];
}

/* Write bytes to the chip, retrying while it NACKs its address. */
static void bus_write(const uint8_t *p, size_t n)
{
    uint8_t dummy[16];
    for (int i = 0; i < 200000; i++) {
        int st = request(0x01, p, n, dummy, sizeof dummy, NULL);
        if (st == 0x00) {
            sleep_us(50);
            return;
        }
        if (st != 0x01 && st != 0x02) {
            die("write refused by the daemon");
        }
        sleep_us(1000);
    }
    die("chip stayed busy");
}

static size_t bus_read(uint8_t *out, size_t n)
{
    for (int i = 0; i < 200000; i++) {
        size_t got = 0;
        int st = request(0x02, NULL, n, out, n, &got);
        if (st == 0x00) {
            sleep_us(50);
            return got;
        }
        if (st != 0x01 && st != 0x02) {
            die("read refused by the daemon");
        }
        sleep_us(1000);
    }
    die("chip stayed busy");
    return 0;
}

static uint16_t crc16(const uint8_t *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = p[i];
        for (int k = 0; k < 8; k++) {
            crc = ((crc ^ b) & 1) ? (uint16_t)((crc >> 1) ^ 0x8408) : (uint16_t)(crc >> 1);
            b >>= 1;
        }
    }
    return crc;
}

static void send_frame(uint8_t fctr, const uint8_t *pkt, size_t n)
{
    uint8_t f[1 + 5 + MAX_PACKET];
    f[0] = 0x80; /* DATA register */
    f[1] = fctr;
    f[2] = (uint8_t)(n >> 8);
    f[3] = (uint8_t)n;
    if (n) {
        memcpy(f + 4, pkt, n);
    }
    uint16_t c = crc16(f + 1, 3 + n);
    f[4 + n] = (uint8_t)(c >> 8);
    f[5 + n] = (uint8_t)c;
    bus_write(f, 6 + n);
}

/* Poll I2C_STATE until a frame is ready; read and check it. */
static size_t recv_frame(uint8_t *f)
{
    for (long i = 0; i < 400000; i++) {
        uint8_t reg = 0x82, st[4];
        bus_write(&reg, 1);
        bus_read(st, 4);
        size_t len = (size_t)(st[2] << 8 | st[3]);
        if ((st[0] & 0x40) && len >= 5 && len <= 5 + MAX_PACKET) {
            reg = 0x80;
            bus_write(&reg, 1);
            size_t got = bus_read(f, len);
            if (got != len) {
                die("short frame read");
            }
            size_t plen = (size_t)(f[1] << 8 | f[2]);
            if (plen + 5 != len ||
                crc16(f, 3 + plen) != (uint16_t)(f[3 + plen] << 8 | f[4 + plen])) {
                die("bad frame from the chip (length or CRC)");
            }
            return len;
        }
        sleep_us(500);
    }
    die("no frame from the chip");
    return 0;
}

static size_t transceive(const uint8_t *apdu, size_t n, uint8_t *rsp, size_t cap)
{
    /* send, chained when needed */
    size_t off = 0;
    bool first = true;
    uint8_t f[5 + MAX_PACKET];
    bool got_data = false;
    size_t flen = 0;
    while (off < n || first) {
        size_t chunk = n - off;
        uint8_t pctr;
        if (first && chunk + 1 <= MAX_PACKET) {
            pctr = 0x00;
        } else {
            if (chunk > MAX_PACKET - 1) {
                chunk = MAX_PACKET - 1;
                pctr = first ? 0x01 : 0x02;
            } else {
                pctr = 0x04;
            }
        }
        uint8_t pkt[MAX_PACKET];
        pkt[0] = pctr;
        memcpy(pkt + 1, apdu + off, chunk);
        tx_nr = (uint8_t)((tx_nr + 1) & 3);
        send_frame((uint8_t)(tx_nr << 2 | rx_nr), pkt, chunk + 1);
        off += chunk;
        first = false;
        /* wait for the ACK (control frame) or a data frame carrying it */
        for (;;) {
            flen = recv_frame(f);
            if (f[0] & 0x80) {
                if ((f[0] & 0xE0) == 0x80 && (f[0] & 3) == tx_nr) {
                    break;
                }
                die("unexpected control frame");
            }
            got_data = true;
            break;
        }
        if (got_data && off < n) {
            die("data frame before the command was complete");
        }
    }
    /* receive the response packets */
    size_t rl = 0;
    for (;;) {
        if (!got_data) {
            flen = recv_frame(f);
            if (f[0] & 0x80) {
                continue; /* a late control ACK */
            }
        }
        got_data = false;
        uint8_t frnr = (uint8_t)((f[0] >> 2) & 3);
        size_t plen = flen - 5;
        if (frnr == rx_nr) {
            /* duplicate: acknowledge again, do not reuse */
            uint8_t ack[6] = {0x80, (uint8_t)(0x80 | rx_nr), 0, 0};
            uint16_t c = crc16(ack + 1, 3);
            ack[4] = (uint8_t)(c >> 8), ack[5] = (uint8_t)c;
            bus_write(ack, 6);
            continue;
        }
        rx_nr = frnr;
        uint8_t ack[6] = {0x80, (uint8_t)(0x80 | rx_nr), 0, 0};
        uint16_t c = crc16(ack + 1, 3);
        ack[4] = (uint8_t)(c >> 8), ack[5] = (uint8_t)c;
        bus_write(ack, 6);
        if (plen < 1) {
            die("empty packet");
        }
        uint8_t pctr = f[3];
        if (pctr == 0x07) {
            die("chaining error from the chip");
        }
        if (rl + plen - 1 > cap) {
            die("response too long");
        }
        memcpy(rsp + rl, f + 4, plen - 1);
        rl += plen - 1;
        if ((pctr & 7) == 0 || (pctr & 7) == 4) {
            return rl;
        }
    }
}

static size_t parse_hex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (; *s; s++) {
        int v;
        if (*s >= '0' && *s <= '9') {
            v = *s - '0';
        } else if (*s >= 'a' && *s <= 'f') {
            v = *s - 'a' + 10;
        } else if (*s >= 'A' && *s <= 'F') {
            v = *s - 'A' + 10;
        } else if (*s == ' ' || *s == ':') {
            continue;
        } else {
            die("bad hex argument");
            return 0;
        }
        if (hi < 0) {
            hi = v;
        } else {
            if (n == cap) {
                die("APDU too long");
            }
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0) {
        die("odd number of hex digits");
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: sim_app_client SOCKET [--reset] APDU_HEX...\n");
        return argc < 2 ? 2 : 0;
    }
    struct sockaddr_un sa = {0};
    sa.sun_family = AF_UNIX;
    if (strlen(argv[1]) >= sizeof sa.sun_path) {
        die("socket path too long");
    }
    strcpy(sa.sun_path, argv[1]);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        die("cannot connect to the daemon");
    }
    int i = 2;
    if (i < argc && !strcmp(argv[i], "--reset")) {
        uint8_t dummy[8];
        if (request(0x03, NULL, 0, dummy, sizeof dummy, NULL) != 0x00) {
            die("warm reset refused");
        }
        tx_nr = 3;
        rx_nr = 3;
        i++;
    }
    static uint8_t apdu[1600], rsp[1600];
    for (; i < argc; i++) {
        size_t n = parse_hex(argv[i], apdu, sizeof apdu);
        size_t rl = transceive(apdu, n, rsp, sizeof rsp);
        for (size_t k = 0; k < rl; k++) {
            printf("%02X", rsp[k]);
        }
        printf("\n");
        fflush(stdout);
    }
    close(fd);
    return 0;
}
