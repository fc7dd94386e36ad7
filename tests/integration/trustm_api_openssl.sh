#!/bin/bash
# The certificate read from the simulated chip through libtrustm (E0E0,
# TLS-identity wrapper unwrapped by trustm_certobj_*) verifies with openssl
# against the simulator's exported CA chain; against the issuing CA alone
# (no root) it must not.
set -euo pipefail
bin="$TMA_BUILD_DIR/tests/trustm_cmd_it_api_plain"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
TRUSTM_API_EXPORT="$dir" "$bin" plain >"$dir/log" 2>&1 || { cat "$dir/log"; exit 1; }
openssl x509 -inform DER -in "$dir/chip_cert.der" -out "$dir/chip.pem"
openssl verify -CAfile "$dir/root.pem" -untrusted "$dir/ca.pem" "$dir/chip.pem"
if openssl verify -CAfile "$dir/ca.pem" "$dir/chip.pem" >/dev/null 2>&1; then
    echo "FAIL: verified without its root"
    exit 1
fi
echo "openssl verify: ok"
