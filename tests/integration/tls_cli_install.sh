#!/usr/bin/env bash
# The installed trustm (cmake --install --component trustm-cli into a fresh
# prefix): runs from there, finds its Azure root certificates next to itself
# (<prefix>/share/trustm-azure), and personalizes a simulated chip.
. "$(dirname "$0")/tls_cli_lib.sh"
P=$T   # installed by tls_cli_lib.sh into $W/prefix
[ -x "$P" ] || fail "trustm not installed"
"$P" --version | grep_all -q '^trustm ' || fail "--version"
make_pki
unset TRUSTM_DATA_DIR
step "trust-anchor write --azure takes the installed data files"
"$P" --state "$W/c.state" trust-anchor write --azure | tee ta.out
grep -q "from $W/prefix/bin/../share/trustm-azure/DigiCert_Global_Root_G2.der" ta.out \
  || fail "not the installed data file"
"$P" --state "$W/c.state" data read --oid 0xE0E8 --out - | openssl x509 -inform DER -noout -subject \
  | grep_all -q 'DigiCert Global Root G2' || fail "G2 on the chip"
step "personalize with the installed binary"
"$P" --state "$W/c.state" personalize --device-id dev-inst --ca-cert ca.pem --ca-key ca.key --out d.pem >/dev/null
"$P" --state "$W/c.state" cert read --oid 0xE0E1 | openssl verify -CAfile ca.pem | grep_all -q 'OK' || fail "verify"
echo PASS
