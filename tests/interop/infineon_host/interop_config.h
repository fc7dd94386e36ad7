/* Build configuration for the Infineon host library's comms stack in the
 * interop harness (passed as -DOPTIGA_LIB_EXTERNAL="interop_config.h").
 * Our own file: only the switches the comms layer reads. */
#ifndef INTEROP_CONFIG_H
#define INTEROP_CONFIG_H
#ifndef INTEROP_NO_SHIELD
#define OPTIGA_COMMS_SHIELDED_CONNECTION
#endif
#ifndef INTEROP_RESET_TYPE
#define INTEROP_RESET_TYPE 0U /* 0 cold, 1 soft, 2 warm (the library's default is 0) */
#endif
#define OPTIGA_COMMS_DEFAULT_RESET_TYPE (INTEROP_RESET_TYPE)
#define OPTIGA_COMMS_DEFAULT_PROTECTION_LEVEL OPTIGA_COMMS_NO_PROTECTION
#define OPTIGA_LIB_DEBUG_NULL_CHECK
#define OPTIGA_PAL_INIT_ENABLED
#define OPTIGA_MAX_COMMS_BUFFER_SIZE (0x615)
#define OPTIGA_CMD_MAX_REGISTRATIONS (0x06) /* used by the command layer */
#endif
