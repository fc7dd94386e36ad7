/*
 * Private state of the simulator application (sim/app_*.c only).
 *
 * One struct sim_app holds the whole chip: the persistent object store (what a
 * real chip keeps in NVM), the volatile part (application open flag, session
 * contexts, last error, Security Monitor RAM state) and the crypto engines.
 */
#ifndef TRUSTM_SIM_APP_INT_H
#define TRUSTM_SIM_APP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/cipher.h>
#include <mbedtls/md.h>

#include "sim_app.h"

/* ---- chip error codes (spec 6.2) ---- */
enum {
    E_NONE = 0x00,
    E_OID = 0x01,
    E_PARAM = 0x03,
    E_LENGTH = 0x04,
    E_DATA = 0x05,
    E_INTERNAL = 0x06,
    E_ACCESS = 0x07,
    E_BOUNDARY = 0x08,
    E_METADATA = 0x09,
    E_COMMAND = 0x0A,
    E_SEQUENCE = 0x0B,
    E_NOT_AVAIL = 0x0C,
    E_MEMORY = 0x0D,
    E_COUNTER = 0x0E,
    E_MANIFEST = 0x0F,
    E_PAYLOAD_VER = 0x10,
    E_BAD_METADATA = 0x11,
    E_UNSUPPORTED_ID = 0x24,
    E_UNSUPPORTED = 0x25,
    E_CERT_FORMAT = 0x29,
    E_CERT_UNSUPPORTED = 0x2A,
    E_SIGNATURE = 0x2C,
    E_INTEGRITY = 0x2D,
    E_DECRYPT = 0x2E,
    E_AUTH = 0x2F
};

/* Largest InData/OutData (1557 - 4). */
#define APP_DATA_MAX 1553u

/* ---- objects ---- */
enum obj_kind {
    KIND_DATA = 0, /* byte string / counter / certificate / secret */
    KIND_ECC = 1,  /* private ECC key slot */
    KIND_RSA = 2,  /* private RSA key slot */
    KIND_AES = 3   /* symmetric key slot (E200) */
};

#define AC_MAX 42u   /* an AC value fits in the 44-byte metadata */
#define META_MAX 44u /* whole metadata TLV incl. 20 LL */
#define KEYBLOB_MAX 1100u

struct ac {
    uint8_t len; /* 0 = tag absent (= NEV) */
    uint8_t b[AC_MAX];
};

struct sim_obj {
    uint16_t oid;
    uint8_t kind;
    uint16_t max;  /* data objects: max size; keys: blob capacity */
    uint16_t used; /* data: used size; keys: blob length (0 = empty) */
    uint8_t lcso;  /* 0 = tag absent */
    struct ac change, read, exe, mupd;
    bool has_type;
    uint8_t type;
    bool has_usage;
    uint8_t usage;
    uint8_t algo; /* key algorithm (tag E0), 0 = none */
    bool has_reset;
    uint8_t reset;
    bool has_version;
    uint16_t version;
    uint8_t *data;
};

/* ---- session contexts E100..E103 (volatile) ---- */
enum sess_kind { SESS_EMPTY = 0, SESS_ECC_KEY, SESS_SECRET, SESS_RANDOM };

struct sim_session {
    uint8_t kind;
    uint8_t algo;  /* SESS_ECC_KEY: curve id */
    uint8_t usage; /* SESS_ECC_KEY: key usage */
    uint8_t len;
    uint8_t data[80];
};

/* SetObjectProtected sequence in progress */
struct sim_protupd {
    bool active;
    int8_t type; /* -1 data, -2 metadata, -3 key */
    uint16_t target;
    uint16_t ta;
    uint16_t version;
    uint32_t size;     /* announced payload size */
    uint32_t received; /* payload bytes accepted so far */
    uint8_t next_hash[32];
    uint8_t write_type; /* data: 1 write, 2 erase&write */
    uint16_t offset;    /* data: offset of the payload in the object */
    uint8_t key_algo, key_usage;
    uint8_t content_reset; /* metadata: 0 per F0, 1 zeros, 2 random */
    bool encrypted;        /* confidentiality: fragments are AES-CCM-16-64-128 */
    uint8_t cek[16];       /* content key and nonce prefix from the UPDATSEC secret */
    uint8_t nonce[11];
    uint16_t frag_no;  /* fragments accepted so far */
    uint8_t buf[1100]; /* key / metadata payload */
};

#define SESSION_COUNT 4
#define HASH_CTX_LEN 209u
#define PRL_CTX_MAX 256u
#define AUTO_MAX 4

struct sim_app {
    struct sim_app_config cfg;
    char *state_path;
    int state_lock_fd; /* app_persist_lock() descriptor, -1 when none */

    /* persistent store */
    struct sim_obj *objs;
    size_t nobjs;
    uint8_t sec;         /* Security Event Counter (E0C5), NVM */
    uint32_t boot_count; /* reseeds the runtime DRBG per start */

    /* hibernate image (NVM while hibernated) */
    bool hibernated;
    uint8_t handle[8];
    struct sim_session saved_sessions[SESSION_COUNT];
    uint8_t prl_ctx[PRL_CTX_MAX];
    size_t prl_ctx_len;

    /* volatile */
    bool open;
    uint8_t last_error;
    struct sim_session sessions[SESSION_COUNT];
    uint16_t auto_oid[AUTO_MAX]; /* Auto() states set by HMAC verify, 0 = free */

    /* streamed hash (CalcHash) */
    bool hash_active;
    uint8_t hash_ctx[HASH_CTX_LEN];

    /* streamed symmetric operation (EncryptSym/DecryptSym) */
    bool sym_active;
    uint8_t sym_mode;
    bool sym_decrypt;
    uint16_t sym_key_oid;
    uint8_t sym_key[64];
    size_t sym_key_len;
    uint8_t sym_iv[16];
    uint8_t sym_state[16];               /* CBC chaining value / CBC-MAC state */
    mbedtls_md_context_t sym_md;         /* HMAC in progress */
    mbedtls_cipher_context_t sym_cipher; /* CMAC in progress */

    struct sim_protupd pu;

    /* Security Monitor (RAM part) */
    uint8_t sec_credit;
    uint64_t secmon_last_tick_us;
    uint64_t secmon_last_event_us;
    bool secmon_time_known;

    /* per-command virtual time of this execute (filled by handlers) */
    uint32_t busy_us;
    bool dirty;        /* persistent state changed: save after the command */
    uint8_t last_algo; /* key algorithm the command used (timing model) */

    mbedtls_ctr_drbg_context drbg;
    uint64_t entropy_ctr; /* deterministic entropy source position */
};

/* ---- app_core.c ---- */
int app_random(struct sim_app *app, uint8_t *out, size_t len);
int app_rng(void *ctx, unsigned char *out, size_t len); /* mbedTLS f_rng */

/* Response builder used by every handler. */
struct rsp {
    uint8_t *out; /* OutData area (after the 4-byte header) */
    size_t cap;
    size_t len;
};
int app_rsp_put(struct rsp *r, const uint8_t *p, size_t n);
int app_rsp_tlv(struct rsp *r, uint8_t tag, const uint8_t *p, size_t n);

struct cmd {
    uint8_t code; /* without bit 7 */
    uint8_t param;
    const uint8_t *in;
    size_t in_len;
    const struct sim_sec *sec;
    uint64_t now_us;
    uint16_t int_oid;  /* protected update: trust anchor that verified the manifest */
    uint16_t conf_oid; /* protected update: UPDATSEC secret its payload is encrypted with */
};

/* TLV walker over InData: finds tag; returns 1 found, 0 absent, <0 error code. */
struct tlv {
    uint8_t tag;
    uint16_t len;
    const uint8_t *v;
};
/* Parse all TLVs of InData into out (max n). Returns count or -E_xxx. */
int app_tlv_parse(const uint8_t *in, size_t in_len, struct tlv *out, int n);
const struct tlv *app_tlv_find(const struct tlv *t, int n, uint8_t tag);
uint16_t app_be16(const uint8_t *p);
uint32_t app_be32(const uint8_t *p);
void app_put_be16(uint8_t *p, uint16_t v);
void app_put_be32(uint8_t *p, uint32_t v);

/* ---- app_objects.c ---- */
tma_status app_obj_table_init(struct sim_app *app);
void app_obj_table_free(struct sim_app *app);
struct sim_obj *app_obj_find(struct sim_app *app, uint16_t oid);
bool app_oid_is_session(uint16_t oid);
struct sim_session *app_session_get(struct sim_app *app, uint16_t oid);
int app_cmd_get_data(struct sim_app *app, const struct cmd *c, struct rsp *r);
int app_cmd_set_data(struct sim_app *app, const struct cmd *c, struct rsp *r);
/* Data content of a readable data object for crypto use (EXE checked by caller). */
int app_obj_key_store(struct sim_app *app, struct sim_obj *o, uint8_t algo, uint8_t usage,
                      const uint8_t *blob, size_t len);

/* ---- app_metadata.c ---- */
enum access { ACC_READ, ACC_CHANGE, ACC_EXE, ACC_MUPD };
/* Returns 0 when allowed, else the chip error (E_ACCESS). */
int app_ac_check(struct sim_app *app, const struct sim_obj *o, enum access a, const struct cmd *c);
/* Metadata of o as `20 LL ...` into out (cap >= META_MAX). Returns length. */
size_t app_meta_encode(const struct sim_app *app, const struct sim_obj *o, uint8_t *out);
/* Apply a metadata write (`20 LL` + tags). Returns 0 or chip error. */
int app_meta_write(struct sim_app *app, struct sim_obj *o, const uint8_t *in, size_t len,
                   const struct cmd *c);
/* Validate an access-condition byte string (simple or complex). */
bool app_ac_valid(const uint8_t *b, size_t len);
/* Evaluate an AC string. */
bool app_ac_eval(struct sim_app *app, const struct sim_obj *o, const struct ac *ac,
                 const struct cmd *c, enum access a);

/* ---- app_crypto.c ---- */
int app_cmd_get_random(struct sim_app *app, const struct cmd *c, struct rsp *r);
int app_cmd_calc_hash(struct sim_app *app, const struct cmd *c, struct rsp *r);
int app_cmd_calc_sign(struct sim_app *app, const struct cmd *c, struct rsp *r);
int app_cmd_verify_sign(struct sim_app *app, const struct cmd *c, struct rsp *r);
int app_cmd_gen_keypair(struct sim_app *app, const struct cmd *c, struct rsp *r);
int app_cmd_gen_symkey(struct sim_app *app, const struct cmd *c, struct rsp *r);
int app_cmd_calc_ssec(struct sim_app *app, const struct cmd *c, struct rsp *r);
int app_cmd_derive_key(struct sim_app *app, const struct cmd *c, struct rsp *r);
int app_cmd_encrypt_asym(struct sim_app *app, const struct cmd *c, struct rsp *r);
int app_cmd_decrypt_asym(struct sim_app *app, const struct cmd *c, struct rsp *r);
int app_cmd_encrypt_sym(struct sim_app *app, const struct cmd *c, struct rsp *r);
int app_cmd_decrypt_sym(struct sim_app *app, const struct cmd *c, struct rsp *r);
/* ECC helpers shared with the factory. */
int app_ecc_group_id(uint8_t algo);     /* mbedtls_ecp_group_id or 0 */
size_t app_ecc_field_len(uint8_t algo); /* bytes of a coordinate/scalar, 0 if not ECC */
/* Public key of an ECC private scalar as BIT STRING `03 LL 00 04 X Y`. */
int app_ecc_public_bitstring(uint8_t algo, const uint8_t *priv, size_t priv_len, uint8_t *out,
                             size_t cap, size_t *out_len);

void app_sym_free(struct sim_app *app);

/* ---- app_protupd.c ---- */
int app_cmd_set_object_protected(struct sim_app *app, const struct cmd *c, struct rsp *r);

/* RSA private key from (n, e, d) into the key-slot blob format (0 or chip error). */
int app_rsa_import(struct sim_app *app, const uint8_t *n, size_t nl, const uint8_t *e, size_t el,
                   const uint8_t *d, size_t dl, uint8_t *blob, size_t *blob_len);

/* ---- app_secmon.c ---- */
void app_secmon_tick(struct sim_app *app, uint64_t now_us);
/* A security event happened: account it, add throttling delay to busy. */
void app_secmon_event(struct sim_app *app, uint64_t now_us);
void app_secmon_config(const struct sim_app *app, uint32_t *t_max_us, uint8_t *credit_max);

/* ---- app_factory.c ---- */
tma_status app_factory_provision(struct sim_app *app);

/* ---- app_persist.c ---- */
tma_status app_persist_load(struct sim_app *app, const char *path);
tma_status app_persist_save(struct sim_app *app, const char *path);
/* The state file is the chip's NVM: one simulator (daemon or in-process) at a
 * time. Takes an flock on PATH.lock (the state file itself cannot carry it:
 * every save replaces it) and returns the descriptor, to be closed when the
 * chip goes away, or -1 with *st = store/IN_USE (another simulator holds it)
 * or store/IO (cannot create or lock the lock file). */
int app_persist_lock(const char *path, tma_status *st);
/* Whole persistent state to/from memory (fuzzing: restore a clean chip). */
tma_status app_persist_snapshot(struct sim_app *app, uint8_t **out, size_t *out_len);
tma_status app_persist_restore(struct sim_app *app, const uint8_t *p, size_t len);
/* Test hook: 1 = app_persist_save _exit()s after the temp file is written
 * and synced but before the rename (a crash); 2 = the write fails (disk full). */
extern int sim_persist_crash_point;

/* ---- app_timing.c ---- */
uint32_t app_timing_us(const struct sim_app *app, const struct cmd *c, size_t out_len, bool ok);

#endif
