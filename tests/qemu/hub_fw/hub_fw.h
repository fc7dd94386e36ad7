/* Shared by the IoT Hub firmware's files (tests/qemu/hub_fw). */
#ifndef QEMU_HUB_FW_H
#define QEMU_HUB_FW_H

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

#endif
