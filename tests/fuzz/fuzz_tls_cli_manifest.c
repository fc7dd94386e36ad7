/* Fuzz the trustm CLI's protected-update manifest reader (tools/trustm_manifest.c):
 * 'trustm update apply' runs it on a file the user names, before the chip
 * sees the manifest. Any bytes: no out-of-bounds read, no undefined
 * behaviour, and a manifest it accepts reads the same twice and is at
 * least as long as the smallest one the format allows. Seeds: manifests made by
 * 'trustm update build' (tests/vectors/tls/fuzz_manifest/). */
#include <stdlib.h>
#include <string.h>

#include "trustm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct manifest_claims a, b;
    uint8_t *copy;
    bool ok;
    /* an exact-size heap copy: ASan sees a read one byte past the end */
    copy = malloc(size != 0 ? size : 1u);
    if (copy == NULL) {
        return 0;
    }
    if (size != 0) {
        memcpy(copy, data, size);
    }
    ok = manifest_claims(copy, size, &a);
    if (ok) {
        /* the smallest manifest: array(4), bstr(0), map(1) {4: bstr(2)},
         * then a body of at least 7 + 3 bytes */
        if (size < 18 || !manifest_claims(copy, size, &b) || a.target != b.target || a.anchor != b.anchor ||
            a.version != b.version || a.size != b.size) {
            abort();
        }
    }
    free(copy);
    return 0;
}
