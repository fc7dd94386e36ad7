/* Fuzz target: the samples' connection-string check (examples/sample_args.c,
 * sample_cs_problem()) on arbitrary strings. Checks, beyond "no crash":
 *  - a refusal always carries a reason (NUL-terminated, not empty);
 *  - the reason never quotes a value that looks like a key (12 or more base64
 *    characters with a digit; the messages' own longest such run is
 *    "x509=true"), so a SharedAccessKey is never echoed;
 *  - a string the check accepts is one iothub_connection_string_parse()
 *    accepts, with HostName and DeviceId and exactly one of x509=true and
 *    SharedAccessKey (the samples rely on it).
 * Seeds: tests/vectors/iothub_sample_user/cs/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iothub/iothub.h"
#include "sample_args.h"

static int b64ch(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
}

/* Every value (after the first '=' of a ';'-separated part) that looks like
 * a key must not appear in why. */
static void no_value_echoed(const char *cs, const char *why)
{
    const char *p = cs;
    while (*p != '\0') {
        size_t n = strcspn(p, ";");
        const char *eq = memchr(p, '=', n);
        if (eq != NULL) {
            const char *v = eq + 1;
            size_t vn = n - (size_t)(v - p), i;
            int digit = 0, ok = vn >= 12;
            for (i = 0; ok && i < vn; i++) {
                ok = b64ch(v[i]);
                digit |= v[i] >= '0' && v[i] <= '9';
            }
            if (ok && digit) {
                char *val = malloc(vn + 1);
                if (val == NULL) {
                    abort();
                }
                memcpy(val, v, vn);
                val[vn] = '\0';
                if (strstr(why, val) != NULL) {
                    abort(); /* a value was quoted */
                }
                free(val);
            }
        }
        p += n;
        if (*p == ';') {
            p++;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *cs = malloc(size + 1);
    char why[200];
    struct iothub_connection_string parsed;
    struct tma_span span;
    if (cs == NULL) {
        return 0;
    }
    memcpy(cs, data, size);
    cs[size] = '\0'; /* a command-line argument ends at the first NUL */
    memset(why, 0x5A, sizeof(why));
    if (sample_cs_problem(cs, why, sizeof(why)) != 0) {
        if (memchr(why, '\0', sizeof(why)) == NULL || why[0] == '\0') {
            abort(); /* no reason, or not terminated */
        }
        no_value_echoed(cs, why);
    } else {
        span.ptr = (const uint8_t *)cs;
        span.len = strlen(cs);
        if (iothub_connection_string_parse(span, &parsed) != TMA_OK || parsed.host.len == 0 ||
            parsed.device_id.len == 0 || parsed.x509 == (parsed.shared_key.len != 0)) {
            abort(); /* accepted here, refused by the library */
        }
    }
    free(cs);
    return 0;
}
