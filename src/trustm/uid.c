/* Coprocessor UID decoding (the names of ESW builds are host-only:
 * src/trustm_host/uid_names.c). */
#include "trustm/uid.h"

#include <stddef.h>

#include "apdu.h" /* cmd_copy() */

typedef char trustm_uid_arrays_adjacent[offsetof(struct trustm_uid, batch) ==
                                                offsetof(struct trustm_uid, chip_type) + 6
                                            ? 1
                                            : -1];

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

tma_status trustm_uid_decode(const uint8_t *buf, size_t len, struct trustm_uid *out)
{
    if (buf == NULL || out == NULL) {
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_BAD_PARAM);
    }
    if (len != TRUSTM_UID_LEN) {
        return TMA_ERR(TMA_LAYER_CMD, TMA_C_MALFORMED);
    }
    out->cim_id = buf[0];
    out->platform_id = buf[1];
    out->model_id = buf[2];
    out->rom_code = be16(buf + 3);
    /* rgbChipType and rgbBatchNumber in one copy: the two arrays follow each
     * other in the struct as in the UID (checked at the top) */
    cmd_copy((uint8_t *)out + offsetof(struct trustm_uid, chip_type), buf + 5, 12);
    out->pos_x = be16(buf + 17);
    out->pos_y = be16(buf + 19);
    out->fw_id = ((uint32_t)be16(buf + 21) << 16) | be16(buf + 23);
    out->esw_build = be16(buf + 25);
    return TMA_OK;
}
