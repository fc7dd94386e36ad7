/**
 * @file host_file.h
 * @brief Host-only (POSIX) file helpers shared by the `trustm` CLI and the
 * IoT Hub samples (port/host_file.c, in tma_port). Not part of the device
 * core.
 */
#ifndef TMA_HOST_FILE_H
#define TMA_HOST_FILE_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Whether two paths name the same file: the same device and inode
 * when both exist (links and other spellings included); when neither exists,
 * the same canonical folder and last component (so two outputs about to be
 * created are caught too). One existing and one not: false. NULL: false.
 */
bool tma_host_same_file(const char *a, const char *b);

#ifdef __cplusplus
}
#endif

#endif
