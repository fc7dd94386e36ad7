/* Scripted fake I2C port for libtrustm's stack unit tests: a register model
 * (I2C_STATE, DATA, DATA_REG_LEN, SOFT_RESET) whose DATA writes are checked
 * against a script and answered with scripted chip frames. Virtual clock. */
#ifndef TRUSTM_FAKEPORT_H
#define TRUSTM_FAKEPORT_H

#include <stddef.h>
#include <stdint.h>

#include "trustm/port.h"

#define FK_MAXQ 16
#define FK_MAXLOG 64

struct fk_step {
    const char *expect;  /* hex of the frame the host must write, "*" = any */
    const char *reply[4]; /* chip frames (hex) queued after it, NULL-ended */
};

struct fakeport {
    struct trustm_port port;
    const struct fk_step *script;
    size_t nsteps, pos;
    int mismatch;
    uint8_t reg;
    uint16_t dreglen;
    uint8_t q[FK_MAXQ][300];
    size_t qlen[FK_MAXQ];
    size_t qhead, qn;
    uint64_t now_us;
    unsigned nack; /* NACK the next n transfers */
    unsigned transfers, polls, resets;
    uint8_t log[FK_MAXLOG][300]; /* host frame writes */
    size_t loglen[FK_MAXLOG];
    size_t nlog;
    uint8_t pre[16][300]; /* frames referenced as "@N" in a script */
    size_t prelen[16];
    /* optional: called when the chip has nothing queued; may queue frames
     * (a misbehaving chip that never stops talking) */
    void (*idle)(struct fakeport *f);
    unsigned idle_calls;
    int lenient; /* accept any host frame without a script */
};

/* Store frame FCTR || LEN || pkt || CRC as pre[idx] (script "@idx"). */
void fk_pre(struct fakeport *f, unsigned idx, uint8_t fctr, const uint8_t *pkt, size_t n);
/* Same, packet given in hex. */
void fk_pre_hex(struct fakeport *f, unsigned idx, uint8_t fctr, const char *pkt_hex);

void fk_init(struct fakeport *f, const struct fk_step *script, size_t nsteps);
/* Queue a chip frame given as bytes (frame only, no register byte). */
void fk_queue(struct fakeport *f, const uint8_t *frame, size_t n);
/* Build a chip frame: FCTR, packet -> queued with a correct CRC. */
void fk_queue_frame(struct fakeport *f, uint8_t fctr, const uint8_t *pkt, size_t n);
/* 0 when the whole script ran without mismatch. */
int fk_done(const struct fakeport *f);

#endif
