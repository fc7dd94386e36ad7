/*
 * Internal contract between the simulator's protocol engine (registers, data
 * link, network and presentation layers: sim/bus.c, sim/link.c, sim/shield.c)
 * and its application (objects, metadata, access conditions, commands, crypto,
 * factory provisioning, persistence, Security Monitor: sim/app_*.c).
 *
 * The protocol engine hands over complete, reassembled, decrypted command
 * APDUs together with how they arrived (struct sim_sec), and gets back a
 * complete response APDU plus the modelled execution time.
 */
#ifndef TRUSTM_SIM_APP_H
#define TRUSTM_SIM_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"

/** Largest command or response APDU (OID 0xE0C6 = 0x0615). */
#define SIM_APDU_MAX 1557

struct sim_app;

struct sim_app_config {
    const char *state_path; /**< NVM file; NULL = volatile (tests) */
    uint64_t seed;          /**< seeds UID, factory keys and the DRBG */
    uint8_t version;        /**< 3 = Trust M V3 (default), 1 = V1 */
};

/** How the command arrived over the presentation layer. */
struct sim_sec {
    bool prl_used;       /**< presentation layer in use for this message */
    bool session;        /**< a shielded connection is established */
    bool cmd_protected;  /**< command was an integrity-protected, encrypted record */
    bool rsp_protected;  /**< response will be protected */
};

/**
 * Open (load or create) the chip state. Factory-provisions a new chip (UID,
 * P-256 key in 0xE0F0, certificate in 0xE0E0) when cfg->state_path is NULL or
 * names a file that does not exist yet; an existing file defines the chip
 * (its seed and version win over cfg).
 * @return TMA_OK; TMA_ERR(SIM, BAD_PARAM) for NULL arguments or a version
 *         other than 0/1/3; TMA_ERR(STORE, MALFORMED | INTEGRITY |
 *         UNSUPPORTED) for a state file that is truncated, corrupted or of
 *         an unknown format (the file is left untouched, never reset);
 *         TMA_ERR(STORE, IO) when it cannot be read or the first save fails,
 *         or its lock file FILE.lock cannot be created or locked;
 *         TMA_ERR(STORE, IN_USE) when another simulator (daemon or
 *         in-process, any process) holds the state file's lock, which the
 *         chip keeps until sim_app_close();
 *         TMA_ERR(SIM, CRYPTO) if provisioning fails. *out_app is NULL on error.
 */
tma_status sim_app_open(struct sim_app **out_app, const struct sim_app_config *cfg);
void sim_app_close(struct sim_app *app);

/**
 * Execute one command APDU at virtual time now_us (sec may be NULL = plain).
 * Writes the response APDU (Sta, UnDef, OutLen, OutData) into rsp.
 * Chip errors are encoded in the response (Sta 0xFF) and 0xF1C2, as the chip
 * does. *busy_us = modelled execution time (datasheet figures, Security
 * Monitor delay included). Returns a non-OK status only for internal failure:
 * TMA_ERR(SIM, BAD_PARAM) for NULL pointers or rsp_cap < 4 (nothing written);
 * a TMA_LAYER_STORE error when the state file could not be written (the
 * response then carries error 0x06 and the persistent state was reloaded
 * from the file, so the command left no trace).
 */
tma_status sim_app_execute(struct sim_app *app, const struct sim_sec *sec, uint64_t now_us,
                           const uint8_t *apdu, size_t apdu_len, uint8_t *rsp, size_t rsp_cap,
                           size_t *rsp_len, uint32_t *busy_us);

/** Current content of the platform binding secret 0xE140 (used size). */
tma_status sim_app_pbs(struct sim_app *app, uint8_t *out, size_t cap, size_t *out_len);

/**
 * A security event of the presentation layer for the Security Monitor
 * (SRM Tab.43): deriving the session keys from 0xE140 at a Hello ("Key
 * Derivation" from a persistent pre-shared secret; SRM 6.5.8 names the
 * handshake), or a protected record whose CCM check failed ("Decryption
 * Failure"). Returns the monitor's delay in us.
 */
uint32_t sim_app_security_event(struct sim_app *app, uint64_t now_us);

/** Any reset (cold, warm, soft): application closed, sessions and last error cleared. */
void sim_app_reset(struct sim_app *app, bool power_cycle);

/** Opaque presentation-layer context kept across hibernate (NVM on a chip). */
tma_status sim_app_set_prl_context(struct sim_app *app, const uint8_t *blob, size_t len);
tma_status sim_app_get_prl_context(struct sim_app *app, uint8_t *out, size_t cap, size_t *out_len);

/** True while the application is hibernated (closed with context saved). */
bool sim_app_hibernated(const struct sim_app *app);

/** Export the factory CA chain (root then issuing CA) as PEM into dir. */
tma_status sim_app_export_factory_ca(struct sim_app *app, const char *dir);

#endif
