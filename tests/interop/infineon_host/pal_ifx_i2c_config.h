/* Our stand-in for the library's pal_ifx_i2c_config.h: the names the comms stack and
 * pal_crypt_mbedtls.c use, implemented in ../common/pal_sim.c. */
#ifndef INTEROP_PAL_IFX_I2C_CONFIG_H
#define INTEROP_PAL_IFX_I2C_CONFIG_H
#include "pal_gpio.h"
#include "pal_i2c.h"
#include "pal_os_datastore.h"
extern pal_i2c_t optiga_pal_i2c_context_0;
extern pal_gpio_t optiga_vdd_0;
extern pal_gpio_t optiga_reset_0;
#endif
