/* The samples' argument checks that need no chip, no network and no exit:
 * connection strings, IoT Hub ids, host names (see sample_args.h). Pure
 * functions, so a fuzz target runs them (tests/fuzz/fuzz_iothub_sample_user_cs.c). */
#define _DEFAULT_SOURCE /* strncasecmp */
#include "sample_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* IoT Hub's device and module ids: 1..128 ASCII letters, digits and
 * - . % _ * ? ! ( ) , : = @ $ ' (Azure IoT Hub identity registry
 * documentation; its current text says + and # are not supported, which
 * older versions listed: in an MQTT topic they are wildcards, so a device
 * with them could neither publish nor subscribe). Returns the first
 * character that is not allowed, or 0. */
int sample_id_bad_char(const char *id)
{
    const char *p;
    for (p = id; *p; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              strchr("-.%_*?!(),:=@$'", *p) != NULL)) {
            return (unsigned char)*p;
        }
    }
    return 0;
}

/* Connection-string keys the samples know (indices: enum cs_key). */
enum cs_key { CS_HOST, CS_DEVICE, CS_MODULE, CS_SAK, CS_GATEWAY, CS_X509, CS_SAK_NAME, CS_NKEYS };
static const char *const cs_keys[CS_NKEYS] = {"HostName", "DeviceId", "ModuleId", "SharedAccessKey",
                                              "GatewayHostName", "x509", "SharedAccessKeyName"};
#define CS_KNOWN "HostName, DeviceId, ModuleId, SharedAccessKey, GatewayHostName, x509"

/* A key is echoed in a message only when it cannot be a pasted secret: a
 * short run of letters (a base64 key has digits, '+' or '/' and is longer). */
static bool echo_safe(const char *k, size_t n)
{
    size_t i;
    if (n == 0 || n > 24) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (!((k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= 'a' && k[i] <= 'z'))) {
            return false;
        }
    }
    return true;
}

/* What is wrong with a connection string, in words that name the part and
 * never echo the SharedAccessKey; 0 when nothing is. Stricter than
 * iothub_connection_string_parse(), which ignores unknown keys: a misspelt
 * GatewayHostName would otherwise connect straight to the hub, silently. */
int sample_cs_problem(const char *cs, char *why, size_t cap)
{
    size_t pos = 0, len = strlen(cs), seen[CS_NKEYS] = {0};
    int part = 0;
    bool x509 = false;
    if (len == 0) {
        snprintf(why, cap, "it is empty");
        return 1;
    }
    while (pos < len) {
        const char *seg = cs + pos, *eq;
        size_t n = strcspn(seg, ";"), kn, k;
        part++;
        if (n == 0) {
            if (pos + 1 >= len) {
                break; /* one trailing ';' */
            }
            snprintf(why, cap, "part %d is empty (';;' or a leading ';')", part);
            return 1;
        }
        eq = memchr(seg, '=', n);
        if (eq == NULL) {
            snprintf(why, cap, "part %d has no '=' (KEY=VALUE expected)", part);
            return 1;
        }
        kn = (size_t)(eq - seg);
        if (kn == 0) {
            snprintf(why, cap, "part %d has no key before '='", part);
            return 1;
        }
        for (k = 0; k < CS_NKEYS; k++) {
            if (strlen(cs_keys[k]) == kn && memcmp(cs_keys[k], seg, kn) == 0) {
                break;
            }
        }
        if (k == CS_NKEYS) {
            for (k = 0; k < CS_NKEYS; k++) {
                if (strlen(cs_keys[k]) == kn && strncasecmp(cs_keys[k], seg, kn) == 0) {
                    snprintf(why, cap, "'%.*s' is written '%s' (keys are case-sensitive)", (int)kn, seg,
                             cs_keys[k]);
                    return 1;
                }
            }
            if (echo_safe(seg, kn)) {
                snprintf(why, cap, "unknown key '%.*s' (known: " CS_KNOWN ")", (int)kn, seg);
            } else {
                snprintf(why, cap, "part %d has an unknown key (known: " CS_KNOWN ")", part);
            }
            return 1;
        }
        if (n == kn + 1) {
            snprintf(why, cap, "%s has no value", cs_keys[k]);
            return 1;
        }
        if (seen[k]++) {
            snprintf(why, cap, "%s appears twice", cs_keys[k]);
            return 1;
        }
        if (k == CS_X509) {
            if (n - kn - 1 != 4 || strncasecmp(eq + 1, "true", 4) != 0) {
                snprintf(why, cap, "x509 takes only 'true' (part %d)", part);
                return 1;
            }
            x509 = true;
        }
        if (k == CS_SAK_NAME) {
            snprintf(why, cap, "SharedAccessKeyName (a shared access policy) is not supported by the "
                               "samples: use the device's own connection string");
            return 1;
        }
        pos += n + 1;
    }
    if (!seen[CS_HOST]) {
        snprintf(why, cap, "HostName is missing");
    } else if (!seen[CS_DEVICE]) {
        snprintf(why, cap, "DeviceId is missing");
    } else if (x509 && seen[CS_SAK]) {
        snprintf(why, cap, "x509=true and SharedAccessKey exclude each other");
    } else if (!x509 && !seen[CS_SAK]) {
        snprintf(why, cap, "give x509=true (the certificate on the chip) or SharedAccessKey");
    } else {
        return 0;
    }
    return 1;
}

bool sample_host_ok(const char *h)
{
    size_t n = strlen(h), i;
    if (n == 0 || n > 253) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (!((h[i] >= 'A' && h[i] <= 'Z') || (h[i] >= 'a' && h[i] <= 'z') || (h[i] >= '0' && h[i] <= '9') ||
              h[i] == '.' || h[i] == '-')) {
            return false;
        }
    }
    return true;
}

bool sample_id_ok(const char *id)
{
    return id[0] != '\0' && strlen(id) <= 128 && sample_id_bad_char(id) == 0;
}

bool sample_regid_ok(const char *r)
{
    /* DPS's registration id: 1..128 letters, digits and - . _ : (the same
     * rule dps_client_init() applies; checked here so that a bad option is
     * an argument error, exit 2, before the chip is opened) */
    size_t n = strlen(r), i;
    if (n == 0 || n > 128) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (!((r[i] >= 'A' && r[i] <= 'Z') || (r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') ||
              r[i] == '-' || r[i] == '.' || r[i] == '_' || r[i] == ':')) {
            return false;
        }
    }
    return true;
}

bool sample_dtmi_ok(const char *m)
{
    /* DTDL v2's Digital Twin Model Identifier: "dtmi:" path ";" version,
     * path segments split by ':', each a letter first, then letters, digits
     * and '_', not ending in '_'; version 1..999999999 without a leading
     * zero; an Interface's id at most 128 characters. */
    size_t n = strlen(m), i = 5, seg = 0, vd = 0;
    if (n > 128 || strncmp(m, "dtmi:", 5) != 0) {
        return false;
    }
    for (;;) {
        size_t st = i;
        if (!((m[i] >= 'A' && m[i] <= 'Z') || (m[i] >= 'a' && m[i] <= 'z'))) {
            return false;
        }
        while ((m[i] >= 'A' && m[i] <= 'Z') || (m[i] >= 'a' && m[i] <= 'z') || (m[i] >= '0' && m[i] <= '9') ||
               m[i] == '_') {
            i++;
        }
        if (m[i - 1] == '_' || i == st) {
            return false;
        }
        seg++;
        if (m[i] == ':') {
            i++;
            continue;
        }
        break;
    }
    if (m[i] != ';' || m[i + 1] == '0') {
        return false;
    }
    for (i++; m[i] >= '0' && m[i] <= '9'; i++) {
        vd++;
    }
    return m[i] == '\0' && vd >= 1 && vd <= 9 && seg >= 1;
}
