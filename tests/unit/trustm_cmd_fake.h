/* Test-only stand-in for the protocol stack: a scripted trustm_transceive()
 * that checks each command APDU byte for byte and returns canned responses. */
#ifndef TRUSTM_CMD_FAKE_H
#define TRUSTM_CMD_FAKE_H

#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"

struct trustm;

/* The context pointer the tests pass (never dereferenced). */
extern struct trustm *const fake_t;

/* Reset the script. */
void fake_reset(void);
/* Expect a command (bytes or hex) and answer with a full response APDU
 * (Sta UnDef OutLen OutData). A NULL cmd accepts any command. */
void fake_expect(const uint8_t *cmd, size_t cmd_len, const uint8_t *rsp, size_t rsp_len);
void fake_expect_hex(const char *cmd_hex, const char *rsp_hex);
/* Expect a command and fail the transceive with status st. */
void fake_expect_fail(const char *cmd_hex, tma_status st);
/* 1 when every expectation was consumed and nothing mismatched. */
int fake_ok(void);
/* Protection byte of the last exchange, number of segments of the last. */
extern uint8_t fake_last_protect;
extern size_t fake_last_nseg;
/* Lenient mode for fuzzing: no command check, responses from a pool. */
void fake_lenient(const uint8_t *rsp, size_t len);

#endif
