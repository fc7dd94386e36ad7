/**
 * @file config.h
 * @brief Compile-time configuration of libtrustm. Override any value with
 * -D on the compiler command line (or a TRUSTM_CONFIG_FILE to include first).
 * Leaving a feature out removes its code, so unused features cost no flash.
 */
#ifndef TRUSTM_CONFIG_H
#define TRUSTM_CONFIG_H

#ifdef TRUSTM_CONFIG_FILE
#include TRUSTM_CONFIG_FILE
#endif

/** Shielded connection (presentation layer, AES-CCM-8 records). */
#ifndef TRUSTM_CFG_SHIELD
#define TRUSTM_CFG_SHIELD 1
#endif

/** RSA commands (key generation, sign, verify, encrypt, decrypt). */
#ifndef TRUSTM_CFG_RSA
#define TRUSTM_CFG_RSA 1
#endif

/** Trust M V3 commands (symmetric, HMAC, HKDF, ...). */
#ifndef TRUSTM_CFG_V3
#define TRUSTM_CFG_V3 1
#endif

#endif /* TRUSTM_CONFIG_H */
