/* Names of the known ESW builds for tools ("trustm info"). Host-only: it is
 * built into the trustm_host library, which a device does not link. */
#include "trustm/uid.h"

#include <stddef.h>

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
