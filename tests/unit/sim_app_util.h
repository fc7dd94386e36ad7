/* Helpers for the sim_app tests: run APDUs against sim_app_execute. */
#ifndef SIM_APP_UTIL_H
#define SIM_APP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_app.h"

struct sim_app *sa_open(uint64_t seed, const char *state_path);
/* Open + OpenApplication. */
struct sim_app *sa_open_ready(uint64_t seed);
/* Execute one APDU (bytes). Returns the response length; *busy optional. */
size_t sa_exec(struct sim_app *app, const uint8_t *apdu, size_t n, uint8_t *rsp, uint32_t *busy);
/* Execute an APDU given as hex. */
size_t sa_exec_hex(struct sim_app *app, const char *hex, uint8_t *rsp);
/* Execute, assert success, return OutLen (OutData at rsp + 4). */
size_t sa_ok(struct sim_app *app, const char *hex, uint8_t *rsp);
size_t sa_ok_bin(struct sim_app *app, const uint8_t *apdu, size_t n, uint8_t *rsp);
/* Execute, assert the chip error response and that 0xF1C2 holds code. */
void sa_err(struct sim_app *app, const char *hex, uint8_t code);
void sa_err_bin(struct sim_app *app, const uint8_t *apdu, size_t n, uint8_t code);
/* While the application is closed: assert the error response, then open it
 * with code 0x70 (no flush) and assert that 0xF1C2 holds code. */
void sa_err_closed(struct sim_app *app, const char *hex, uint8_t code);
/* Read 0xF1C2 with code 0x01 (does not pre-clear). */
uint8_t sa_last_error(struct sim_app *app);
/* Set virtual time used by later calls. */
void sa_set_time(uint64_t now_us);
extern const struct sim_sec *sa_sec;

#endif
