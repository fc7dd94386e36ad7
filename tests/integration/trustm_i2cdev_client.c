/* Client for the i2c-dev port test: drives the chip through
 * trustm_port_open(argv[1]) (e.g. "/dev/i2c-7@0x30", mapped onto the
 * simulator by the LD_PRELOAD shim) and, for comparison, through the
 * socket port directly (argv[2] = socket path). Runs argv[3] sessions of
 * open / OpenApplication / GetRandom / read 0xE0E0 / close; each session
 * holds the port lock, so concurrent clients are serialised. Exit 0 when
 * every command succeeded and the certificate read over i2c-dev equals the
 * one read over the socket. (Both paths lead to the same chip under two
 * names, i.e. two lock files: use "-" as SOCKET when clients run at once.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trustm/port_open.h"
#include "trustm/trustm.h"

static const uint8_t OPEN_APP[] = {0xF0, 0x00, 0x00, 0x10, 0xD2, 0x76, 0x00, 0x00, 0x04, 0x47,
                                   0x65, 0x6E, 0x41, 0x75, 0x74, 0x68, 0x41, 0x70, 0x70, 0x6C};

static int session(const char *dev, uint8_t *cert, size_t *cert_len)
{
    struct trustm_port port;
    struct trustm_port_handle *h;
    struct trustm t;
    struct trustm_rsp rsp;
    static uint8_t out[1600];
    static const uint8_t rnd[] = {0x8C, 0x00, 0x00, 0x02, 0x00, 0x20};
    static const uint8_t rd[] = {0x81, 0x00, 0x00, 0x06, 0xE0, 0xE0, 0x00, 0x00, 0x06, 0x11};
    struct tma_span s;
    tma_status st = trustm_port_open(dev, &port, &h);
    if (st) {
        fprintf(stderr, "open %s: %s\n", dev, tma_status_str(st));
        return 1;
    }
    trustm_init(&t, &port, NULL);
    st = trustm_open(&t);
    s.ptr = OPEN_APP;
    s.len = sizeof OPEN_APP;
    if (st == TMA_OK) {
        st = trustm_transceive(&t, 0, &s, 1, NULL, 0, &rsp);
    }
    for (int i = 0; st == TMA_OK && i < 5; i++) {
        s.ptr = rnd;
        s.len = sizeof rnd;
        st = trustm_transceive(&t, 0, &s, 1, out, sizeof out, &rsp);
        if (st == TMA_OK && (rsp.sta || rsp.out_len != 32)) {
            st = -1;
        }
    }
    if (st == TMA_OK) {
        s.ptr = rd;
        s.len = sizeof rd;
        st = trustm_transceive(&t, 0, &s, 1, cert, 1600, &rsp);
        if (st == TMA_OK && rsp.sta) {
            st = -1;
        }
        *cert_len = rsp.out_len;
    }
    trustm_deinit(&t);
    trustm_port_close(h);
    if (st) {
        fprintf(stderr, "%s: session failed: %d %s\n", dev, (int)st, tma_status_str(st));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static uint8_t a[1600], b[1600];
    size_t na = 0, nb = 0;
    if (argc != 4) {
        fprintf(stderr, "usage: %s DEVICE SOCKET SESSIONS\n", argv[0]);
        return 2;
    }
    char sock[300];
    snprintf(sock, sizeof sock, "sim:%s", argv[2]);
    int n = atoi(argv[3]);
    int compare = strcmp(argv[2], "-") != 0; /* "-": no comparison run */
    for (int i = 0; i < n; i++) {
        if (session(argv[1], a, &na) || (compare && session(sock, b, &nb))) {
            return 1;
        }
        if (compare && (na < 100 || na != nb || memcmp(a, b, na) != 0)) {
            fprintf(stderr, "certificate over %s differs from the socket's (%zu/%zu)\n", argv[1],
                    na, nb);
            return 1;
        }
    }
    printf("ok: %d sessions over %s, certificate %zu bytes identical\n", n, argv[1], na);
    return 0;
}
