/* Minimal register-level test host for the in-process simulator: it behaves
 * like the reference host library (guard time after every transaction,
 * write-register-then-read, poll I2C_STATE) without being one. */
#ifndef SIM_HOST_H
#define SIM_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trustm_sim/sim.h"

struct trustm_sim *host_sim_new(void);
/* Register write; returns the ack result. */
enum trustm_sim_ack host_reg_write(struct trustm_sim *s, uint8_t reg, const uint8_t *v, size_t n);
/* Register read (pointer write + read), retrying address NACKs; returns the ack result. */
enum trustm_sim_ack host_reg_read(struct trustm_sim *s, uint8_t reg, uint8_t *out, size_t n);
/* Write a complete frame (fctr, packet) to DATA, retrying address NACKs. */
enum trustm_sim_ack host_send(struct trustm_sim *s, uint8_t fctr, const uint8_t *pkt, size_t n);
/* Write raw bytes to DATA, retrying address NACKs. */
enum trustm_sim_ack host_send_raw(struct trustm_sim *s, const uint8_t *frame, size_t n);
/* Poll I2C_STATE (every poll_us) until a frame is ready (max_us); read it.
 * Returns the frame length, 0 on timeout. */
size_t host_recv(struct trustm_sim *s, uint8_t *buf, size_t cap, uint32_t poll_us, uint64_t max_us);
/* Build a frame with a correct CRC; returns its length. */
size_t host_frame(uint8_t fctr, const uint8_t *pkt, size_t n, uint8_t *out);
/* hex helper that aborts on bad input */
size_t hx(const char *hex, uint8_t *out, size_t cap);

#endif
