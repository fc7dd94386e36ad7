#!/usr/bin/env bash
# The trustm CLI on a Linux i2c-dev device: libtrustm's i2c-dev port, with the
# LD_PRELOAD shim of tests/integration/i2cdev_shim.c mapping /dev/i2c-7 onto a
# trustm-sim daemon (real time, since the i2c-dev port really sleeps).
# personalize, then openssl verifies what is read back and a chip signature.
. "$(dirname "$0")/tls_cli_lib.sh"
SHIM=${TRUSTM_I2C_SHIM:?set by ctest}
make_pki
start_sim i2c --realtime
export TRUSTM_LOCK_DIR=$W TRUSTM_SHIM_SOCKET=$W/i2c.sock
# The shim is not instrumented; ASan must not insist on coming first.
export ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0
I() { LD_PRELOAD=$SHIM "$T" --device /dev/i2c-7@0x30 "$@"; }
step "info and personalize over /dev/i2c-7"
I info | grep_all -q '^coprocessor UID' || fail "info"
I personalize --device-id dev-i2c --ca-cert ca.pem --ca-key ca.key --trust-anchor ca.pem >/dev/null
I cert read --oid 0xE0E1 --out back.pem
openssl verify -CAfile ca.pem back.pem | grep_all -q OK || fail "openssl verify"
echo msg > m.txt
I sign --slot 0xE0F1 --in m.txt --out m.sig
openssl x509 -in back.pem -noout -pubkey > pub.pem
openssl dgst -sha256 -verify pub.pem -signature m.sig m.txt | grep_all -q 'Verified OK' || fail "signature"
step "the same chip through the daemon's socket sees the same certificate"
cmp <("$T" --device "$DEV" cert read --oid 0xE0E1 --der) <(openssl x509 -in back.pem -outform DER) \
  || fail "socket and i2c-dev disagree"
step "wrong address: a clean one-line failure"
expect_fail "no chip answers" env LD_PRELOAD="$SHIM" "$T" --device /dev/i2c-7@0x31 info
echo PASS
