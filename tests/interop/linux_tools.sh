#!/usr/bin/env bash
# Interop check: Infineon's Linux command-line tools for the OPTIGA Trust M
# (Infineon/linux-optiga-trust-m: ex_cli_applications/trustm_*.c with their
# trustm_helper library), built on Infineon's host library (optiga-trust-m
# v5.0.x: comms stack, Linux i2c-dev pal_i2c.c, mbedTLS pal_crypt, command,
# util and crypt layers) and our PAL (tests/interop/linux_tools/, our code
# only), talking to trustm-sim through tests/integration/i2cdev_shim.c, next
# to our own `trustm` CLI on the same simulated chip:
#   1. their tools on a fresh chip (UID, random, 0xE0E0, metadata) = ours;
#   2. our personalization (trustm personalize, --lock, --bind) read and used
#      by their tools (certificate, ECDSA with 0xE0F1, metadata);
#   3. their personalization (trustm_ecc_keygen, trustm_cert) used by our CLI
#      (csr, sign, verify, cert read);
#   4. metadata and data written by one side, read and enforced by the other.
#
# NOT RUN IN CI and not registered with ctest: the repository holds no
# Infineon code. Run it by hand with your own checkouts:
#
#   git clone https://github.com/Infineon/optiga-trust-m /tmp/optiga-trust-m
#   git -C /tmp/optiga-trust-m checkout 358c88b1bf0d1c5228f8850a3c04611de5411b0c   # v5.0.x
#   git clone https://github.com/Infineon/linux-optiga-trust-m /tmp/linux-optiga-trust-m
#   cmake -S . -B build/interop && cmake --build build/interop -j2 \
#         --target trustm-sim trustm_i2cdev_shim trustm-cli
#   OPTIGA_SRC=/tmp/optiga-trust-m LINUX_TOOLS_SRC=/tmp/linux-optiga-trust-m \
#       TMA_BUILD_DIR=build/interop tests/interop/linux_tools.sh
#
# Needs gcc, libssl-dev (OpenSSL 3), libmbedtls-dev (2.28), openssl, xxd.
# Which versions of the tools were run and what was found:
# docs/decisions/sim-linux-tools-interop.md. Prints one line per check and
# "N passed, M failed"; exit 1 if anything failed. INTEROP_KEEP=1 keeps the
# work folder (bus traces, tool outputs).
set -uo pipefail
SRC=${OPTIGA_SRC:?set OPTIGA_SRC to a checkout of Infineon/optiga-trust-m (v5.0.x)}
TOOLS=${LINUX_TOOLS_SRC:?set LINUX_TOOLS_SRC to a checkout of Infineon/linux-optiga-trust-m}
B=${TMA_BUILD_DIR:?set TMA_BUILD_DIR to a build with trustm-sim, trustm_i2cdev_shim and trustm-cli}
HERE=$(cd "$(dirname "$0")" && pwd)
GLUE=$HERE/linux_tools
# shellcheck source=SCRIPTDIR/interop_lib.sh
. "$HERE/interop_lib.sh"
SIMD=$(interop_bin trustm-sim) SHIM=$(interop_bin libtrustm_i2cdev_shim.so) CLI=$(interop_bin trustm)
{ [ -n "$SIMD" ] && [ -n "$SHIM" ] && [ -n "$CLI" ]; } || { echo "missing trustm-sim, the shim or trustm in $B"; exit 2; }
interop_need "$SRC" "an optiga-trust-m v5 checkout" src/util/optiga_util.c src/crypt/optiga_crypt.c \
    extras/pal/linux/pal_i2c.c include/optiga_util.h
interop_need "$TOOLS" "a linux-optiga-trust-m checkout" trustm_helper/trustm_helper.c \
    trustm_helper/include/trustm_helper.h ex_cli_applications/trustm_cert.c

# ---- build: Infineon's code unmodified and without warnings, ours with warnings as errors
LIBSRC="src/comms/optiga_comms_ifx_i2c.c src/comms/ifx_i2c/ifx_i2c.c src/comms/ifx_i2c/ifx_i2c_config.c
        src/comms/ifx_i2c/ifx_i2c_data_link_layer.c src/comms/ifx_i2c/ifx_i2c_physical_layer.c
        src/comms/ifx_i2c/ifx_i2c_presentation_layer.c src/comms/ifx_i2c/ifx_i2c_transport_layer.c
        extras/pal/linux/pal_i2c.c extras/pal/pal_crypt_mbedtls.c
        src/cmd/optiga_cmd.c src/util/optiga_util.c src/crypt/optiga_crypt.c"
CRYPT_DEF="-DOPTIGA_CRYPT_RANDOM_ENABLED -DOPTIGA_CRYPT_ECDSA_SIGN_ENABLED -DOPTIGA_CRYPT_ECDSA_VERIFY_ENABLED
           -DOPTIGA_CRYPT_ECC_GENERATE_KEYPAIR_ENABLED -DOPTIGA_CRYPT_ECDH_ENABLED -DOPTIGA_CRYPT_HASH_ENABLED
           -DOPTIGA_CRYPT_ECC_NIST_P_521_ENABLED -DOPTIGA_CRYPT_ECC_BRAINPOOL_P_R1_ENABLED"
# the library's headers first; the platform headers the library leaves to the port
# (pal_os_timer.h, pal_os_memory.h, pal_os_lock.h, pal_ifx_i2c_config.h) are the interop harness's stand-ins
# the literal quotes are wanted: the macro names a header as #include "..." takes it
# shellcheck disable=SC2089
INC="-I$SRC/include -I$SRC/include/common -I$SRC/include/comms -I$SRC/include/ifx_i2c -I$SRC/include/cmd
     -I$SRC/include/pal -I$SRC/extras/pal/linux -I$GLUE -I$HERE/infineon_host
     -DOPTIGA_LIB_EXTERNAL=\"linux_tools_config.h\" $CRYPT_DEF"
# the tools include the library's headers as "optiga/..." (their tree's layout) or bare
TINC="-I$W/inc -I$TOOLS/trustm_helper/include"
TOOLSET="trustm_chipinfo trustm_rng trustm_cert trustm_data trustm_metadata trustm_ecc_keygen trustm_ecc_sign
         trustm_ecc_verify trustm_hash trustm_monotonic_counter"
build() {
    local o=$W/bin f t
    mkdir -p "$o" "$W/inc" && ln -sfn "$SRC/include" "$W/inc/optiga" || return 1
    for f in $LIBSRC; do
        # shellcheck disable=SC2086,SC2090
        gcc -std=gnu99 -O1 -g -w $INC -c "$SRC/$f" -o "$o/lib_$(basename "$f" .c).o" || return 1
    done
    # shellcheck disable=SC2086,SC2090
    # our PAL: the threaded event loop and the part shared with infineon_host (its variables named LT_*)
    for f in "$GLUE/pal_tools.c" "$HERE/common/pal_sim.c"; do
        # shellcheck disable=SC2086,SC2090
        gcc -std=gnu99 -O1 -g -Wall -Wextra -Werror $INC -DPAL_SIM_ENV=\"LT_\" -c "$f" -o "$o/lib_$(basename "$f" .c).o" ||
        return 1
    done
    for f in trustm_helper/trustm_helper.c trustm_helper/trustm_helper_ipc_lock.c trustm_helper/shared_mutex.c; do
        # shellcheck disable=SC2086,SC2090
        gcc -std=gnu99 -O1 -g -w $TINC $INC -c "$TOOLS/$f" -o "$o/lib_$(basename "$f" .c).o" || return 1
    done
    for t in $TOOLSET; do
        # shellcheck disable=SC2086,SC2090
        gcc -std=gnu99 -O1 -g -w $TINC $INC -c "$TOOLS/ex_cli_applications/$t.c" -o "$o/$t.o" &&
        gcc -o "$o/$t" "$o/$t.o" "$o"/lib_*.o -lssl -lcrypto -lmbedtls -lmbedx509 -lmbedcrypto -lpthread -lrt ||
        return 1
    done
}
check "build the library, trustm_helper and $(echo "$TOOLSET" | wc -w) tools" build
[ -x "$W/bin/trustm_ecc_sign" ] || { interop_done; exit 1; }

# ---- one simulated chip per scenario, its socket for our PAL
start_chip() { # start_chip NAME [trustm-sim options]
    interop_start_chip "$@"
    export TRUSTM_SHIM_SOCKET=$D/sim.sock LT_I2C_DEV=/dev/i2c-1
    unset LT_PBS
}
# their tool NAME ARGS... (output in $D/NAME.out); exit status as the tool's
their() { local t=$1; shift; LD_PRELOAD=$SHIM timeout 120 "$W/bin/$t" "$@" >"$D/$t.out" 2>&1; }
ours() { timeout 120 "$CLI" --device "sim:$D/sim.sock" "$@"; }
# the metadata bytes trustm_metadata -r prints (its hex dump) and ours (first line of 'metadata show')
their_meta_hex() { sed -n '/^\[Size/,/^$/p' "$D/trustm_metadata.out" | grep -E '^\s+([0-9A-F]{2} )+\s*$' | tr -d ' \t\n' | tr 'A-F' 'a-f'; }
our_meta_hex() { ours metadata show --oid "$1" | sed -n '1s/.*metadata: //p'; }
meta_same() { # meta_same OID: trustm_metadata -r and trustm metadata show give the same bytes
    their trustm_metadata -r "$1" || return 1
    local a b
    a=$(their_meta_hex) b=$(our_meta_hex "$1")
    echo "theirs: $a"; echo "ours:   $b"
    [ -n "$a" ] && [ "$a" = "$b" ]
}
has() { grep -q -- "$1" "$D/$2.out" || { echo "no '$1' in $2:"; cat "$D/$2.out"; return 1; }; }

# ================= 1. a fresh chip: their tools and ours agree
start_chip fresh
uid_same() {
    their trustm_chipinfo && has 'Read Chip Info \[0xE0C2\]: Success' trustm_chipinfo || return 1
    local a b
    a=$(grep -E '^[A-Z].*\[[A-Za-z]+\]: ' "$D/trustm_chipinfo.out" | sed 's/.*\]: //; s/0x//g; s/ //g' | tr -d '\n')
    b=$(ours info --json | sed -n 's/.*"uid":"\([0-9a-f]*\)".*/\1/p')
    echo "theirs: $a"; echo "ours:   $b"
    [ ${#a} -eq 54 ] && [ "$a" = "$b" ] && has "${1:-Trust M rev.3; Firmware Version: 3.00.2440}" trustm_chipinfo
}
check "trustm_chipinfo: the 27-byte UID (0xE0C2) equals 'trustm info', firmware named V3 3.00.2440" uid_same
rng_ok() {
    their trustm_rng -t 0 -l 64 -o "$D/r1.bin" && their trustm_rng -l 64 -o "$D/r2.bin" || return 1
    [ "$(stat -c %s "$D/r1.bin")" -eq 64 ] && [ "$(stat -c %s "$D/r2.bin")" -eq 64 ] && ! cmp -s "$D/r1.bin" "$D/r2.bin" &&
    [ "$(xxd -p "$D/r1.bin" | tr -d '\n0')" != "" ]
}
check "trustm_rng (shielded): 64 random bytes twice, different" rng_ok
e0e0_ok() {
    their trustm_cert -r 0xE0E0 -o "$D/e0e0_theirs.pem" && has 'Success!!!' trustm_cert || return 1
    ours cert read --oid 0xE0E0 --out "$D/e0e0_ours.pem" || return 1
    cmp "$D/e0e0_theirs.pem" "$D/e0e0_ours.pem" &&
    openssl verify -CAfile "$D/ca/root.pem" -untrusted "$D/ca/ca.pem" "$D/e0e0_theirs.pem"
}
check "trustm_cert -r 0xE0E0: the factory certificate, PEM equal to 'trustm cert read', verifies to the sim's CA" e0e0_ok
e0e0_raw() {
    their trustm_data -r 0xE0E0 -o "$D/e0e0_theirs.bin" || return 1
    ours data read --oid 0xE0E0 --out "$D/e0e0_ours.bin" && cmp "$D/e0e0_theirs.bin" "$D/e0e0_ours.bin" &&
    [ "$(xxd -p -l1 "$D/e0e0_theirs.bin")" = c0 ]
}
check "trustm_data -r 0xE0E0: the raw object (TLS-identity wrapper 0xC0) equals 'trustm data read'" e0e0_raw
for oid in 0xE0C0 0xE0C2 0xE0E0 0xE0E8 0xE0F0 0xE0F1 0xE0FC 0xE120 0xE140 0xE200 0xF1C0 0xF1D0 0xF1E0; do
    check "trustm_metadata -r $oid: the same metadata bytes as 'trustm metadata show'" meta_same $oid
done
meta_refused() { # a session context has no readable metadata: both get the chip's 0x07
    their trustm_metadata -r 0xE100 && has 'Error \[0x8007\]' trustm_metadata || return 1
    ! ours metadata show --oid 0xE100 2>"$D/ours.err" && grep -q 'access conditions not satisfied' "$D/ours.err"
}
check "metadata of session context 0xE100: both refused with 0x07 (their tool still exits 0)" meta_refused
cleared() { # trustm_cert -c leaves one 0x00 byte: our CLI counts the object free and finds no certificate in it
    their trustm_cert -c 0xE0E1 && has 'Cleared.' trustm_cert &&
    [ "$(ours data read --oid 0xE0E1)" = 00 ] &&
    ours info --json | python3 -c 'import json,sys; f=json.load(sys.stdin)["free_objects"]; assert "0xE0E1" in f, f' &&
    ! ours cert read --oid 0xE0E1 2>"$D/ours.err" && grep -q 'holds no certificate' "$D/ours.err"
}
check "trustm_cert -c 0xE0E1 (one 0x00 byte): 'trustm info' lists it free, 'trustm cert read' finds no certificate" cleared
hash_ok() {
    head -c 5000 /dev/urandom >"$D/h5000.bin"
    their trustm_hash -H -i "$D/h5000.bin" -o "$D/h.bin" && has 'filesize: 5000' trustm_hash &&
    openssl dgst -sha256 -binary "$D/h5000.bin" >"$D/h_ossl.bin" && cmp "$D/h.bin" "$D/h_ossl.bin"
}
check "trustm_hash -H (5000 bytes in 2048-byte updates, command-protected): the chip's SHA-256 equals openssl's" hash_ok
counter_both() {
    their trustm_monotonic_counter -w 0xE120 -i 5 && has 'Write Success' trustm_monotonic_counter || return 1
    ours counter read --oid 0xE120 | tee "$D/c.txt" && grep -Eq 'value 0 threshold 5$' "$D/c.txt" || return 1
    their trustm_monotonic_counter -u 0xE120 -s 3 && has 'Update Counter Success' trustm_monotonic_counter || return 1
    ours counter add --oid 0xE120 --step 1 && their trustm_monotonic_counter -r 0xE120 &&
        has 'Counter Value       : 0x00000004' trustm_monotonic_counter && has 'Threshold           : 0x00000005' trustm_monotonic_counter || return 1
    # reaching the threshold is allowed once: the value stops at the threshold (SRM), counting after it fails
    their trustm_monotonic_counter -u 0xE120 -s 3 && their trustm_monotonic_counter -r 0xE120 &&
        has 'Counter Value       : 0x00000005' trustm_monotonic_counter || return 1
    ! their trustm_monotonic_counter -u 0xE120 -s 1 && has 'Error \[0x800E\]' trustm_monotonic_counter || return 1
    ! ours counter add --oid 0xE120 --step 1 2>"$D/ours.err" && cat "$D/ours.err" && grep -q 'threshold' "$D/ours.err"
}
check "monotonic counter 0xE120: threshold 5 by theirs, +3 theirs, +1 ours, +3 theirs stops at 5, then 0x800E for theirs and ours" counter_both
stop_chip


# a CA of the operator's, for both personalizations
new_ca() {
    openssl ecparam -name prime256v1 -genkey -noout -out "$D/ca.key" 2>/dev/null &&
    openssl req -x509 -new -key "$D/ca.key" -subj "/CN=Linux Tools Interop CA" -days 10958 -out "$D/ca.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
printf 'message signed on the chip by the other side\n' >"$W/msg.txt"
# their ECDSA signature (SEQUENCE r,s as trustm_ecc_sign -o writes it) over SHA-256 of msg.txt verifies with the key of cert $1
their_sig_ok() { # their_sig_ok CERT.pem SLOT
    their trustm_ecc_sign -k "$2" -o "$D/their.sig" -i "$W/msg.txt" -H sha256 && has '^Success' trustm_ecc_sign || return 1
    openssl x509 -in "$1" -noout -pubkey >"$D/certpub.pem" &&
    openssl dgst -sha256 -verify "$D/certpub.pem" -signature "$D/their.sig" "$W/msg.txt"
}

# ================= 2. our personalization, read and used by their tools
start_chip ours
new_ca
check "trustm personalize --lock (key 0xE0F1, certificate 0xE0E1 signed by our CA)" \
    ours personalize --device-id linux-tools-1 --ca-cert "$D/ca.pem" --ca-key "$D/ca.key" --out "$D/dev.pem" --lock
cert_ours_theirs() {
    their trustm_cert -r 0xE0E1 -o "$D/e0e1_theirs.pem" && has 'Success!!!' trustm_cert || return 1
    cmp "$D/e0e1_theirs.pem" "$D/dev.pem" && openssl verify -CAfile "$D/ca.pem" "$D/e0e1_theirs.pem"
}
check "trustm_cert -r 0xE0E1: byte-equal to the PEM personalize wrote, verifies against the CA" cert_ours_theirs
check "trustm_ecc_sign -k 0xE0F1 (shielded): openssl verifies it with the certificate's key" their_sig_ok "$D/dev.pem" 0xE0F1
check "... and 'trustm verify --cert-oid 0xE0E1' (the chip's VerifySign) accepts it" \
    ours verify --in "$W/msg.txt" --sig "$D/their.sig" --cert-oid 0xE0E1
their_verify_host() {
    their trustm_ecc_verify -p "$D/certpub.pem" -i "$W/msg.txt" -s "$D/their.sig" -H sha256 && has 'Verify Success' trustm_ecc_verify
}
check "trustm_ecc_verify -p (the certificate's public key from the host): Verify Success" their_verify_host
their_verify_wrapped() { # VerifySign with an object holding the TLS-identity wrapper: 0x29 as on a real chip
    ! their trustm_ecc_verify -k 0xE0E1 -i "$W/msg.txt" -s "$D/their.sig" -H sha256 && has 'Error \[0x8029\]' trustm_ecc_verify
}
check "trustm_ecc_verify -k 0xE0E1 (TLS-identity wrapper): 0x8029 invalid certificate format, as a real chip" their_verify_wrapped
locked_ours() {
    local oid
    for oid in 0xE0E1 0xE0F1 0xE0E8; do
        meta_same $oid && has 'LcsO:0x07' trustm_metadata || return 1
    done
    their trustm_metadata -r 0xE0E1 && has 'Change:LcsO<0x07' trustm_metadata
}
check "trustm_metadata -r 0xE0E1/0xE0F1/0xE0E8: LcsO 0x07 and 'Change:LcsO<0x07' as we locked them, bytes equal ours" locked_ours
write_locked() {
    openssl req -x509 -new -key "$D/ca.key" -subj "/CN=intruder" -days 30 -out "$D/other.pem" 2>/dev/null || return 1
    their trustm_cert -w 0xE0E1 -i "$D/other.pem"
    has 'Error \[0x8007\]' trustm_cert && ours cert read --oid 0xE0E1 --out "$D/still.pem" && cmp "$D/still.pem" "$D/dev.pem"
}
check "trustm_cert -w 0xE0E1 on the locked object: refused 0x8007, our certificate still there" write_locked
chain_theirs() { # a TLS-identity chain (leaf + CA) written by 'trustm cert write --chain': their tool takes the leaf
    cat "$D/dev.pem" "$D/ca.pem" >"$D/chain.pem" && ours cert write --oid 0xE0E3 "$D/chain.pem" --chain &&
    their trustm_cert -r 0xE0E3 -o "$D/e0e3.pem" && has 'Success!!!' trustm_cert && cmp "$D/e0e3.pem" "$D/dev.pem"
}
check "trustm cert write --chain 0xE0E3 (leaf + CA in the wrapper): trustm_cert -r gives the leaf" chain_theirs
stop_chip

start_chip bound
new_ca
check "trustm personalize --bind --lock (0xE0F1 usable only shielded, new binding secret in 0xE140)" \
    ours personalize --device-id linux-tools-b --ca-cert "$D/ca.pem" --ca-key "$D/ca.key" --out "$D/dev.pem" \
    --bind --binding-out "$D/binding.key" --lock
bound_factory_pbs() { # their tools still hold the factory secret: the handshake fails
    ! their trustm_ecc_sign -k 0xE0F1 -o "$D/x.sig" -i "$W/msg.txt" -H sha256 && ! [ -s "$D/x.sig" ] &&
    grep -E 'Error \[0x(0107|8021|802D)\]|handshake' "$D/trustm_ecc_sign.out"
}
check "their tools with the factory binding secret: no signature (handshake refused)" bound_factory_pbs
bound_plain_tools() { # what needs no shielded connection still works for them without the new secret
    their trustm_chipinfo && has 'Read Chip Info \[0xE0C2\]: Success' trustm_chipinfo &&
    their trustm_cert -X -r 0xE0E1 -o "$D/e0e1_x.pem" && cmp "$D/e0e1_x.pem" "$D/dev.pem" &&
    ! their trustm_rng -l 16 -o "$D/r.bin" && ! [ -s "$D/r.bin" ]
}
check "bound chip, their tools without the new secret: chipinfo and trustm_cert -X work, shielded trustm_rng does not" bound_plain_tools
bound_plain() {
    LT_PBS=$(xxd -p -c 256 "$D/binding.key") their trustm_ecc_sign -k 0xE0F1 -X -o "$D/x.sig" -i "$W/msg.txt" -H sha256
    has 'Error \[0x8007\]' trustm_ecc_sign && ! grep -q '^Success' "$D/trustm_ecc_sign.out"
}
check "trustm_ecc_sign -X (plain) with 0xE0F1 bound: refused 0x8007" bound_plain
bound_sig() { LT_PBS=$(xxd -p -c 256 "$D/binding.key") their_sig_ok "$D/dev.pem" 0xE0F1; }
check "trustm_ecc_sign with our binding secret (LT_PBS): openssl verifies it with the certificate's key" bound_sig
bound_meta() {
    export LT_PBS; LT_PBS=$(xxd -p -c 256 "$D/binding.key")
    meta_same 0xE0F1 && has 'Execute:Conf-0xE140' trustm_metadata && has 'LcsO:0x07' trustm_metadata &&
    meta_same 0xE140 && has 'Data Type:PTFBIND' trustm_metadata
    local rc=$?; unset LT_PBS; return $rc
}
check "trustm_metadata: 0xE0F1 'Execute:Conf-0xE140', 0xE140 PTFBIND, bytes equal ours" bound_meta
no_reset_line() { # a board without reset lines: the two stacks take the chip from each other as it was left
    local i
    openssl x509 -in "$D/dev.pem" -noout -pubkey >"$D/devpub.pem" || return 1
    for i in 1 2 3; do
        if ! { LT_NO_GPIO=1 LT_PBS=$(xxd -p -c 256 "$D/binding.key") their trustm_ecc_sign -k 0xE0F1 -o "$D/t$i.sig" \
                   -i "$W/msg.txt" -H sha256 &&
               openssl dgst -sha256 -verify "$D/devpub.pem" -signature "$D/t$i.sig" "$W/msg.txt"; }; then
            echo "theirs, round $i"; return 1
        fi
        if ! { ours --binding "$D/binding.key" sign --slot 0xE0F1 --in "$W/msg.txt" --out "$D/o$i.sig" &&
               openssl dgst -sha256 -verify "$D/devpub.pem" -signature "$D/o$i.sig" "$W/msg.txt"; }; then
            echo "ours, round $i"; return 1
        fi
    done
    grep -c 'DL ctrl RESYNC' "$D/trace.txt"
}
check "no reset line (LT_NO_GPIO): their tool and our CLI sign in turn, 3 rounds, each over its own shielded session" no_reset_line
stop_chip

# ================= 3. their personalization, used by our CLI
start_chip theirs
new_ca
their_keygen() {
    their trustm_ecc_keygen -g 0xE0F2 -t 0x11 -k 0x03 -o "$D/pub.pem" -s && has 'Write Success to OID: 0xF1D2' trustm_ecc_keygen &&
    openssl pkey -pubin -in "$D/pub.pem" -noout && openssl pkey -pubin -in "$D/pub.pem" -outform der -out "$D/pub.der" &&
    ours data read --oid 0xF1D2 --out "$D/f1d2.bin" && cmp "$D/f1d2.bin" "$D/pub.der"
}
check "trustm_ecc_keygen -g 0xE0F2 -t 0x11 -s: a P-256 key (Auth/Sign), public key in 0xF1D2 as 'trustm data read' sees it" their_keygen
their_keymeta() { meta_same 0xE0F2 && has 'Algorithm:ECC256' trustm_metadata && has 'Key Type:Auth/Sign' trustm_metadata; }
check "metadata of 0xE0F2 after their keygen: ECC256, Auth/Sign, bytes equal ours" their_keymeta
our_csr() {
    ours csr --slot 0xE0F2 --subject 'CN=linux-tools-2' --pubkey "$D/pub.pem" --out "$D/dev2.csr" &&
    openssl req -in "$D/dev2.csr" -verify -noout &&
    openssl x509 -req -in "$D/dev2.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" -CAcreateserial -days 3650 \
        -extfile <(printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n') \
        -out "$D/dev2.pem" 2>/dev/null
}
check "trustm csr --slot 0xE0F2 (our CLI signs with their key): the request verifies, the CA issues it" our_csr
their_certw() {
    their trustm_cert -w 0xE0E2 -i "$D/dev2.pem" && has 'Success!!!' trustm_cert &&
    ours cert read --oid 0xE0E2 --out "$D/e0e2_ours.pem" && cmp "$D/e0e2_ours.pem" "$D/dev2.pem"
}
check "trustm_cert -w 0xE0E2 (plain DER): 'trustm cert read' gives the same certificate" their_certw
our_sign() {
    ours sign --slot 0xE0F2 --in "$W/msg.txt" --out "$D/our.sig" &&
    openssl x509 -in "$D/dev2.pem" -noout -pubkey >"$D/dev2pub.pem" &&
    openssl dgst -sha256 -verify "$D/dev2pub.pem" -signature "$D/our.sig" "$W/msg.txt" &&
    ours verify --in "$W/msg.txt" --sig "$D/our.sig" --cert-oid 0xE0E2
}
check "trustm sign --slot 0xE0F2: openssl and the chip (verify --cert-oid 0xE0E2) accept it" our_sign
check "trustm_ecc_sign -k 0xE0F2 verifies with the certificate their tool wrote" their_sig_ok "$D/dev2.pem" 0xE0F2
their_verify_oid() { their trustm_ecc_verify -k 0xE0E2 -i "$W/msg.txt" -s "$D/our.sig" -H sha256 && has 'Verify Success' trustm_ecc_verify; }
check "trustm_ecc_verify -k 0xE0E2 (plain DER certificate) accepts the signature 'trustm sign' made" their_verify_oid
curves() { # their keygen on every curve of a V3 chip, their signature (P-521: the long DER form) and ours verified by openssl
    local k h
    for k in 0x04 0x05 0x13 0x15 0x16; do
        their trustm_ecc_keygen -g 0xE0F3 -t 0x10 -k $k -o "$D/p$k.pem" && ! grep -q 'Error' "$D/trustm_ecc_keygen.out" || return 1
        for h in sha256 sha384; do
            # the chip takes a digest up to the key size (SRM): SHA-384 is refused (0x8005) for the 256-bit curves
            if [ $k = 0x13 ] && [ $h = sha384 ]; then
                ! their trustm_ecc_sign -k 0xE0F3 -o "$D/c.sig" -i "$W/msg.txt" -H $h && has 'Error \[0x8005\]' trustm_ecc_sign || return 1
                continue
            fi
            rm -f "$D/c.sig"
            if ! { their trustm_ecc_sign -k 0xE0F3 -o "$D/c.sig" -i "$W/msg.txt" -H $h &&
                   openssl dgst -$h -verify "$D/p$k.pem" -signature "$D/c.sig" "$W/msg.txt"; }; then
                echo "curve $k $h"; return 1
            fi
        done
        if ! { ours sign --slot 0xE0F3 --in "$W/msg.txt" --out "$D/o.sig" &&
               openssl dgst -sha256 -verify "$D/p$k.pem" -signature "$D/o.sig" "$W/msg.txt"; }; then
            echo "ours, curve $k"; return 1
        fi
    done
}
check "trustm_ecc_keygen P-384/P-521/brainpool 256/384/512 in 0xE0F3: their signatures (SHA-256/384) and 'trustm sign' verify with openssl" curves
tls_theirs() { # mutual TLS with their key and certificate through our TLS binding
    local port=$((20000 + RANDOM % 20000))
    openssl ecparam -name prime256v1 -genkey -noout -out "$D/srv.key" 2>/dev/null &&
    openssl req -new -key "$D/srv.key" -subj "/CN=localhost" -out "$D/srv.csr" 2>/dev/null &&
    openssl x509 -req -in "$D/srv.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" -CAcreateserial -days 30 \
        -extfile <(printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n') -out "$D/srv.pem" 2>/dev/null ||
        return 1
    timeout 60 openssl s_server -accept "127.0.0.1:$port" -cert "$D/srv.pem" -key "$D/srv.key" -CAfile "$D/ca.pem" \
        -Verify 1 -verify_return_error -naccept 1 -rev >"$D/s_server.log" 2>&1 &
    local sp=$!
    for _ in $(seq 50); do grep -q ACCEPT "$D/s_server.log" && break; sleep 0.1; done
    ours connect --host localhost --address 127.0.0.1 --port "$port" --ca "$D/ca.pem" --cert-oid 0xE0E2 --key-oid 0xE0F2 \
        --send $'hello\n' --expect olleh
    local rc=$?
    wait "$sp"
    cat "$D/s_server.log"
    [ $rc -eq 0 ] && grep -q 'CN *= *linux-tools-2' "$D/s_server.log"
}
check "trustm connect with their key 0xE0F2 and certificate 0xE0E2: openssl s_server accepts the client" tls_theirs
stop_chip

# ================= 4. metadata and data written by one side, read and enforced by the other
start_chip meta
their_meta_w() {
    their trustm_metadata -w 0xF1D0 -C o -R a && has 'Write Success' trustm_metadata &&
    ours metadata show --oid 0xF1D0 | tee "$D/f1d0.txt" && grep -q "change: *LcsO < op" "$D/f1d0.txt" && meta_same 0xF1D0
}
check "trustm_metadata -w 0xF1D0 -C o -R a: ours shows change 'LcsO < op', read ALW" their_meta_w
their_data_w() {
    head -c 100 /dev/urandom >"$D/d100.bin"
    their trustm_data -w 0xF1D0 -e -i "$D/d100.bin" && has 'Write Success' trustm_data &&
    ours data read --oid 0xF1D0 --out "$D/f1d0.bin" && cmp "$D/f1d0.bin" "$D/d100.bin"
}
check "trustm_data -w 0xF1D0 -e (100 bytes, shielded): 'trustm data read' gives them back" their_data_w
their_lock() {
    their trustm_metadata -w 0xF1D0 -O && has 'Write Success' trustm_metadata &&
    ours metadata show --oid 0xF1D0 | grep -E 'life cycle.*op' &&
    ! ours data write --oid 0xF1D0 --hex 0102 2>"$D/ours.err" && cat "$D/ours.err" && grep -q 'access conditions not satisfied' "$D/ours.err"
}
check "trustm_metadata -w 0xF1D0 -O (LcsO op): our CLI sees 'op' and its write is refused (0x07)" their_lock
our_meta_w() {
    ours metadata set --oid 0xF1D1 --read NEV && meta_same 0xF1D1 && has 'Read:NEV' trustm_metadata &&
    ! their trustm_data -r 0xF1D1 && has 'Error \[0x8007\]' trustm_data
}
check "trustm metadata set --oid 0xF1D1 --read NEV: their tool decodes 'Read:NEV' and its read is refused (0x8007)" our_meta_w
our_lock() {
    ours metadata set --oid 0xF1D2 --change 'LcsO < op' && ours lock --oid 0xF1D2 --yes && meta_same 0xF1D2 &&
    has 'LcsO:0x07' trustm_metadata && has 'Change:LcsO<0x07' trustm_metadata &&
    ! their trustm_data -w 0xF1D2 -I 0x55 && has 'Error \[0x8007\]' trustm_data
}
check "trustm lock --oid 0xF1D2: their tool sees LcsO 0x07 and its write is refused (0x8007)" our_lock
our_data_w() {
    head -c 1500 /dev/urandom >"$D/d1500.bin"
    ours data write --oid 0xF1E0 --in "$D/d1500.bin" --erase && their trustm_data -r 0xF1E0 -o "$D/f1e0.bin" &&
    cmp "$D/f1e0.bin" "$D/d1500.bin"
}
check "trustm data write 0xF1E0 (1500 bytes): trustm_data -r reads the same bytes (chained, shielded)" our_data_w
offset_w() {
    their trustm_data -w 0xF1D5 -p 10 -I 0xA5 && ours data read --oid 0xF1D5 --out "$D/f1d5.bin" &&
    [ "$(stat -c %s "$D/f1d5.bin")" -eq 11 ] && [ "$(xxd -p -s 10 "$D/f1d5.bin")" = a5 ] && [ "$(xxd -p -l 10 "$D/f1d5.bin")" = 00000000000000000000 ]
}
check "trustm_data -w 0xF1D5 -p 10 -I 0xA5: our CLI reads 11 bytes, zero-filled, A5 at offset 10" offset_w
stop_chip

# ================= 1b. a Trust M V1 chip
start_chip v1 --chip-version 1
check "V1 chip: trustm_chipinfo names 'Trust M rev.1; 1.30.809', UID equals 'trustm info'" \
    uid_same 'Trust M rev.1; Firmware Version: 1.30.809'
check "V1 chip (shielded): trustm_rng" rng_ok
check "V1 chip: trustm_cert -r 0xE0E0 = 'trustm cert read', verifies to the sim's CA" e0e0_ok
for oid in 0xE0F0 0xE0F1 0xF1D0; do
    check "V1 chip: trustm_metadata -r $oid = 'trustm metadata show'" meta_same $oid
done
stop_chip

# ================= 5. two processes at once on one chip (through /dev/i2c-1 and the shim)
start_chip concurrent
# our CLI on the i2c-dev port under the shim; a sanitizer build wants its runtime first, the shim is preloaded
ours_i2c() { ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 LD_PRELOAD=$SHIM timeout 120 "$CLI" --device /dev/i2c-1 "$@"; }
twice() { # twice A B: run 'A i' and 'B i' for i = 1..10 in two processes at once, print and count the failures
    local i n p1 p2
    { for i in $(seq 10); do "$1" "$i" || echo "FAILED $1 $i"; done; } >"$D/c1.log" 2>&1 &
    p1=$!
    { for i in $(seq 10); do "$2" "$i" || echo "FAILED $2 $i"; done; } >"$D/c2.log" 2>&1 &
    p2=$!
    wait "$p1" "$p2" # not a bare wait: the simulator runs in the background too
    n=$(cat "$D/c1.log" "$D/c2.log" | grep -c '^FAILED')
    echo "$n of 20 failed"
    return "$n"
}
rng_a() { LD_PRELOAD=$SHIM timeout 120 "$W/bin/trustm_rng" -l 16 -o "$D/a$1.bin" >"$D/a$1.out" 2>&1; }
rng_b() { LD_PRELOAD=$SHIM timeout 120 "$W/bin/trustm_rng" -l 16 -o "$D/b$1.bin" >"$D/b$1.out" 2>&1; }
our_a() { ours_i2c random --length 16 >"$D/oa$1.out" 2>&1; }
our_b() { ours_i2c random --length 16 >"$D/ob$1.out" 2>&1; }
check "two of their tools at once (2 x 10 trustm_rng): all succeed, serialised by their /trustm-mutex" twice rng_a rng_b
check "two of our CLI at once on /dev/i2c-1 (2 x 10 trustm random): all succeed, serialised by our flock" twice our_a our_b
# their tool and our CLI at once take different locks (Q3 of the record): failures are expected and
# not deterministic, so this prints what happened and is no check
twice rng_a our_a >"$D/mixed.log" 2>&1
echo "note: their trustm_rng and our trustm random at once (2 x 10): $(tail -1 "$D/mixed.log") (different locks, Q3)"
stop_chip

interop_done
