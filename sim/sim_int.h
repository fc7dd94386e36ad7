/*
 * Internal interfaces of the simulator's protocol engine (everything between
 * the I2C bus and sim_app.h). One header for the engine's layers:
 *   codec.c  CRC-16 and frame encode/decode (pure)
 *   timing.c clock, bus time, modelled latencies
 *   link.c   data link layer (chip side)
 *   net.c    network layer: chaining both ways
 *   shield.c presentation layer (shielded connection)
 *   faults.c seeded fault injector
 *   trace.c  transaction decoder for the trace
 *   bus.c    register map and I2C transactions
 *   sim.c    glue, statistics, public API
 * Layers do not call upwards: each returns what happened and sim.c/bus.c
 * decide what to do next.
 */
#ifndef TRUSTM_SIM_INT_H
#define TRUSTM_SIM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_app.h"
#include "tma/status.h"
#include "trustm_sim/sim.h"

/* ---- sizes ---------------------------------------------------------------- */
#define SIM_DREG_MAX 0x0115u   /* largest DATA_REG_LEN = largest frame (277) */
#define SIM_DREG_MIN 0x0010u
#define SIM_DL_OVERHEAD 5u     /* FCTR + LEN(2) + FCS(2) */
/* Largest presentation-layer message: SCTR + SEQ(4) + APDU + MAC(8). */
#define SIM_MSG_MAX (SIM_APDU_MAX + 13u)
_Static_assert(SIM_DREG_MAX - SIM_DL_OVERHEAD == 272u, "MAX_PACKET_SIZE must be 272");

/* ---- timing constants (decisions in docs/decisions/sim-protocol.md) ---- */
#define SIM_GUARD_US 50u             /* GUARD_TIME register */
#define SIM_TRANS_TIMEOUT_MS 10u     /* TRANS_TIMEOUT register */
#define SIM_ACK_SEPARATE_US 5000u    /* commands this long or longer get a control ACK first */
#define SIM_LINK_US 50u              /* frame check + ACK preparation: within the guard time */
#define SIM_STARTUP_US 15000u        /* tSTARTUP after reset */
#define SIM_RETRANSMIT_MAX 3u        /* TRANS_REPEAT */

/* ---- codec.c -------------------------------------------------------------- */
uint16_t sim_crc16(const uint8_t *p, size_t n);

enum sim_fkind { SIM_F_DATA, SIM_F_ACK, SIM_F_NAK, SIM_F_RESYNC };

struct sim_frame {
    uint8_t fctr;
    enum sim_fkind kind;
    bool data_nak;       /* data frame with piggy-backed NAK (SEQCTR 01) */
    uint8_t frnr;
    uint8_t acknr;
    const uint8_t *pkt;  /* points into the decoded buffer */
    size_t pkt_len;
};

enum sim_ferr {
    SIM_FE_OK = 0,
    SIM_FE_SHORT,        /* < 5 bytes */
    SIM_FE_LEN,          /* LEN + 5 != received size */
    SIM_FE_CRC,
    SIM_FE_FCTR,         /* SEQCTR 11, RFU bit, FRNR in control, ACKNR in RESYNC, ... */
    SIM_FE_EMPTY,        /* data frame with LEN 0 */
    SIM_FE_CTRL_SIZE     /* control frame with LEN != 0 */
};

enum sim_ferr sim_frame_decode(const uint8_t *p, size_t n, struct sim_frame *out);
/* Encode a frame; returns its length or 0 when cap is too small. */
size_t sim_frame_encode(uint8_t fctr, const uint8_t *pkt, size_t pkt_len, uint8_t *out, size_t cap);

/* ---- timing.c ------------------------------------------------------------- */
struct sim_clock {
    bool realtime;
    uint64_t vnow_us;    /* virtual time */
    uint64_t rt_origin;  /* monotonic us at creation */
};
void sim_clock_init(struct sim_clock *c, bool realtime);
uint64_t sim_clock_now(const struct sim_clock *c);
void sim_clock_advance(struct sim_clock *c, uint64_t us); /* virtual: add; real: sleep */
/* Time on the bus for one transaction with n data bytes after the address byte. */
uint32_t sim_bus_time_us(size_t n, uint32_t scl_khz);

/* ---- link.c --------------------------------------------------------------- */
struct sim_outframe {
    uint8_t buf[SIM_DREG_MAX + 16];
    uint16_t len;
    uint64_t ready_at;
    bool valid;
};

struct sim_link {
    uint8_t tx_nr;             /* number of the last data frame we sent */
    uint8_t rx_nr;             /* number of the last data frame accepted */
    struct sim_outframe ctrl;  /* pending control frame (read first) */
    struct sim_outframe data;  /* pending data frame */
    /* last data frame sent and not yet acknowledged */
    uint8_t unacked[SIM_DREG_MAX + 16];
    uint16_t unacked_len;
    bool awaiting_ack;
    bool renumber;             /* RESYNC came while awaiting_ack: the pending
                                  frame takes the next number (0) when resent */
    uint64_t read_at;          /* when the host read it (retransmit timer) */
    bool renumbered_unread;    /* resent under a new number after a RESYNC,
                                  not yet read by the host */
    unsigned retries;
};

enum sim_link_ev {
    SIM_LE_NONE,       /* nothing for the layers above (NAKed, discarded, duplicate) */
    SIM_LE_PACKET,     /* new data frame: packet for the network layer */
    SIM_LE_ACKED,      /* host acknowledged our data frame */
    SIM_LE_RESYNC      /* host reset the frame counters */
};

struct sim_link_rx {
    enum sim_link_ev ev;
    bool acked;               /* with SIM_LE_PACKET: it also acknowledged our frame */
    bool naked;               /* we queued a NAK */
    bool duplicate;           /* duplicate data frame, re-acknowledged */
    bool retransmit;          /* host NAK: we re-queued our frame */
    enum sim_ferr err;
    const uint8_t *pkt;
    size_t pkt_len;
};

void sim_link_reset(struct sim_link *l);
/* can_accept: false while the chip cannot take a new packet (busy). */
void sim_link_rx(struct sim_link *l, uint64_t now, const uint8_t *frame, size_t n, size_t dreg_len,
                 bool can_accept, struct sim_link_rx *out);
void sim_link_queue_ctrl(struct sim_link *l, uint8_t fctr, uint64_t ready_at);
void sim_link_queue_ack(struct sim_link *l, uint64_t ready_at);
void sim_link_queue_data(struct sim_link *l, const uint8_t *pkt, size_t len, uint64_t ready_at);
/* Length of the frame readable at now (0 = none); *ctrl_first tells which. */
uint16_t sim_link_ready(struct sim_link *l, uint64_t now);
/* Pop the readable frame into buf (up to cap). Returns the frame length. */
uint16_t sim_link_pop(struct sim_link *l, uint64_t now, uint8_t *buf, size_t cap);
bool sim_link_idle(const struct sim_link *l);

/* ---- net.c ---------------------------------------------------------------- */
struct sim_net {
    uint8_t rx[SIM_MSG_MAX];
    size_t rx_len;
    bool rx_open;
    bool rx_presence;
    uint8_t tx[SIM_MSG_MAX];
    size_t tx_len;
    size_t tx_off;
    bool tx_presence;
    bool tx_active;
};

enum sim_net_ev {
    SIM_NE_MORE,        /* fragment stored: acknowledge, wait for more */
    SIM_NE_MESSAGE,     /* complete message in rx/rx_len */
    SIM_NE_CHAIN_ERROR, /* answer with a 0x07 packet */
    SIM_NE_HOST_ABORT   /* host sent 0x07: drop our response */
};

void sim_net_reset(struct sim_net *n);
enum sim_net_ev sim_net_rx(struct sim_net *n, const uint8_t *pkt, size_t len, size_t max_pkt);
/* Start sending msg (copied). */
void sim_net_tx_start(struct sim_net *n, const uint8_t *msg, size_t len, bool presence);
/* Next packet (PCTR + payload) into out; false when nothing is left. */
bool sim_net_tx_next(struct sim_net *n, size_t max_pkt, uint8_t *out, size_t cap, size_t *out_len);

/* ---- shield.c ------------------------------------------------------------- */
enum sim_hs { SIM_HS_NONE, SIM_HS_HELLO, SIM_HS_OPEN };

struct sim_shield {
    bool prl_used;          /* presence bit seen since reset: PRL mandatory */
    enum sim_hs hs;
    uint8_t rnd[32];
    uint8_t keys[40];       /* master key, slave key, master nonce, slave nonce */
    uint32_t sseq;          /* last sequence number we used */
    uint32_t mseq;          /* last master sequence number accepted */
    /* last response, kept to resend on the host's integrity alert */
    uint8_t last_rsp[SIM_APDU_MAX];
    size_t last_rsp_len;
    uint8_t last_sctr;
    bool last_valid;
    unsigned resends;
    /* test hook: fixed randoms for the handshake (spec 4.10) */
    bool forced;
    uint8_t forced_rnd[32];
    uint32_t forced_sseq;
    uint32_t forced_mseq;
    uint64_t rng;           /* protocol randoms (seeded) */
    bool corrupt_next_mac;  /* fault injection */
};

struct sim_shield_out {
    uint8_t msg[SIM_MSG_MAX];
    size_t len;             /* 0 = no response message */
    bool presence;
    uint32_t busy_us;
    int cmd;                /* command code executed (0x00..0xFF) or -1, for statistics */
    int32_t read_oid;       /* OID of a GetDataObject data read (Param 0x00), else -1 (fault arm_oid) */
    tma_status status;      /* internal failure of the application */
};
/* The OID a GetDataObject data read (Param 0x00) names, or -1 (shield.c). */
int32_t sim_apdu_read_oid(const uint8_t *apdu, size_t len);

void sim_shield_init(struct sim_shield *s, uint64_t seed);
void sim_shield_reset(struct sim_shield *s);
void sim_shield_wipe(struct sim_shield *s);
void sim_shield_force_random(struct sim_shield *s, const uint8_t rnd[32], uint32_t sseq,
                             uint32_t mseq);
/* Handle one complete message from the network layer. */
void sim_shield_handle(struct sim_shield *s, struct sim_app *app, uint64_t now, bool presence,
                       const uint8_t *msg, size_t len, struct sim_shield_out *out);
/* TLS 1.2 PRF with SHA-256 (exposed for tests). */
int sim_tls_prf_sha256(const uint8_t *secret, size_t slen, const char *label, const uint8_t *seed,
                       size_t seedlen, uint8_t *out, size_t outlen);

/* ---- faults.c ------------------------------------------------------------- */
enum sim_fault {
    SIM_FAULT_BITFLIP_RX,
    SIM_FAULT_BITFLIP_TX,
    SIM_FAULT_LOST_ACK,
    SIM_FAULT_NAK_STORM,
    SIM_FAULT_SPURIOUS_RESYNC,
    SIM_FAULT_TRUNCATE,
    SIM_FAULT_OVERSIZE,
    SIM_FAULT_BUSY_NACK,
    SIM_FAULT_RESET_MID_COMMAND,
    SIM_FAULT_CORRUPT_MAC,
    SIM_FAULT_BYTE_RX, /* per byte the host writes */
    SIM_FAULT_BYTE_TX, /* per byte the host reads of a chip frame */
    SIM_FAULT_COUNT
};

struct sim_faults {
    uint32_t prob[SIM_FAULT_COUNT];  /* probability * 2^32 - 1 scale (0 = off) */
    uint64_t rng;
    uint64_t max_faults;             /* 0 = unlimited, per configuration */
    uint64_t since_config;           /* faults since the configuration was set */
    uint64_t injected;               /* since start: always the sum of count[] */
    uint64_t count[SIM_FAULT_COUNT];
    unsigned nak_storm_len;          /* frames NAKed per storm */
    unsigned storm_left;
    int32_t arm_oid;                 /* -1: armed at once; else no fault until a GetDataObject
                                        data read of this OID (from its response on) */
    bool armed;
};

void sim_faults_init(struct sim_faults *f);
/* Parse the JSON configuration; on error f is unchanged. */
tma_status sim_faults_config(struct sim_faults *f, const char *json, size_t len);
/* A GetDataObject data read of oid is being executed: arms a configuration
 * that waits for it (arm_oid). Returns true when this call armed it. */
bool sim_faults_seen_read(struct sim_faults *f, int32_t oid);
/* Roll the dice for one opportunity of fault k. */
bool sim_fault_hit(struct sim_faults *f, enum sim_fault k);
uint32_t sim_fault_rand(struct sim_faults *f, uint32_t bound);
/* Replace each of the n bytes at p with probability prob[k] by another value
 * (one fault counted per byte). Returns the number of bytes changed. */
size_t sim_fault_bytes(struct sim_faults *f, enum sim_fault k, uint8_t *p, size_t n);
const char *sim_fault_name(enum sim_fault k);

/* ---- trace.c -------------------------------------------------------------- */
/* Describe a frame (FCTR, packet, SCTR, APDU header) into out. */
const char *sim_cmd_name(uint8_t code);
void sim_trace_describe(const uint8_t *frame, size_t n, bool from_host, char *out, size_t cap);

/* ---- the chip (sim.c, bus.c) -------------------------------------------- */
#define SIM_STAT_EXTRA 6 /* prl_hello, prl_finished, prl_alert, prl_context, chain_error, other */

struct sim_cmd_stat {
    uint64_t count;
    uint64_t chip_us;
    uint64_t bus_bytes;
    uint64_t polls;
};

struct sim_stats {
    struct sim_cmd_stat cmd[256 + SIM_STAT_EXTRA];
    uint64_t transactions, writes, reads, bus_bytes, bus_us, sleep_us;
    uint64_t addr_nacks, data_nacks, busy_polls, early_polls;
    uint64_t bytes_rx, bytes_tx; /* frame bytes written / read by the host */
    /* frames the byte faults damaged that still decode (CRC-16 missed it) */
    uint64_t crc_escapes_rx, crc_escapes_tx;
    uint64_t frames_rx, frames_tx, naks_sent, naks_rx, retransmits, duplicates, resyncs_rx;
    uint64_t chain_errors, alerts_sent, bad_frames;
    uint64_t resets_warm, resets_cold, resets_soft;
    /* attribution of bus bytes/polls to the command in progress */
    int current;             /* index into cmd[], -1 = pending */
    uint64_t pend_bytes, pend_polls;
};

struct trustm_sim {
    struct trustm_sim_config cfg;
    struct sim_app *app;
    struct sim_clock clock;
    struct sim_link link;
    struct sim_net net;
    struct sim_shield shield;
    struct sim_faults faults;
    struct sim_stats stats;

    /* registers */
    uint8_t addr;            /* current address */
    uint8_t addr_default;    /* after reset (BASE_ADDR persistent write) */
    uint8_t pending_addr;    /* BASE_ADDR write, effective at next access */
    bool addr_change;
    uint16_t dreg_len;       /* DATA_REG_LEN in force */
    uint16_t dreg_pending;
    bool dreg_change;
    uint8_t i2c_mode;        /* bits 2:0 */
    uint8_t i2c_mode_default;
    uint8_t ifx_use[2][4];   /* 0xA0/0xA1 */
    int reg;                 /* register pointer, -1 = none */

    /* time model */
    uint64_t nack_until;     /* address NACK before this time (short command, start-up) */
    uint64_t busy_until;     /* BUSY flag before this time (long command) */
    uint64_t last_end;       /* end of the previous transaction (guard time) */
    bool executing;          /* a command is being executed (busy_until in future) */
    bool reset_pending;      /* fault: reset in the middle of the command */
    bool soft_reset_req;     /* SOFT_RESET written: reset once the write transaction ends */
    uint64_t reset_at;

    char trace_line[2048];
};

/* bus.c */
enum trustm_sim_ack sim_bus_write(struct trustm_sim *s, const uint8_t *data, size_t len);
void sim_bus_read(struct trustm_sim *s, uint8_t *buf, size_t len);
uint32_t sim_bus_scl_khz(const struct trustm_sim *s);
void sim_bus_reset_registers(struct trustm_sim *s, bool power);

/* sim.c: protocol engine entry points used by bus.c */
void sim_engine_data_write(struct trustm_sim *s, const uint8_t *frame, size_t n, bool overflow);
void sim_engine_update(struct trustm_sim *s);   /* apply time-driven events */
void sim_engine_data_read(struct trustm_sim *s, uint8_t *buf, size_t len);
uint16_t sim_engine_ready_len(struct trustm_sim *s);
void sim_engine_reset(struct trustm_sim *s, enum trustm_reset_kind kind);
void sim_stat_poll(struct trustm_sim *s); /* a poll while the chip is busy */
void sim_tracef(struct trustm_sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- sock.c: the daemon's socket path ---------------------------------- */
enum {
    SIM_PATH_OK = 0,           /* nothing there, or a stale socket was removed */
    SIM_PATH_ERROR = -1,       /* see errno */
    SIM_PATH_NOT_SOCKET = -3,  /* a file that is not a socket: left alone */
    SIM_PATH_IN_USE = -4,      /* a server answers on it */
    SIM_PATH_TOO_LONG = -5     /* empty or longer than sun_path */
};
/* Make PATH usable for a listening Unix socket without harming anything:
 * only a socket that refuses connections (ECONNREFUSED) is removed. */
int sim_unix_path_claim(const char *path);

#endif
