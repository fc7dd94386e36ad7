/* trustm CLI: shared declarations (tool-internal). */
#ifndef TRUSTM_TOOL_H
#define TRUSTM_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tma/status.h"
#include "trustm/cmd.h"
#include "trustm/trustm.h"

#define TOOL_VERSION "0.1.0"

struct trustm_port_handle;

/* ---- device ------------------------------------------------------------- */

struct dev {
    struct trustm chip;
    struct trustm_port port;
    struct trustm_port_handle *handle; /* port_open.h: owns the connection */
    uint8_t protect;        /* TRUSTM_PROTECT_BOTH once bound, else NONE */
    bool open;
    bool implicit;          /* no --device nor $TRUSTM_DEVICE: the default "sim" */
    char what[300];         /* device string, for messages */
};

/* Global options. */
struct globals {
    const char *device;  /* --device, default $TRUSTM_DEVICE or "sim" */
    const char *state;   /* --state for the in-process simulator */
    const char *binding; /* --binding FILE: host copy of the platform binding secret */
    bool quiet; /* set by commands that print JSON and run others inside */
};

extern struct globals g;

/* Open the device, the link and the application (and the shielded
 * connection when a binding file is configured). Prints the error. */
int dev_open(struct dev *d);
void dev_close(struct dev *d);

/* ---- errors and output -------------------------------------------------- */

/* Prints "trustm: <msg>" to stderr; returns 1 (the exit code). */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same with ": <status text>" appended. */
int fail_st(tma_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- options ------------------------------------------------------------ */

struct opt {
    const char *name;  /* "--slot" */
    int has_arg;       /* 1: takes a value */
    const char **val;  /* where the value goes (has_arg) */
    bool *flag;        /* set true when present (no arg) */
};

/* Parses argv[1..]; positionals go to pos (up to max_pos). Returns 0, or
 * prints an error and returns 1. "--help" sets *help. */
int parse_opts(int argc, char **argv, const struct opt *opts, const char **pos, int max_pos,
               int *npos, bool *help);

int parse_oid(const char *s, uint16_t *out);
/* Access condition from words ("LcsO < op || Conf(0xE140)", "ALW", ...) or
 * hex condition bytes into out. Returns 0 or -1. */
int parse_ac_arg(const char *s, uint8_t *out, size_t cap, size_t *out_len);
int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);
/* Hex string (spaces/colons allowed) into out. Returns bytes or -1. */
long parse_hex(const char *s, uint8_t *out, size_t cap);
void print_hex(const uint8_t *p, size_t n);

/* ---- files -------------------------------------------------------------- */

/* Reads a whole file (malloc, NUL appended). Prints the error. */
int read_file(const char *path, uint8_t **out, size_t *out_len, size_t max);
/* Writes atomically (tmp + rename) with mode; an existing device, FIFO or
 * symbolic link is written through instead (outfile_open). Prints the error. */
int write_file(const char *path, const uint8_t *p, size_t n, int mode);
/* An output file prepared before anything irreversible happens: open
 * creates PATH.tmpPID (O_EXCL) so an unwritable directory fails early; with
 * excl an existing PATH is refused (secrets never replace a file). commit
 * writes, fsyncs and moves the data to PATH (link(2) when excl, so a file
 * that appeared meanwhile is not replaced); abort removes the temporary
 * file. An existing PATH that is not a regular file (a device, a FIFO, a
 * symbolic link) is opened and written through, never replaced (when not
 * excl). Each prints its error and returns 0 or 1. */
struct outfile {
    const char *path;
    char tmp[4096];
    int fd;
    bool excl;
    bool direct; /* an existing device, FIFO or link: written through */
};
int outfile_open(struct outfile *f, const char *path, int mode, bool excl);
int outfile_commit(struct outfile *f, const uint8_t *p, size_t n);
void outfile_abort(struct outfile *f);
/* The output of a command whose work cannot be repeated for free (a key
 * generated, a signature the Security Monitor counts): prepared with
 * outfile_open before the chip is touched, so a bad path costs nothing.
 * NULL or "-" is standard output. out_finish writes and commits; after it,
 * or on any exit, outfile_abort is safe. Each prints its error; 0 or 1. */
int out_prepare(struct outfile *f, const char *path);
int out_finish(struct outfile *f, const uint8_t *p, size_t n);
/* Whether two paths name the same file (the same inode when both exist,
 * else the same canonical folder and name; "-" never clashes). */
bool same_path(const char *a, const char *b);
/* Refuses (prints, returns 1) an output that is one of the inputs (e.g.
 * 'personalize --csr-out ca.key' would replace the CA key) or another
 * output; NULL entries are skipped. 0 when there is no clash. */
int out_clash(const char *cmd, const char *const *outs, const char *const *out_names, int n_out,
              const char *const *ins, const char *const *in_names, int n_in);
/* Writes to path, or stdout when path is NULL or "-". */
int write_out(const char *path, const uint8_t *p, size_t n);
/* Write to path like write_out, or print hex when path is NULL. 0 or 1. */
int write_or_hex(const char *path, const uint8_t *p, size_t n);

/* ---- certificates ------------------------------------------------------- */

/* An X.509 subject string ("CN=dev-001,O=Example") that mbedTLS parses, with
 * no empty attribute value and a CN of at most 64 characters. Prints the
 * error; returns 0 or 1. */
int check_subject(const char *subject);
/* The same check without printing: 0, or 1 with the reason in why. */
int subject_problem(const char *subject, char *why, size_t cap);
/* sig is exactly one DER ECDSA-Sig-Value: SEQUENCE { INTEGER r, INTEGER s },
 * both positive and at most 67 bytes. */
bool der_ecdsa_sig_ok(const uint8_t *sig, size_t n);

/* Certificates from a PEM/DER file or buffer: up to max DER spans
 * (pointing into *store, malloc'd). Returns count, or -1 after printing. */
int load_certs_file(const char *path, uint8_t **store, struct tma_span *out, int max);
int pem_write(const char *label, const uint8_t *der, size_t n, char *out, size_t cap);

/* ---- chip helpers ------------------------------------------------------- */

bool tool_oid_is_cert(uint16_t oid);
bool tool_oid_is_ta(uint16_t oid);
bool tool_oid_is_ecc_key(uint16_t oid);
bool tool_oid_is_key(uint16_t oid);
/* "0xE0F1[,0xE0F2...]" into 1..cap distinct key objects (ECC or RSA
 * slots). Returns 0 or -1. */
int parse_key_list(const char *s, uint16_t *out, size_t cap, size_t *out_n);
/* Max and used size of a data object from its metadata. */
int obj_sizes(struct dev *d, uint16_t oid, size_t *max_size, size_t *used);
/* Reads a whole object into buf (used size). Returns 0 or 1 (printed). */
int obj_read(struct dev *d, uint16_t oid, uint8_t *buf, size_t cap, size_t *out_len);
/* Writes data (erase & write) and reads it back; on a failed write tries to
 * restore old[0..old_len). Returns 0 or 1 (printed). */
int obj_replace(struct dev *d, uint16_t oid, const uint8_t *data, size_t len,
                const uint8_t *old, size_t old_len);

/* ---- protected-update manifests (trustm_manifest.c) -------------------- */

struct manifest_claims {
    uint16_t target, anchor;
    uint64_t version, size;
};
/* What a COSE_Sign1 manifest of SetObjectProtected claims; false when the
 * bytes are not such a manifest (nothing else is promised about *out). */
bool manifest_claims(const uint8_t *m, size_t n, struct manifest_claims *out);

/* ---- subcommands ------------------------------------------------------ */

typedef int (*cmd_fn)(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_metadata(int argc, char **argv);
int cmd_lock(int argc, char **argv);
int cmd_current_limit(int argc, char **argv);
int cmd_random(int argc, char **argv);
int cmd_counter(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_csr(int argc, char **argv);
int cmd_cert(int argc, char **argv);
int cmd_trust_anchor(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_personalize(int argc, char **argv);
int cmd_bind(int argc, char **argv);
int cmd_connect(int argc, char **argv);
int cmd_update(int argc, char **argv);

#endif
