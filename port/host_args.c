/* Command-line helper shared by the trustm CLI and the samples
 * (include/tma/host_args.h). */
#include "tma/host_args.h"

#include <string.h>

bool tma_host_may_be_secret(const char *s)
{
    size_t n;
    if (s == NULL) {
        return false;
    }
    n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=");
    return (n >= 16 && s[n] == '\0') || strstr(s, "SharedAccess") != NULL || strstr(s, "sig=") != NULL;
}
