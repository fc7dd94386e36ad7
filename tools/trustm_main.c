/* trustm: personalize and use an OPTIGA Trust M (or its simulator). */
#include "trustm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cmd {
    const char *name;
    cmd_fn fn;
    const char *summary;
};

static const struct cmd cmds[] = {
    {"info", cmd_info, "chip identity, life cycle, security counters, free objects"},
    {"keygen", cmd_keygen, "generate a key pair in a key slot; print the public key"},
    {"csr", cmd_csr, "PKCS#10 request signed by a chip key"},
    {"cert", cmd_cert, "read or write a certificate object (read|write)"},
    {"trust-anchor", cmd_trust_anchor, "write a trust anchor (a file, or --azure)"},
    {"data", cmd_data, "read or write a data object (read|write)"},
    {"metadata", cmd_metadata, "show or set an object's metadata (show|set)"},
    {"lock", cmd_lock, "move objects to the operational life cycle (irreversible)"},
    {"bind", cmd_bind, "pair host and chip (platform binding) and shield the link"},
    {"current-limit", cmd_current_limit, "show or set the current limitation (6..15 mA)"},
    {"random", cmd_random, "random bytes from the chip's TRNG"},
    {"sign", cmd_sign, "ECDSA signature of a file's SHA-256 with a chip key"},
    {"verify", cmd_verify, "verify an ECDSA signature on the chip"},
    {"counter", cmd_counter, "read or advance a monotonic counter (read|add)"},
    {"personalize", cmd_personalize, "key, CSR, CA signature, certificate, trust anchors in one go"},
    {"update", cmd_update, "protected update: build a signed data set, apply it (build|apply)"},
    {"connect", cmd_connect, "mutual-TLS handshake with the chip identity (for checks)"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    const struct cmd *c;
    fprintf(f, "usage: trustm [--device DEV] [--state FILE] [--binding FILE] COMMAND [options]\n\n"
               "  --device DEV    sim (in-process simulator, default), sim:/path.sock or\n"
               "                  tcp:127.0.0.1:PORT (trustm-sim daemon; loopback only: 127.0.0.1,\n"
               "                  localhost, ::1), /dev/i2c-N[@0x30];\n"
               "                  also $TRUSTM_DEVICE\n"
               "  --state FILE    state file of the in-process simulator (default\n"
               "                  $TRUSTM_SIM_STATE or ./trustm-sim.state)\n"
               "  --binding FILE  platform binding secret (from 'trustm bind'): every command\n"
               "                  then runs over the shielded connection; also $TRUSTM_BINDING\n"
               "  --version       print the version\n\ncommands:\n");
    for (c = cmds; c->name != NULL; c++) {
        fprintf(f, "  %-14s %s\n", c->name, c->summary);
    }
    fprintf(f, "\n'trustm COMMAND --help' describes each command.\n");
}

int main(int argc, char **argv)
{
    int i;
    const struct cmd *c;

    g.binding = getenv("TRUSTM_BINDING");
    if (g.binding != NULL && *g.binding == '\0') {
        g.binding = NULL;
    }
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            printf("trustm %s\n", TOOL_VERSION);
            return 0;
        }
        if (!strcmp(a, "--device") || !strcmp(a, "--state") || !strcmp(a, "--binding")) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0') {
                /* An empty value (--device "$UNSET") must not fall back to
                 * the default simulator: a command meant for a real chip
                 * would run, and succeed, on a simulated one. */
                return fail("%s needs a value", a);
            }
            if (!strcmp(a, "--device")) g.device = argv[i + 1];
            else if (!strcmp(a, "--state")) g.state = argv[i + 1];
            else g.binding = argv[i + 1];
            i++;
            continue;
        }
        if (a[0] == '-') {
            return fail("unknown option '%s' (see trustm --help)", a);
        }
        break;
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    for (c = cmds; c->name != NULL; c++) {
        if (!strcmp(c->name, argv[i])) {
            int rc = c->fn(argc - i, argv + i);
            /* Output printed but not delivered (a closed or full stdout) is a
             * failure, not a silent success. */
            if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
                return fail("cannot write to standard output");
            }
            return rc == 0 || rc == 2 ? rc : 1; /* 2: a usage error, as 'trustm' alone */
        }
    }
    return fail("unknown command '%s' (see trustm --help)", argv[i]);
}
