/* Names for tma_status values. Pure table lookup: no allocation, no I/O. */
#include "tma/status.h"

#include <stddef.h>

struct code_name {
    uint8_t layer; /* 0xFF = any layer */
    uint8_t code;
    const char *name;
};

/* Most specific first: entries for one layer, then entries valid for any. */
static const struct code_name names[] = {
    /* Chip error codes, OPTIGA Trust M SRM table 17 (spec section 6.2). */
    {TMA_LAYER_CHIP, 0x01, "chip: invalid OID"},
    {TMA_LAYER_CHIP, 0x02, "chip: invalid password"},
    {TMA_LAYER_CHIP, 0x03, "chip: invalid param field"},
    {TMA_LAYER_CHIP, 0x04, "chip: invalid length field"},
    {TMA_LAYER_CHIP, 0x05, "chip: invalid parameter in data field"},
    {TMA_LAYER_CHIP, 0x06, "chip: internal process error"},
    {TMA_LAYER_CHIP, 0x07, "chip: access conditions not satisfied"},
    {TMA_LAYER_CHIP, 0x08, "chip: data object boundary exceeded"},
    {TMA_LAYER_CHIP, 0x09, "chip: metadata truncation error"},
    {TMA_LAYER_CHIP, 0x0A, "chip: invalid command field"},
    {TMA_LAYER_CHIP, 0x0B, "chip: command out of sequence"},
    {TMA_LAYER_CHIP, 0x0C, "chip: command not available"},
    {TMA_LAYER_CHIP, 0x0D, "chip: insufficient buffer/memory"},
    {TMA_LAYER_CHIP, 0x0E, "chip: counter threshold limit exceeded"},
    {TMA_LAYER_CHIP, 0x0F, "chip: invalid manifest"},
    {TMA_LAYER_CHIP, 0x10, "chip: invalid/wrong payload version"},
    {TMA_LAYER_CHIP, 0x11, "chip: invalid metadata of the key/data object"},
    {TMA_LAYER_CHIP, 0x24, "chip: unsupported extension/identifier"},
    {TMA_LAYER_CHIP, 0x25, "chip: unsupported parameters"},
    {TMA_LAYER_CHIP, 0x29, "chip: invalid certificate format"},
    {TMA_LAYER_CHIP, 0x2A, "chip: unsupported certificate"},
    {TMA_LAYER_CHIP, 0x2C, "chip: signature verification failure"},
    {TMA_LAYER_CHIP, 0x2D, "chip: integrity validation failure"},
    {TMA_LAYER_CHIP, 0x2E, "chip: decryption failure"},
    {TMA_LAYER_CHIP, 0x2F, "chip: authorization failure"},
    /* Command layer (libtrustm cmd.h TRUSTM_CMD_E_*). */
    {TMA_LAYER_CMD, 0x40, "command: chip failed without an error code"},
    /* libtrustm stack (trustm.h TRUSTM_E_*). */
    {TMA_LAYER_NET, 0x40, "network: the chip reported a chaining error twice"},
    {TMA_LAYER_SHIELD, 0x41, "shield: the chip ended the session with an alert"},
    {TMA_LAYER_SHIELD, 0x42, "shield: handshake failed (platform binding secret does not match?)"},
    {TMA_LAYER_SHIELD, 0x43, "shield: protection asked for but no binding secret set"},

    /* TLS-layer codes (include/tma/tls.h, TMA_TLS_E_*). */
    {TMA_LAYER_TLS, 0x40, "tls: server certificate not trusted"},
    {TMA_LAYER_TLS, 0x41, "tls: server certificate does not match the host name"},
    {TMA_LAYER_TLS, 0x42, "tls: server certificate expired"},
    {TMA_LAYER_TLS, 0x43, "tls: server certificate not yet valid"},
    {TMA_LAYER_TLS, 0x44, "tls: server certificate rejected"},
    {TMA_LAYER_TLS, 0x45, "tls: handshake failed"},
    {TMA_LAYER_TLS, 0x46, "tls: certificate does not match the key"},
    {TMA_LAYER_TLS, 0x47, "tls: peer aborted the handshake"},
    {TMA_LAYER_TLS, 0x48, "tls: signing with the client key failed"},
    {TMA_LAYER_TLS, 0x49, "tls: cannot connect"},

    /* MQTT-layer codes (include/mqtt/packet.h): CONNACK refusals, SUBACK failure. */
    {TMA_LAYER_MQTT, 0x41, "mqtt: CONNACK 1 unacceptable protocol version"},
    {TMA_LAYER_MQTT, 0x42, "mqtt: CONNACK 2 client identifier rejected"},
    {TMA_LAYER_MQTT, 0x43, "mqtt: CONNACK 3 server unavailable"},
    {TMA_LAYER_MQTT, 0x44, "mqtt: CONNACK 4 bad user name or password"},
    {TMA_LAYER_MQTT, 0x45, "mqtt: CONNACK 5 not authorized"},
    {TMA_LAYER_MQTT, 0x80, "mqtt: subscription refused (SUBACK 0x80)"},

    {0xFF, TMA_C_BAD_PARAM, "bad parameter"},
    {0xFF, TMA_C_TOO_SMALL, "buffer too small"},
    {0xFF, TMA_C_TIMEOUT, "timeout"},
    {0xFF, TMA_C_UNSUPPORTED, "not supported"},
    {0xFF, TMA_C_STATE, "invalid state for this call"},
    {0xFF, TMA_C_MALFORMED, "malformed data"},
    {0xFF, TMA_C_IO, "I/O error"},
    {0xFF, TMA_C_NACK, "address not acknowledged"},
    {0xFF, TMA_C_INTEGRITY, "integrity check failed"},
    {0xFF, TMA_C_FAILED, "session failed (reset required)"},
    {0xFF, TMA_C_NOT_FOUND, "not found"},
    {0xFF, TMA_C_FULL, "full"},
    {0xFF, TMA_C_CLOSED, "connection closed by peer"},
    {0xFF, TMA_C_REFUSED, "refused by peer"},
    {0xFF, TMA_C_INTERNAL, "internal error"},
    {0xFF, TMA_C_CRYPTO, "cryptographic operation failed"},
    {0xFF, TMA_C_IN_USE, "in use by another process"},
};

static const char *const layer_names[] = {
    "generic", "bus", "link", "network", "shield", "command", "chip", "tls",
    "mqtt", "hub", "iothub", "dps", "store", "sim", "transport",
};

const char *tma_layer_name(uint8_t layer)
{
    if (layer < sizeof(layer_names) / sizeof(layer_names[0])) {
        return layer_names[layer];
    }
    return "unknown";
}

const char *tma_status_str(tma_status s)
{
    size_t i;
    uint8_t layer;
    uint8_t code;

    if (s == TMA_OK) {
        return "ok";
    }
    if (s == TMA_WANT_READ) {
        return "want read";
    }
    if (s == TMA_WANT_WRITE) {
        return "want write";
    }
    if (s == TMA_IN_PROGRESS) {
        return "in progress";
    }
    if (s > 0) {
        return "unknown flow code";
    }
    layer = TMA_STATUS_LAYER(s);
    code = TMA_STATUS_CODE(s);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].code == code && (names[i].layer == layer ||
                                      (names[i].layer == 0xFF && layer != TMA_LAYER_CHIP))) {
            return names[i].name;
        }
    }
    return layer == TMA_LAYER_CHIP ? "chip: unknown error code" : "unknown error";
}
