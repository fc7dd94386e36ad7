/**
 * @file port_open.h
 * @brief Host (Linux/POSIX) ports of libtrustm and a device-string parser for
 * tools. Not part of the device core: these allocate and use the OS.
 *
 * Device strings (trustm_port_open()):
 *  - "sim"                 in-process simulator (volatile chip, seed 1, virtual time)
 *  - "sim:/path/to.sock"   the trustm-sim daemon on a Unix socket
 *  - "tcp:127.0.0.1:PORT"  the trustm-sim daemon on loopback TCP
 *  - "/dev/i2c-1"          Linux i2c-dev, address 0x30
 *  - "/dev/i2c-1@0x30"     Linux i2c-dev, explicit 7-bit address
 *
 * Serialisation: the socket and i2c-dev ports take an exclusive flock(2) on
 * a lock file in the lock hooks, which libtrustm holds from trustm_open() to
 * trustm_close(): two processes using the same chip are serialised for the
 * whole session (the chip holds one application and one shielded session).
 * The lock file is $TRUSTM_LOCK_DIR (default /tmp) /trustm-<name>.lock where
 * <name> is derived from the device (socket path or bus + address).
 */
#ifndef TRUSTM_PORT_OPEN_H
#define TRUSTM_PORT_OPEN_H

#include <stdbool.h>
#include <stdint.h>

#include "tma/status.h"
#include "trustm/port.h"

#ifdef __cplusplus
extern "C" {
#endif

struct trustm_port_handle; /* opaque, owns the connection */

/**
 * @brief Open a port from a device string (see above).
 * @param dev         device string
 * @param out_port    filled with the port's functions and context
 * @param out_handle  receives the handle; release with trustm_port_close()
 * @return TMA_OK; TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM) for an unknown or
 *         malformed string (e.g. address > 0x7F);
 *         TMA_ERR(TMA_LAYER_BUS, TMA_C_UNSUPPORTED) for "sim" in a build
 *         without the simulator; TMA_ERR(TMA_LAYER_BUS, TMA_C_IO) when the
 *         device or socket cannot be opened.
 */
tma_status trustm_port_open(const char *dev, struct trustm_port *out_port,
                            struct trustm_port_handle **out_handle);

/** @brief Close a handle from any trustm_port_*open() (NULL is ignored). */
void trustm_port_close(struct trustm_port_handle *h);

/**
 * @brief Client of the trustm-sim socket protocol (docs/sim-socket-protocol.md).
 * @param where     Unix socket path, or "127.0.0.1:PORT" / "localhost:PORT"
 * @param realtime  false: delays are sent to the simulator as virtual sleeps
 *                  (op 0x07) and now_ms() is the sum of them; true: the port
 *                  really sleeps and reads CLOCK_MONOTONIC.
 * A request whose reply does not come within 30 s (plus the length of a
 * virtual sleep, which a --realtime daemon answers after sleeping) fails
 * with TMA_ERR(TMA_LAYER_BUS, TMA_C_TIMEOUT), and the connection is shut
 * down: every later transfer fails at once with TMA_C_IO (a peer that is not
 * a trustm-sim, or a stopped one, is an error, never a hang).
 * @return as trustm_port_open()
 */
tma_status trustm_port_simsock_open(const char *where, bool realtime, struct trustm_port *out_port,
                                    struct trustm_port_handle **out_handle);

/**
 * @brief Whether @p hostport (what follows "tcp:" in a device string) names
 * a host the socket port connects to, 127.0.0.1, localhost or ::1 (the
 * simulator's protocol has no authentication, so loopback only), and a
 * non-empty port. trustm_port_open() refuses anything else; tools call this
 * to say so before trying.
 */
bool trustm_port_tcp_loopback(const char *hostport);

/**
 * @brief Change a socket port's reply timeout (default 30,000 ms).
 * @return TMA_OK; TMA_ERR(TMA_LAYER_BUS, TMA_C_BAD_PARAM) for NULL, a handle
 *         that is not a socket port, or 0 ms.
 */
tma_status trustm_port_simsock_set_timeout(struct trustm_port_handle *h, uint32_t ms);

/**
 * @brief Linux i2c-dev port: one I2C_RDWR message per transfer; an address
 * NACK (EREMOTEIO/ENXIO/EIO from the adapter) maps to TMA_C_NACK; no reset
 * line (reset() is NULL: use the soft reset). Every transfer goes to addr,
 * whatever address libtrustm puts in the message.
 * @param path  e.g. "/dev/i2c-1"
 * @param addr  7-bit address (0x30 for Trust M)
 */
tma_status trustm_port_i2cdev_open(const char *path, uint8_t addr, struct trustm_port *out_port,
                                   struct trustm_port_handle **out_handle);

/**
 * @brief In-process simulator (needs trustm_sim in the build).
 * @param state_path  NVM file or NULL for a volatile chip
 * @param seed        simulator seed
 */
tma_status trustm_port_sim_open(const char *state_path, uint64_t seed,
                                struct trustm_port *out_port,
                                struct trustm_port_handle **out_handle);

/** @brief The simulator behind an in-process "sim" handle, or NULL (for
 *  tests and benches: statistics, faults). Returns a struct trustm_sim*. */
void *trustm_port_sim_instance(struct trustm_port_handle *h);

#ifdef __cplusplus
}
#endif

#endif /* TRUSTM_PORT_OPEN_H */
