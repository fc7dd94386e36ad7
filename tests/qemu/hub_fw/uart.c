/*
 * The project's transport (include/tma/transport.h) on a CMSDK APB UART of
 * QEMU's mps2-an386: QEMU connects the UART's byte stream to a TCP server
 * (the test's mosquitto), so the UART carries the MQTT bytes unchanged.
 * UART1 (0x40005000) is QEMU's second -serial; UART0 stays free for the
 * chip's bus (tests/qemu/board.c), as on a board with a modem on one UART
 * and the secure element on another.
 *
 * send() writes while the TX buffer has room and returns the bytes written
 * (0: full, try again). recv() returns 0 at once when the RX buffer is empty;
 * once a byte came it keeps reading while more follow within 200 us (the
 * UART has a one-byte buffer, QEMU refills it from the socket after each
 * read), so a packet usually arrives in one call. A UART has no end of
 * stream: a broker that closes the TCP connection is not seen here; the MQTT
 * client's keep-alive and ack timeouts notice a dead link.
 *
 * QEMU's UART accepts every byte at once (TX is never full). With
 * hub_uart_byte_us > 0, send() models a real UART's one-byte holding
 * register at a baud rate instead: a byte is taken only when the previous
 * one has left (byte_us after it), otherwise send() returns what it took so
 * far (0: full, try again), as a non-blocking driver on silicon does.
 */
#include "hub_fw.h"

#include "board.h"

#define REG(a) (*(volatile uint32_t *)(a))
#define UART1 0x40005000u
#define U_DATA REG(UART1 + 0x00u)
#define U_STATE REG(UART1 + 0x04u) /* bit 0 TX full, bit 1 RX full */
#define U_CTRL REG(UART1 + 0x08u)  /* bit 0 TX enable, bit 1 RX enable */
#define U_BAUDDIV REG(UART1 + 0x10u)

#define NEXT_BYTE_US 200u

uint32_t hub_uart_rx_bytes, hub_uart_tx_bytes, hub_uart_opens, hub_uart_byte_us, hub_uart_tx_full;
static uint32_t tx_free_at; /* board_now_us() when the holding register is empty */

void hub_uart_init(void)
{
    U_BAUDDIV = 16;
    U_CTRL = 3;
}

static int32_t uart_send(void *ctx, const uint8_t *buf, size_t len)
{
    size_t n = 0;
    (void)ctx;
    if (len > 0x7FFFFFFFu) {
        len = 0x7FFFFFFFu;
    }
    while (n < len && !(U_STATE & 1u)) {
        if (hub_uart_byte_us != 0u) {
            uint32_t now = board_now_us();
            if (n > 0u || (int32_t)(now - tx_free_at) < 0) {
                break; /* one byte per call and only when the register is free */
            }
            tx_free_at = now + hub_uart_byte_us;
        }
        U_DATA = buf[n++];
    }
    if (n == 0u) {
        hub_uart_tx_full++;
    }
    hub_uart_tx_bytes += (uint32_t)n;
    return (int32_t)n;
}

static int32_t uart_recv(void *ctx, uint8_t *buf, size_t len)
{
    size_t n = 0;
    uint32_t last = 0;
    (void)ctx;
    if (len > 0x7FFFFFFFu) {
        len = 0x7FFFFFFFu;
    }
    while (n < len) {
        if (U_STATE & 2u) {
            buf[n++] = (uint8_t)U_DATA;
            last = board_now_us();
        } else if (n == 0u || (uint32_t)(board_now_us() - last) >= NEXT_BYTE_US) {
            break;
        }
    }
    hub_uart_rx_bytes += (uint32_t)n;
    return (int32_t)n;
}

static tma_status conn_open(void *ctx, struct tma_transport *out_tr, bool *out_used_key)
{
    (void)ctx;
    hub_uart_opens++;
    out_tr->ctx = 0;
    out_tr->send = uart_send;
    out_tr->recv = uart_recv;
    *out_used_key = false; /* SAS: no private-key operation */
    return TMA_OK;
}

static void conn_close(void *ctx)
{
    (void)ctx; /* the TCP connection is QEMU's; the guest cannot close it */
}

struct iothub_connector hub_uart_connector(void)
{
    struct iothub_connector c;
    c.ctx = 0;
    c.open = conn_open;
    c.close = conn_close;
    return c;
}
