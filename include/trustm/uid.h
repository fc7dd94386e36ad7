/**
 * @file uid.h
 * @brief Coprocessor UID (object 0xE0C2, 27 bytes; spec 7.2) decoding.
 * Pure functions, no I/O.
 */
#ifndef TRUSTM_UID_H
#define TRUSTM_UID_H

#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TRUSTM_UID_LEN 27u

/** The fields of the coprocessor UID (multi-byte values big-endian). */
struct trustm_uid {
    uint8_t cim_id;          /**< bCimIdentifier */
    uint8_t platform_id;     /**< bPlatformIdentifier */
    uint8_t model_id;        /**< bModelIdentifier */
    uint16_t rom_code;       /**< wROMCode (ROM mask id) */
    uint8_t chip_type[6];    /**< rgbChipType */
    uint8_t batch[6];        /**< rgbBatchNumber */
    uint16_t pos_x;          /**< wChipPositionX */
    uint16_t pos_y;          /**< wChipPositionY */
    uint32_t fw_id;          /**< dwFirmwareIdentifier */
    uint16_t esw_build;      /**< rgbESWBuild as BCD digits, e.g. 0x2440 */
};

/**
 * @brief Decode exactly 27 bytes.
 * @return TMA_OK; TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM) NULL pointer;
 *         TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED) len != 27.
 */
tma_status trustm_uid_decode(const uint8_t *buf, size_t len, struct trustm_uid *out);

/**
 * @brief Product and firmware names of an ESW build, e.g. 0x2440 ->
 * "OPTIGA Trust M V3" / "3.00.2440". Unknown builds give NULL for both.
 * Host-only (library trustm_host): a device does not link it.
 * @return 0 when known, -1 when unknown.
 */
int trustm_uid_firmware(uint16_t esw_build, const char **out_product, const char **out_fw);

#ifdef __cplusplus
}
#endif

#endif
