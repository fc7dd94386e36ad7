/* Coprocessor UID decoding and the known ESW builds. */
#include "trustm/uid.h"

#include <string.h>

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
    memcpy(out->chip_type, buf + 5, 6);
    memcpy(out->batch, buf + 11, 6);
    out->pos_x = be16(buf + 17);
    out->pos_y = be16(buf + 19);
    out->fw_id = ((uint32_t)be16(buf + 21) << 16) | be16(buf + 23);
    out->esw_build = be16(buf + 25);
    return TMA_OK;
}

/* Builds named by Infineon's chip-info tool (spec 7.2). */
static const struct {
    uint16_t build;
    const char *product;
    const char *fw;
} builds[] = {
    {0x0809, "OPTIGA Trust M V1", "1.30.809"},
    {0x2440, "OPTIGA Trust M V3", "3.00.2440"},
    {0x2564, "OPTIGA Trust M V3", "3.02.2564"},
    {0x0510, "OPTIGA Trust X", "build 0510"},
    {0x0715, "OPTIGA Trust X", "build 0715"},
    {0x1048, "OPTIGA Trust X", "build 1048"},
    {0x1112, "OPTIGA Trust X", "build 1112"},
    {0x1118, "OPTIGA Trust X", "build 1118"},
};

int trustm_uid_firmware(uint16_t esw_build, const char **out_product, const char **out_fw)
{
    size_t i;
    const char *p = NULL;
    const char *f = NULL;
    int rc = -1;

    for (i = 0; i < sizeof(builds) / sizeof(builds[0]); i++) {
        if (builds[i].build == esw_build) {
            p = builds[i].product;
            f = builds[i].fw;
            rc = 0;
        }
    }
    if (out_product != NULL) {
        *out_product = p;
    }
    if (out_fw != NULL) {
        *out_fw = f;
    }
    return rc;
}
