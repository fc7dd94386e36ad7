/* The samples' argument checks (examples/sample_args.c): pure functions,
 * no chip, no network, no exit. */
#ifndef SAMPLE_ARGS_H
#define SAMPLE_ARGS_H

#include <stdbool.h>
#include <stddef.h>

/* What is wrong with a connection string, written into why (cap bytes, NUL
 * terminated) in words that name the part and never quote a value (so never
 * the SharedAccessKey); 0 when nothing is, 1 otherwise. A string it accepts
 * has HostName, DeviceId and exactly one of x509=true and SharedAccessKey,
 * no unknown, repeated or empty key, so iothub_connection_string_parse()
 * accepts it too. */
int sample_cs_problem(const char *cs, char *why, size_t cap);
/* The first byte of id that IoT Hub does not allow in a device or module id
 * (letters, digits and - . % _ * ? ! ( ) , : = @ $ '; not + or #), or 0. */
int sample_id_bad_char(const char *id);
/* A host name (letters, digits, '.', '-', 1..253) / an IoT Hub device id
 * (1..128 of IoT Hub's alphabet), e.g. as DPS assigned them. */
bool sample_host_ok(const char *h);
bool sample_id_ok(const char *id);
/* A DPS registration id: 1..128 letters, digits and - . _ : */
bool sample_regid_ok(const char *r);
/* A Digital Twin Model Identifier (DTDL v2), e.g. dtmi:com:example:Thermostat;1 */
bool sample_dtmi_ok(const char *m);

#endif
