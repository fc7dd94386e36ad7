/**
 * @file host_args.h
 * @brief Host-only (POSIX tools) command-line helper shared by the `trustm`
 * CLI and the IoT Hub samples (port/host_args.c, in tma_port). Not part of
 * the device core.
 */
#ifndef TMA_HOST_ARGS_H
#define TMA_HOST_ARGS_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Whether a word of a command line may be a secret, so an error
 * message must name it by its position instead of echoing it into a terminal
 * or a log: 16 or more hex or base64 characters and nothing else (a key, a
 * binding secret), or a word holding "SharedAccess" or "sig=" (a connection
 * string or SAS token). NULL: false.
 */
bool tma_host_may_be_secret(const char *word);

#ifdef __cplusplus
}
#endif

#endif
