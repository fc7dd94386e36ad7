/* Our minimal stand-in for the library's optiga_lib_common.h: the comms
 * stack needs only these names (the original also declares the command
 * layer's parameter structures). */
#ifndef INTEROP_OPTIGA_LIB_COMMON_H
#define INTEROP_OPTIGA_LIB_COMMON_H
#include "optiga_lib_config.h"
#include "optiga_lib_return_codes.h"
#include "optiga_lib_types.h"
#define OPTIGA_COMMS_NO_PROTECTION (0x00)
#define OPTIGA_COMMS_COMMAND_PROTECTION (0x01)
#define OPTIGA_COMMS_RESPONSE_PROTECTION (0x02)
#define OPTIGA_COMMS_FULL_PROTECTION (0x03)
#define OPTIGA_COMMS_RE_ESTABLISH (0x80)
void optiga_common_set_uint16(uint8_t *out, uint16_t v);
void optiga_common_set_uint32(uint8_t *out, uint32_t v);
uint32_t optiga_common_get_uint32(const uint8_t *in);
void optiga_common_get_uint16(const uint8_t *in, uint16_t *v);
#endif
