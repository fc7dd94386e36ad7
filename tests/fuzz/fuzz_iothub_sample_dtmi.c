/* Fuzz target: the samples' --model-id check (examples/sample_args.c,
 * sample_dtmi_ok()) on arbitrary strings. Beyond "no crash", a string it
 * accepts has the properties the MQTT user name relies on, checked here
 * independently: "dtmi:" first, at most 128 characters, only letters,
 * digits, '_', ':' and one ';', followed by 1..9 digits without a leading
 * zero, and no segment that is empty or starts with a digit.
 * Seeds: tests/vectors/iothub_sample_badargs/dtmi/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sample_args.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[300];
    const char *semi;
    size_t i, n;
    if (size >= sizeof(s)) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    if (!sample_dtmi_ok(s)) {
        return 0;
    }
    n = strlen(s);
    if (n > 128 || strncmp(s, "dtmi:", 5) != 0) {
        abort();
    }
    semi = strchr(s, ';');
    if (semi == NULL || strchr(semi + 1, ';') != NULL || semi[1] == '0' || semi[1] == '\0' ||
        strlen(semi + 1) > 9 || strspn(semi + 1, "0123456789") != strlen(semi + 1)) {
        abort();
    }
    for (i = 5; s + i < semi; i++) {
        char c = s[i];
        char prev = s[i - 1];
        int letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
        int digit = c >= '0' && c <= '9';
        if (!letter && !digit && c != '_' && c != ':') {
            abort();
        }
        if (prev == ':' && !letter) {
            abort(); /* a segment is empty or starts with a digit or '_' */
        }
    }
    if (semi[-1] == ':' || semi[-1] == '_') {
        abort();
    }
    return 0;
}
