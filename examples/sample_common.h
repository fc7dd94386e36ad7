/* Shared plumbing of the IoT Hub samples: options, the chip, TLS with the
 * chip key (or SAS), the connector the client uses. Not device core: this
 * is Linux sample code (it allocates and uses the OS). */
#ifndef SAMPLE_COMMON_H
#define SAMPLE_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "iothub/client.h"
#include "iothub/flash_file.h"
#include "iothub/storage_file.h"
#include "iothub/storage_flash.h"
#include "tma/tls.h"
#include "tma/tls_chip.h"
#include "trustm/port_open.h"
#include "trustm/trustm.h"

#define SAMPLE_MAX_CA 4

struct sample_opts {
    const char *device;        /* chip: sim, sim:/path.sock, tcp:host:port, /dev/i2c-N[@0x30] */
    const char *binding;       /* platform binding secret file (shielded connection) */
    uint16_t cert_oid, key_oid;
    uint16_t ca_oids[SAMPLE_MAX_CA];
    int n_ca;
    bool ca_backup_default;    /* ca_oids[1] is the default backup root object: skipped when empty */
    const char *ca_file;       /* PEM/DER trust anchors instead of chip objects */
    const char *host;          /* hub host name (also from the connection string) */
    const char *port;
    const char *address;       /* TCP address if not the host name (localhub) */
    const char *gateway;       /* IoT Edge gateway (GatewayHostName, --gateway): TCP and TLS
                                  endpoint of the hub connection; NULL: the hub itself */
    const char *connection_string;
    const char *device_id;
    const char *module_id;
    const char *sas_key;
    const char *outbox;
    const char *outbox_flash;  /* --outbox-flash FILE[:SECTORS:SECTOR_SIZE:UNIT] (exclusive with --outbox) */
    struct iothub_flash_geometry flash_geo; /* parsed from it */
    const char *model_id;
    long count;
    long interval_ms;
    bool count_given;          /* --count or --interval-ms on the command line */
    long run_ms;
    long timeout_ms;
    long retry_min_ms;         /* reconnect back-off (--retry-ms MIN:MAX:JITTER); 0: client defaults */
    long retry_max_ms;
    long retry_jitter_ms;
    long keep_alive_s;         /* MQTT keep-alive (--keep-alive S); 0: client default (240 s) */
    long rx_buf;               /* MQTT receive buffer in bytes (--rx-buf N); 0: SAMPLE_RX_BUF_MAX */
    const char *id_scope;      /* DPS */
    const char *registration_id;
    const char *dps_host;
    const char *assignment;    /* DPS: file caching the assigned hub and device id */
};

/* The receive buffer's default and largest size: IoT Hub's largest C2D
 * message (64 KB) plus 8 KB for its topic and property bag. */
#define SAMPLE_RX_BUF_MAX (64L * 1024L + 8192L)

/* Parse common options; `extra` lists sample-specific usage. Exits on
 * --help (0) and bad arguments (2, one-line reason on stderr). */
void sample_parse(int argc, char **argv, struct sample_opts *o, const char *name,
                  const char *summary, bool dps);

/* A chip plus a TLS client using it (or a TLS client without a client
 * certificate for SAS). */
struct sample_net {
    bool chip_open;
    struct trustm chip;
    struct trustm_port port;
    struct trustm_port_handle *port_handle;
    uint8_t protect;
    mbedtls_x509_crt chain;
    mbedtls_pk_context pk;
    bool pk_bound;
    struct tma_tls_key key;
    struct tma_tls_chip_signer signer;
    struct tma_tls_chip_rng crng;
    struct tma_tls_rng rng;
    struct tma_tls_client *tls;
    bool tls_ready;
    char cn[129];              /* subject CN of the client certificate */
};

/* Open the chip and read the client certificate (X.509). 0 or exits. */
int sample_chip_open(struct sample_net *n, const struct sample_opts *o);
/* Set up TLS towards host (client cert when the chip is open); for the hub
 * named by the options (o->host) towards o->gateway when one is set. 0 or exits. */
int sample_tls_setup(struct sample_net *n, const struct sample_opts *o, const char *host,
                     const char *port);
struct iothub_connector sample_connector(struct sample_net *n);
/* Drop the TLS client only (the chip stays open), e.g. before
 * sample_tls_setup() for another host. */
void sample_tls_close(struct sample_net *n);
void sample_net_close(struct sample_net *n);

uint64_t sample_mono_ms(void *ctx);
uint64_t sample_wall_ms(void *ctx);
struct iothub_hmac_ops sample_hmac_ops(void);
/* The client defaults, or the back-off --retry-ms gave. */
struct iothub_retry_policy sample_retry_policy(const struct sample_opts *o);
uint32_t sample_random(void *ctx);
void sample_sleep_ms(uint64_t ms);
/* The connection part of a client configuration from the options (SAS key,
 * clocks, TLS connector, back-off, keep-alive, the samples' static buffers),
 * for the hub client and for DPS's `conn`; the caller adds the identity. */
void sample_conn_config(struct iothub_client_config *cfg, struct sample_net *n,
                        const struct sample_opts *o);
extern volatile int sample_stop;

#endif

/* Storage and client set-up shared by the samples: the outbox in a log file
 * (--outbox, default ./<device>.outbox) or in the flash log on a file that
 * behaves like NOR flash (--outbox-flash), static buffers, SAS or X.509 from
 * the options. */
struct sample_hub {
    struct sample_net *net;
    struct iothub_file_storage fs;    /* --outbox */
    struct iothub_flash_file ff;      /* --outbox-flash: the flash ... */
    struct iothub_flash_storage fls;  /* ... and the log on it */
    struct iothub_outbox outbox;
    struct iothub_client client;
};
int sample_hub_init(struct sample_hub *h, struct sample_net *n, const struct sample_opts *o,
                    const char *host, const char *device_id, uint32_t subs,
                    const struct iothub_callbacks *cb);
void sample_hub_close(struct sample_hub *h);
/* Run the client until done() says so, --run-ms passes, a signal, or no
 * connection within --timeout-ms. Returns 0 when done() ended it. */
int sample_run(struct sample_hub *h, const struct sample_opts *o, bool (*done)(void *), void *ctx,
               void (*tick)(void *), void *tick_ctx);
/* What an IoT Hub client event is called in the samples' output:
 * "connected", "refused", "subscription refused" or "disconnected". */
const char *sample_event_name(enum iothub_event ev);
void sample_print_c2d(struct tma_span bag, struct tma_span payload);
/* Bytes received from the network to stdout, control characters (< 0x20,
 * 0x7F) written as \xNN so that none reaches the terminal. */
void sample_put(const void *p, size_t n);

/* A module input message (IoT Edge): its input name, body and properties. */
void sample_print_input(struct tma_span input, struct tma_span bag, struct tma_span payload);
