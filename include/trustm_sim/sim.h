/**
 * @file sim.h
 * @brief Public API of trustm-sim, the byte-accurate OPTIGA Trust M simulator.
 *
 * The simulator models the chip from the I2C bus up: register map, data link
 * (frames, CRC, ACK/NAK/RESYNC), network (chaining), presentation layer
 * (shielded connection) and the application behind it. It is driven either
 * in process (trustm_sim_port() gives a struct trustm_port, so a host stack
 * cannot tell it from a real chip) or through the daemon `trustm-sim`
 * (socket protocol in docs/sim-socket-protocol.md).
 *
 * Time: by default the simulator runs on a virtual clock. It only moves when
 * the host spends time: every bus transaction costs its bus time at the
 * configured SCL frequency, and the port's delay_us() advances it. The chip
 * stays busy for the modelled execution time of each command, so a host that
 * polls too early sees an address NACK or the BUSY flag (counted in the
 * statistics). With realtime = true the monotonic system clock is used.
 *
 * Not thread safe: one simulator instance is one chip on one bus; serialise
 * callers (the daemon serves one request at a time).
 */
#ifndef TRUSTM_SIM_SIM_H
#define TRUSTM_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"
#include "trustm/port.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Default 7-bit I2C address of the OPTIGA Trust M. */
#define TRUSTM_SIM_DEFAULT_ADDR 0x30

/** Receives one line of trace text (no trailing newline); ctx as configured. */
typedef void (*trustm_sim_trace_fn)(void *ctx, const char *line);

/** Configuration for trustm_sim_create(). Start from trustm_sim_config_default(). */
struct trustm_sim_config {
    uint8_t i2c_addr;        /**< 7-bit address (default 0x30) */
    const char *state_path;  /**< NVM state file; NULL = volatile chip */
    uint64_t seed;           /**< seeds UID, factory keys, DRBG and protocol randoms */
    uint8_t version;         /**< 3 = Trust M V3 (default), 1 = V1 */
    bool realtime;           /**< true: wall-clock time; false: virtual time */
    trustm_sim_trace_fn trace; /**< optional trace sink (NULL = off) */
    void *trace_ctx;         /**< passed to trace */
};

/** Result of one raw I2C transaction, as the bus master sees it. */
enum trustm_sim_ack {
    TRUSTM_SIM_ACK = 0,       /**< every byte acknowledged */
    TRUSTM_SIM_ADDR_NACK = 1, /**< address not acknowledged (busy, asleep, other address) */
    TRUSTM_SIM_DATA_NACK = 2  /**< a data byte was not acknowledged (write only) */
};

struct trustm_sim;

/** Fill cfg with the defaults: address 0x30, volatile, seed 1, V3, virtual time, no trace. */
void trustm_sim_config_default(struct trustm_sim_config *cfg);

/**
 * @brief Create a simulated chip (loads or factory-provisions its state).
 * @param cfg      configuration (copied; state_path must stay valid until destroy)
 * @param out_sim  receives the instance; free with trustm_sim_destroy()
 * @return TMA_OK; TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM) for NULL/invalid config;
 *         TMA_ERR(TMA_LAYER_SIM, TMA_C_INTERNAL) when out of memory; or the
 *         application's status when the state file cannot be opened, e.g.
 *         TMA_ERR(TMA_LAYER_STORE, TMA_C_IN_USE) when another simulator
 *         holds it (the instance locks its state file until destroy).
 */
tma_status trustm_sim_create(const struct trustm_sim_config *cfg, struct trustm_sim **out_sim);

/** Destroy an instance (NULL is ignored). Secrets in RAM are wiped. */
void trustm_sim_destroy(struct trustm_sim *sim);

/**
 * @brief One I2C write transaction: START, address byte (write), data, STOP.
 * @param addr  7-bit address the master sends
 * @param data  bytes after the address byte (register address first); may be NULL if len 0
 * @param len   number of data bytes
 * @return TRUSTM_SIM_ACK, TRUSTM_SIM_ADDR_NACK or TRUSTM_SIM_DATA_NACK
 */
enum trustm_sim_ack trustm_sim_i2c_write(struct trustm_sim *sim, uint8_t addr, const uint8_t *data,
                                         size_t len);

/**
 * @brief One I2C read transaction of len bytes from the register last addressed.
 * @return TRUSTM_SIM_ACK (buf filled) or TRUSTM_SIM_ADDR_NACK (buf untouched)
 */
enum trustm_sim_ack trustm_sim_i2c_read(struct trustm_sim *sim, uint8_t addr, uint8_t *buf,
                                        size_t len);

/**
 * @brief Reset the chip: TRUSTM_RESET_COLD (power cycle), TRUSTM_RESET_WARM
 * (RST pin) or TRUSTM_RESET_SOFT (as a SOFT_RESET register write would).
 * Persistent state survives; sessions, counters and open applications do not.
 * The chip then NACKs its address for the start-up time (15 ms).
 * @return TMA_OK or TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM)
 */
tma_status trustm_sim_reset(struct trustm_sim *sim, enum trustm_reset_kind kind);

/**
 * @brief An I2C port (include/trustm/port.h) bound to this simulator.
 * transfer() maps to trustm_sim_i2c_write/read (one message per transfer),
 * delay_us() advances virtual time (or sleeps in real time), now_ms() reads
 * the simulator clock, reset() calls trustm_sim_reset(). lock/unlock are NULL.
 */
void trustm_sim_port(struct trustm_sim *sim, struct trustm_port *out_port);

/** Current simulator time in microseconds since creation. */
uint64_t trustm_sim_now_us(const struct trustm_sim *sim);

/**
 * @brief The host waits us microseconds (virtual time: the clock advances;
 * real time: the call sleeps). Used by the port's delay_us and the socket
 * protocol's sleep extension.
 */
void trustm_sim_sleep_us(struct trustm_sim *sim, uint64_t us);

/** Current 7-bit I2C address (BASE_ADDR writes change it). */
uint8_t trustm_sim_address(const struct trustm_sim *sim);

/**
 * @brief Statistics as one JSON object (see docs/sim.md for the fields).
 * @param out      buffer for the NUL-terminated JSON text
 * @param cap      size of out
 * @param out_len  length written (without NUL); when the result is
 *                 TMA_C_TOO_SMALL, the size needed (without NUL)
 * @return TMA_OK or TMA_ERR(TMA_LAYER_SIM, TMA_C_TOO_SMALL / TMA_C_BAD_PARAM)
 */
tma_status trustm_sim_stats_json(struct trustm_sim *sim, char *out, size_t cap, size_t *out_len);

/** Zero all statistics counters. */
void trustm_sim_stats_clear(struct trustm_sim *sim);

/**
 * @brief Configure the fault injector from a JSON object, e.g.
 * `{"seed":7,"bitflip_rx":0.01,"lost_ack":0.05,"max_faults":10}`.
 * Keys (probabilities 0..1 per opportunity): bitflip_rx, bitflip_tx, lost_ack,
 * nak_storm, spurious_resync, truncate, oversize, busy_nack, reset_mid_command,
 * corrupt_mac; integers: seed, max_faults (0 = unlimited), nak_storm_len.
 * `{}` switches every fault off. Unknown keys or bad values reject the whole
 * configuration (the previous one stays in force).
 * @return TMA_OK or TMA_ERR(TMA_LAYER_SIM, TMA_C_MALFORMED / TMA_C_BAD_PARAM)
 */
tma_status trustm_sim_faults_json(struct trustm_sim *sim, const char *json, size_t len);

/** Export the simulator's factory CA chain (root, issuing CA) as PEM files into dir. */
tma_status trustm_sim_export_ca(struct trustm_sim *sim, const char *dir);

/** Options of the socket server (trustm_sim_serve). */
struct trustm_sim_server {
    const char *unix_path;   /**< Unix socket path (required) */
    const char *tcp_listen;  /**< "127.0.0.1:PORT" or NULL; loopback only */
    volatile int *stop;      /**< serve returns when *stop becomes non-zero */
    void (*ready)(void *ctx);/**< optional: called once listening */
    void *ready_ctx;
};

/**
 * @brief Serve the socket protocol (docs/sim-socket-protocol.md) until *stop.
 * Several clients may connect; requests are served one at a time.
 * @return TMA_OK on stop; TMA_ERR(TMA_LAYER_TRANSPORT, TMA_C_IO) when the
 *         sockets cannot be set up; TMA_ERR(TMA_LAYER_SIM, TMA_C_BAD_PARAM).
 */
tma_status trustm_sim_serve(struct trustm_sim *sim, const struct trustm_sim_server *srv);

/**
 * @brief Handle one complete socket-protocol request (op addr len data) and
 * write the reply (status len data). Used by the server and by tests.
 * @param req      request bytes (exactly 4 + len)
 * @param req_len  number of request bytes
 * @param rsp      reply buffer (at least 3 + 65535 bytes to be safe)
 * @param rsp_cap  size of rsp
 * @return reply length (>= 3)
 */
size_t trustm_sim_socket_request(struct trustm_sim *sim, const uint8_t *req, size_t req_len,
                                 uint8_t *rsp, size_t rsp_cap);

#ifdef __cplusplus
}
#endif

#endif /* TRUSTM_SIM_SIM_H */
