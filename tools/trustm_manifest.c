/* trustm CLI: what a protected-update manifest claims (target object,
 * payload size and version, trust anchor), read on the host so that
 * 'update apply' can name the object and read its version before and
 * after. Strict enough to report, not to judge: the chip verifies the
 * manifest, and one this reader does not understand is sent all the same.
 * A pure codec over untrusted bytes (a file the user names): fuzzed by
 * fuzz_tls_cli_manifest. */
#include "trustm.h"

struct cbr {
    const uint8_t *p, *end;
    bool bad;
};

static int cbr_head(struct cbr *c, uint64_t *v)
{
    uint8_t b, ai;
    int k;
    if (c->bad || c->p >= c->end) {
        c->bad = true;
        return -1;
    }
    b = *c->p++;
    ai = b & 0x1F;
    *v = ai;
    if (ai >= 24) {
        int n = ai == 24 ? 1 : ai == 25 ? 2 : ai == 26 ? 4 : ai == 27 ? 8 : 0;
        if (n == 0 || c->end - c->p < n) {
            c->bad = true;
            return -1;
        }
        for (*v = 0, k = 0; k < n; k++) *v = (*v << 8) | *c->p++;
    }
    return b >> 5;
}

static bool cbr_skip_bstr(struct cbr *c, const uint8_t **p, size_t *n)
{
    uint64_t v;
    if (cbr_head(c, &v) != 2 || v > (uint64_t)(c->end - c->p)) return false;
    *p = c->p;
    *n = (size_t)v;
    c->p += v;
    return true;
}

bool manifest_claims(const uint8_t *m, size_t n, struct manifest_claims *out)
{
    struct cbr c = {m, m + n, false}, b;
    const uint8_t *p, *body, *oid;
    size_t pl, bl, ol;
    uint64_t v;
    int64_t t;
    if (cbr_head(&c, &v) != 4 || v != 4 || !cbr_skip_bstr(&c, &p, &pl)) return false;
    if (cbr_head(&c, &v) != 5 || v != 1 || cbr_head(&c, &v) != 0 || v != 4 ||
        !cbr_skip_bstr(&c, &oid, &ol) || ol != 2) {
        return false;
    }
    out->anchor = (uint16_t)(oid[0] << 8 | oid[1]);
    if (!cbr_skip_bstr(&c, &body, &bl)) return false;
    b.p = body;
    b.end = body + bl;
    b.bad = false;
    /* [1, null, null, [type, size, version, ...], processors, [component, OID]] */
    if (cbr_head(&b, &v) != 4 || v != 6 || cbr_head(&b, &v) != 0 || cbr_head(&b, &v) != 7 ||
        cbr_head(&b, &v) != 7 || cbr_head(&b, &v) != 4 || v != 4) {
        return false;
    }
    t = cbr_head(&b, &v);
    if (t != 1 || cbr_head(&b, &out->size) != 0 || cbr_head(&b, &out->version) != 0) return false;
    /* the target OID: the manifest's last 3 bytes are bstr(2) */
    if (bl < 3 || body[bl - 3] != 0x42) return false;
    out->target = (uint16_t)(body[bl - 2] << 8 | body[bl - 1]);
    return !b.bad;
}
