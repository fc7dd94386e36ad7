/* Build configuration (OPTIGA_LIB_EXTERNAL) of the Infineon host library for
 * Infineon's linux-optiga-trust-m command-line tools in tests/interop/linux_tools.sh:
 * the shielded connection compiled in (the tools ask for full protection
 * unless given -X), cold reset through the VDD line (the library's default).
 * Our file: no Infineon code. */
#ifndef LINUX_TOOLS_CONFIG_H
#define LINUX_TOOLS_CONFIG_H
#define OPTIGA_COMMS_SHIELDED_CONNECTION
#define OPTIGA_COMMS_DEFAULT_RESET_TYPE (0U)
#define OPTIGA_COMMS_DEFAULT_PROTECTION_LEVEL OPTIGA_COMMS_NO_PROTECTION
#define OPTIGA_LIB_DEBUG_NULL_CHECK
#define OPTIGA_PAL_INIT_ENABLED
#define OPTIGA_MAX_COMMS_BUFFER_SIZE (0x615)
#define OPTIGA_CMD_MAX_REGISTRATIONS (0x06)
#endif
