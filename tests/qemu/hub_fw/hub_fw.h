/* Shared by the IoT Hub firmware's files (tests/qemu/hub_fw). */
#ifndef QEMU_HUB_FW_H
#define QEMU_HUB_FW_H

#include <stddef.h>
#include <stdint.h>

#include "iothub/client.h"
#include "iothub/storage_flash.h"
#include "ram_nor.h"

/** The MQTT byte stream on CMSDK UART1 (0x40005000, QEMU's second -serial). */
void hub_uart_init(void);
/** Connector for iothub_client_config: open() hands out the UART transport. */
struct iothub_connector hub_uart_connector(void);
/** Bytes moved so far, for "was there any traffic in this step". */
extern uint32_t hub_uart_rx_bytes, hub_uart_tx_bytes;
/** 0: QEMU's UART as it is (never full); > 0: a byte takes this many us (a
 *  one-byte holding register at a baud rate); send() then returns 0 when busy.
 *  hub_uart_tx_full counts the send() calls that took nothing. */
extern uint32_t hub_uart_byte_us, hub_uart_tx_full;
/** Number of connector open() calls. */
extern uint32_t hub_uart_opens;

/** The property sets of topics.vec's device telemetry vectors (props.c);
 *  message i uses set i % HUB_PROP_SETS. */
#define HUB_PROP_SETS 5u
struct hub_prop_set {
    const struct iothub_property *p;
    size_t n;
};
extern const struct hub_prop_set hub_prop_sets[HUB_PROP_SETS];

/** The RAM-backed NOR flash the outbox's flash log lives on. */
const struct iothub_flash *hub_flash(void);
extern struct ram_nor hub_nor; /* its counters: erases, programs, violations */

/** What both hub firmwares print and count alike (app.c): the callbacks
 *  print each C2D message (bag, payload, decoded properties), method call
 *  and PUBACK; the counts and the last method's request id are here. */
struct hub_app {
    uint32_t acked, acked_mask, c2d_count, method_count;
    uint8_t rid[16];
    size_t rid_len; /* 0: the last call's rid did not fit (not answered) */
    /* painted stack of iothub_client_step(): the deepest step while not
     * connected (CONNECT, SAS, TLS handshake inside) and while connected */
    uint32_t stack_connecting, stack_connected;
};
extern struct hub_app hub_app;
/** In-flight slots the client gets (the window is one less). */
#define HUB_APP_INFLIGHT 5u
/** The client's buffers (1 KB MQTT tx and rx, 512 B outbox record, the
 *  in-flight slots), the caller's credential buffer, and the three
 *  callbacks below; the caller sets the rest. */
void hub_app_config(struct iothub_client_config *cfg, char *cred, size_t cred_cap);
void hub_app_on_c2d(void *user, struct tma_span bag, struct tma_span payload);
void hub_app_on_method(void *user, struct tma_span name, struct tma_span rid, struct tma_span payload);
void hub_app_on_acked(void *user, uint32_t seq);
/** Steps until *counter reaches want; after wait_ms prints TIMEOUT with the
 *  client's state and last reason and ends the run with exit code 5. */
void hub_app_run_until(const uint32_t *counter, uint32_t want, const char *what, uint32_t wait_ms,
                       tma_status (*step)(void), const struct iothub_client *c);
/** One client step with a painted stack (high-water marks in hub_app);
 *  when no byte moved on UART1, sleeps to the next SysTick. */
tma_status hub_app_step(struct iothub_client *c);
/** Prints "stored SEQ set SET payload=HEX": a message the outbox took. */
void hub_app_print_stored(uint32_t seq, uint32_t set, const uint8_t *payload, size_t n);
/** Answers the last method call (hub_app.rid) with 200 and body, stepping
 *  while the client has no room, for at most wait_ms; prints the body sent. */
tma_status hub_app_respond(struct iothub_client *c, const char *body, uint32_t wait_ms, tma_status (*step)(void));

#endif
