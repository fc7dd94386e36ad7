#!/usr/bin/env bash
# Interop check: Infineon's own OPTIGA Trust M host library (its comms stack:
# optiga_comms + ifx_i2c physical/data-link/transport/presentation layers,
# its Linux i2c-dev pal_i2c.c and its mbedTLS pal_crypt; and on top of it its
# command, util and crypt layers, optiga_cmd.c / optiga_util.c / optiga_crypt.c) driving trustm-sim
# through tests/integration/i2cdev_shim.c, with our PAL glue and APDU driver
# (tests/interop/infineon_host/, our code only). With the checkout's example protected-update data
# sets (examples/optiga/protected_update_data_set/) also SetObjectProtected through the library's
# optiga_util_protected_update_* and through libtrustm's trustm_protected_update().
#
# NOT RUN IN CI and not registered with ctest: the repository holds no
# Infineon code. Run it by hand with your own checkout:
#
#   git clone https://github.com/Infineon/optiga-trust-m /tmp/optiga-trust-m
#   git -C /tmp/optiga-trust-m checkout 358c88b1bf0d1c5228f8850a3c04611de5411b0c   # v5.0.x
#   cmake -S . -B build/interop && cmake --build build/interop -j2 \
#         --target trustm-sim trustm_i2cdev_shim trustm-cli
#   OPTIGA_SRC=/tmp/optiga-trust-m TMA_BUILD_DIR=build/interop tests/interop/infineon_host.sh
#
# Needs gcc, libmbedtls-dev (2.28), openssl, xxd. What it runs and what was
# found: docs/decisions/sim-vendor-interop.md. Prints one line per check and
# "N passed, M failed"; exit 1 if anything failed. INTEROP_KEEP=1 keeps the
# work folder (bus traces of every scenario, outputs).
set -uo pipefail
SRC=${OPTIGA_SRC:?set OPTIGA_SRC to a checkout of Infineon/optiga-trust-m (v5.0.x)}
B=${TMA_BUILD_DIR:?set TMA_BUILD_DIR to a build with trustm-sim, trustm_i2cdev_shim and trustm-cli}
HERE=$(cd "$(dirname "$0")" && pwd)
GLUE=$HERE/infineon_host
# shellcheck source=SCRIPTDIR/interop_lib.sh
. "$HERE/interop_lib.sh"
SIMD=$(interop_bin trustm-sim) SHIM=$(interop_bin libtrustm_i2cdev_shim.so) CLI=$(interop_bin trustm)
[ -n "$SIMD" ] && [ -n "$SHIM" ] && [ -n "$CLI" ] || { echo "missing trustm-sim, the shim or trustm in $B"; exit 2; }
interop_need "$SRC" "an optiga-trust-m v5 checkout" src/comms/optiga_comms_ifx_i2c.c \
    src/comms/ifx_i2c/ifx_i2c_presentation_layer.c extras/pal/linux/pal_i2c.c extras/pal/pal_crypt_mbedtls.c \
    include/ifx_i2c/ifx_i2c_config.h

# ---- build: the library's code unmodified and without warnings, ours with warnings as errors
COMMS="src/comms/optiga_comms_ifx_i2c.c src/comms/ifx_i2c/ifx_i2c.c src/comms/ifx_i2c/ifx_i2c_config.c
       src/comms/ifx_i2c/ifx_i2c_data_link_layer.c src/comms/ifx_i2c/ifx_i2c_physical_layer.c
       src/comms/ifx_i2c/ifx_i2c_presentation_layer.c src/comms/ifx_i2c/ifx_i2c_transport_layer.c
       extras/pal/linux/pal_i2c.c extras/pal/pal_crypt_mbedtls.c"
DEF="-DOPTIGA_LIB_EXTERNAL=\"interop_config.h\""
vendor_objs() { # vendor_objs OUTDIR CFLAGS FILE... (under $SRC)
    local o=$1 flags=$2 f
    shift 2
    for f in "$@"; do
        gcc -std=gnu99 -O1 -g -w $flags -c "$SRC/$f" -o "$o/v_$(basename "$f" .c).o" || return 1
    done
}
our_obj() { # our_obj OUTDIR CFLAGS FILE (under $GLUE)
    gcc -std=gnu99 -O1 -g -Wall -Wextra -Werror $2 -c "$GLUE/$3" -o "$1/$(basename "$3" .c).o"
}
our_pal() { # our_pal OUTDIR CFLAGS: our PAL, this harness's event loop and the part shared with linux_tools
    our_obj "$1" "$2" pal_glue.c && our_obj "$1" "$2" ../common/pal_sim.c
}
link() { # link OUTDIR PROGRAM
    gcc -o "$1/$2" "$1"/*.o -lmbedtls -lmbedx509 -lmbedcrypto
}

# the comms stack, our glue first on the include path
build() { # build OUTDIR EXTRA-CFLAGS...
    local o=$1; shift
    mkdir -p "$o"
    local flags="-I$GLUE -I$SRC/include -I$SRC/include/common -I$SRC/include/comms -I$SRC/include/ifx_i2c
                 -I$SRC/include/pal -I$SRC/extras/pal/linux $DEF $*"
    # shellcheck disable=SC2086
    vendor_objs "$o" "$flags" $COMMS && our_pal "$o" "$flags" && our_obj "$o" "$flags" infineon_host.c &&
    link "$o" infineon_host
}

# ---- one simulated chip per scenario, its socket and files for our PAL and drivers
start_chip() { # start_chip NAME [trustm-sim options]
    interop_start_chip "$@"
    export TRUSTM_SHIM_SOCKET=$D/sim.sock INTEROP_I2C_DEV=/dev/i2c-1 INTEROP_OUT=$D \
        INTEROP_HANDLE_FILE=$D/handle INTEROP_CTX_FILE=$D/ctx INTEROP_APPCTX_FILE=$D/appctx
}
host() { LD_PRELOAD=$SHIM timeout 300 "$@"; }

# the certificate in 0xE0E0 (TLS identity C0 wrapper, 9 header bytes) chains to the exported CA
cert_ok() {
    [ "$(xxd -p -l1 "$D/e0e0.bin")" = c0 ] &&
    tail -c +10 "$D/e0e0.bin" | openssl x509 -inform der -out "$D/dev.pem" &&
    openssl verify -CAfile "$D/ca/root.pem" -untrusted "$D/ca/ca.pem" "$D/dev.pem"
}
# ECDSA r||s (two DER INTEGERs) over digest.bin verifies with the public key in PEM $1
sig_ok() { # sig_ok PUBPEM SIGFILE
    local n
    n=$(stat -c %s "$2")
    { printf '\x30'; printf "\\x$(printf %02x "$n")"; cat "$2"; } >"$D/sig.der"
    openssl pkeyutl -verify -pubin -inkey "$1" -in "$D/digest.bin" -sigfile "$D/sig.der"
}
# the GenKeyPair BIT STRING (03 42 00 04 X Y) as a PEM public key
pub_pem() {
    { printf '\x30\x59\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07'
      cat "$D/pub.bin"; } | openssl pkey -pubin -inform der -out "$D/pub.pem"
}

check "build (shielded connection, cold reset)" build "$W/b-default"
check "build (no presentation layer)" build "$W/b-noshield" -DINTEROP_NO_SHIELD
check "build (soft reset)" build "$W/b-soft" -DINTEROP_RESET_TYPE=1U
check "build (warm reset)" build "$W/b-warm" -DINTEROP_RESET_TYPE=2U
check "build (64-byte frames)" build "$W/b-f64" -DIFX_I2C_FRAME_SIZE=64U

# the library's command and util layers too (src/cmd/optiga_cmd.c, src/util/optiga_util.c):
# the library's headers first on the include path, our stand-ins only for what it leaves to
# the platform; our PAL is built as above
build_util() { # build_util OUTDIR
    local o=$1
    mkdir -p "$o"
    local real="-I$SRC/include -I$SRC/include/common -I$SRC/include/comms -I$SRC/include/ifx_i2c
                -I$SRC/include/cmd -I$SRC/include/pal -I$SRC/extras/pal/linux -I$GLUE $DEF"
    local glue="-I$GLUE -I$SRC/include -I$SRC/include/common -I$SRC/include/comms -I$SRC/include/ifx_i2c
                -I$SRC/include/pal -I$SRC/extras/pal/linux $DEF"
    # shellcheck disable=SC2086
    vendor_objs "$o" "$real" $COMMS src/cmd/optiga_cmd.c src/util/optiga_util.c &&
    our_pal "$o" "$glue" && our_obj "$o" "$real" util_host.c && link "$o" util_host
}
check "build (command and util layers)" build_util "$W/b-util"

# the library's crypt layer too (src/crypt/optiga_crypt.c with the command layer's crypto handlers,
# OPTIGA_CRYPT_* switched on): random, ECDSA, GenKeyPair, ECDH, RSA sign/verify/encrypt/decrypt, TLS PRF, HKDF and hash go
# through optiga_crypt_* (tests/interop/infineon_host/crypt_host.c)
CRYPT_DEF="-DOPTIGA_CRYPT_RANDOM_ENABLED -DOPTIGA_CRYPT_ECDSA_SIGN_ENABLED -DOPTIGA_CRYPT_ECDSA_VERIFY_ENABLED
           -DOPTIGA_CRYPT_ECC_GENERATE_KEYPAIR_ENABLED -DOPTIGA_CRYPT_ECDH_ENABLED -DOPTIGA_CRYPT_RSA_GENERATE_KEYPAIR_ENABLED
           -DOPTIGA_CRYPT_RSA_SIGN_ENABLED -DOPTIGA_CRYPT_RSA_VERIFY_ENABLED -DOPTIGA_CRYPT_TLS_PRF_SHA256_ENABLED
           -DOPTIGA_CRYPT_HASH_ENABLED -DOPTIGA_CRYPT_HKDF_ENABLED -DOPTIGA_CRYPT_RSA_ENCRYPT_ENABLED -DOPTIGA_CRYPT_RSA_DECRYPT_ENABLED
           -DOPTIGA_CRYPT_RSA_PRE_MASTER_SECRET_ENABLED -DOPTIGA_CRYPT_SYM_ENCRYPT_ENABLED -DOPTIGA_CRYPT_SYM_DECRYPT_ENABLED
           -DOPTIGA_CRYPT_HMAC_ENABLED -DOPTIGA_CRYPT_HMAC_VERIFY_ENABLED -DOPTIGA_CRYPT_CLEAR_AUTO_STATE_ENABLED
           -DOPTIGA_CRYPT_SYM_GENERATE_KEY_ENABLED -DOPTIGA_CRYPT_GENERATE_AUTH_CODE_ENABLED"
build_crypt() { # build_crypt OUTDIR EXTRA-CFLAGS...
    local o=$1; shift
    mkdir -p "$o"
    local real="-I$SRC/include -I$SRC/include/common -I$SRC/include/comms -I$SRC/include/ifx_i2c
                -I$SRC/include/cmd -I$SRC/include/pal -I$SRC/extras/pal/linux -I$GLUE $DEF $CRYPT_DEF $*"
    local glue="-I$GLUE -I$SRC/include -I$SRC/include/common -I$SRC/include/comms -I$SRC/include/ifx_i2c
                -I$SRC/include/pal -I$SRC/extras/pal/linux $DEF $*"
    # shellcheck disable=SC2086
    vendor_objs "$o" "$real" $COMMS src/cmd/optiga_cmd.c src/util/optiga_util.c src/crypt/optiga_crypt.c &&
    our_pal "$o" "$glue" && our_obj "$o" "$real" crypt_host.c && link "$o" crypt_host
}
check "build (crypt layer)" build_crypt "$W/b-crypt"
check "build (crypt layer, no presentation layer)" build_crypt "$W/b-crypt-noshield" -DINTEROP_NO_SHIELD

# protected update with Infineon's example data sets (examples/optiga/protected_update_data_set/*.h,
# signed with its sample key) and the example's trust anchor, metadata and shared secret, cut out of
# examples/optiga/example_optiga_util_protected_update.c: through the library's util layer
# (optiga_util_protected_update_*, protupd_host.c) and through libtrustm (protupd_ours.c)
PU_EX=examples/optiga/example_optiga_util_protected_update.c
PU_INC="-I$SRC/examples/optiga/protected_update_data_set"
pu_data() { # pu_data OUTDIR: the example's data part (trust_anchor ... shared_secret) as a header
    awk '/^const uint8_t trust_anchor\[\]/{p=1} /^const optiga_protected_update_data_configuration_t/{p=0} p' \
        "$SRC/$PU_EX" >"$1/pu_example_data.h" && grep -q 'shared_secret\[\]' "$1/pu_example_data.h"
}
build_protupd() { # build_protupd OUTDIR CRYPT-BUILD: the crypt build's objects, our driver
    local o=$1 from=$2
    mkdir -p "$o"
    pu_data "$o" || return 1
    cp "$from"/v_*.o "$from"/pal_glue.o "$from"/pal_sim.o "$o"/ || return 1
    our_obj "$o" "-I$SRC/include -I$SRC/include/common -I$SRC/include/comms -I$SRC/include/ifx_i2c
                  -I$SRC/include/cmd -I$SRC/include/pal -I$SRC/extras/pal/linux -I$GLUE $DEF $CRYPT_DEF
                  $PU_INC -I$o" protupd_host.c && link "$o" protupd_host
}
build_protupd_ours() { # build_protupd_ours OUTDIR: libtrustm from $B
    local o=$1 root san=
    root=$(cd "$HERE/../.." && pwd)
    mkdir -p "$o"
    # a sanitizer build of the project (TMA_SANITIZE, the default) needs its runtime at the link
    nm "$B/libtma_common.a" 2>/dev/null | grep -q __asan_init && san=-fsanitize=address,undefined
    pu_data "$o" &&
    gcc -std=gnu99 -O1 -g -Wall -Wextra -Werror -I"$root/include" -I"$GLUE" $PU_INC -I"$o" \
        -c "$GLUE/protupd_ours.c" -o "$o/protupd_ours.o" &&
    gcc $san -o "$o/protupd_ours" "$o/protupd_ours.o" "$B/port/libtma_port.a" "$B/src/trustm/libtrustm.a" \
        "$B/src/trustm_host/libtrustm_host.a" "$B/sim/libtrustm_sim.a" "$B/libtma_common.a" \
        -lmbedtls -lmbedx509 -lmbedcrypto -lpthread
}
if [ -f "$SRC/$PU_EX" ] && [ -f "$SRC/examples/optiga/protected_update_data_set/data_object.h" ]; then
    check "build (protected update over the util layer, Infineon's data sets)" build_protupd "$W/b-pu" "$W/b-crypt"
    check "build (protected update over libtrustm, Infineon's data sets)" build_protupd_ours "$W/b-pu-ours"
fi

start_chip all
check "all commands, shielded connection" host "$W/b-default/infineon_host" all
check "E0E0 read by the library verifies against the simulator's CA" cert_ok
check "CalcSign signature verifies with openssl" bash -c "$(declare -f pub_pem sig_ok); D=$D; pub_pem && sig_ok \$D/pub.pem \$D/sig.bin"
stop_chip

start_chip hib
check "hibernate: SEC wait, CloseApplication(1), context save (0x60)" host "$W/b-default/infineon_host" hibernate
check "restore in a new process: cold reset, context restore (0x68), OpenApplication(1)" \
    host "$W/b-default/infineon_host" restore
check "restore used no new handshake" bash -c "[ \$(grep -c 'PRL SCTR 00 ' '$D/trace.txt') -eq 2 ] && grep -q 'SCTR 6C' '$D/trace.txt'"
stop_chip

for v in noshield soft warm f64; do
    start_chip "$v"
    check "all commands, build $v" host "$W/b-$v/infineon_host" all
    stop_chip
done
check "64-byte frames: DATA_REG_LEN 0x0040 negotiated" grep -q '\] 81 00 40$' "$W/f64/trace.txt"
check "soft reset: I2C_STATE read, SOFT_RESET 88 00 00 written" grep -q '\] 88 00 00$' "$W/soft/trace.txt"

start_chip util
check "util layer: open, read/write data and metadata (E0E1 1728 B, E0E2 1553 B), count, errors 0x8007/0x8001, protected reads" \
    host "$W/b-util/util_host" all
stop_chip

start_chip utilhib
check "util layer: hibernate (SEC wait, close_application(1): handle to datastore 0x33, context save)" \
    host "$W/b-util/util_host" hibernate
check "util layer: restore in a new process (open_application(1)), protected read without a new handshake" \
    host "$W/b-util/util_host" restore
check "util-layer restore used no new handshake" bash -c "[ \$(grep -c 'PRL SCTR 00 ' '$D/trace.txt') -eq 2 ] && grep -q 'OpenApplication param 01' '$D/trace.txt'"
stop_chip

start_chip crypt
check "crypt layer: random, ECDSA sign/verify (plain and fully protected), GenKeyPair P-256/P-384, ECDH, RSA-1024 keygen/sign/verify/encrypt/decrypt, RSA key exchange (pre-master secret, encrypt session, decrypt and store), TLS PRF, HKDF, hash, HMAC, HMAC verify with an AUTOREF secret, clear Auto state, GenSymKey, AES ECB/CBC (checked by mbedTLS)" \
    host "$W/b-crypt/crypt_host"
stop_chip
start_chip cryptplain
check "crypt layer without the presentation layer" host "$W/b-crypt-noshield/crypt_host"
stop_chip

if [ -x "$W/b-pu/protupd_host" ]; then
    start_chip protupd
    check "protected update (util layer): Infineon's integrity, confidentiality, AES/ECC/RSA key and metadata data sets applied and checked (the imported keys used: AES ECB/CBC/CBC-MAC/CMAC, ECDSA, RSA); flipped manifest/fragment bytes refused 0x802C/0x802D" \
        host "$W/b-pu/protupd_host"
    check "the full-protection update: its start, continue and final went as protected records both ways" \
        bash -c "[ \$(grep -c 'SCTR 23' '$D/trace.txt') -ge 6 ]"
    stop_chip
fi
if [ -x "$W/b-pu-ours/protupd_ours" ]; then
    start_chip protupd_ours
    check "protected update (libtrustm trustm_protected_update): the same data sets applied and checked; flipped bytes refused 0x2C/0x2D" \
        "$W/b-pu-ours/protupd_ours" "sim:$D/sim.sock"
    check "libtrustm's shielded update: manifest and fragments went as protected records both ways" \
        bash -c "[ \$(grep -c 'SCTR 23' '$D/trace.txt') -ge 6 ]"
    stop_chip
fi

start_chip throttle
check "150 CalcSign until the Security Monitor throttles, every frame acknowledged in time" \
    host "$W/b-default/infineon_host" throttle
check "no retransmission or RESYNC while throttled" bash -c \
    "! grep -q 'DL ctrl RESYNC' '$D/trace.txt' && [ \$(grep -c 'DL data' '$D/trace.txt') -gt 300 ] &&
     [ \$(grep 'W 30 \[ACK\] 80 ' '$D/trace.txt' | grep 'DL data' | awk '{print \$5,\$6,\$7,\$8,\$9,\$10}' | uniq -d | wc -l) -eq 0 ]"
stop_chip

start_chip v1 --chip-version 1
check "all commands on a V1 chip (AES, HMAC, HKDF refused as on V1)" env INTEROP_CHIP_V1=1 LD_PRELOAD="$SHIM" \
    "$W/b-default/infineon_host" all
stop_chip

start_chip nogpio
check "restart without a reset line (INTEROP_NO_GPIO), 1st process" env INTEROP_NO_GPIO=1 LD_PRELOAD="$SHIM" "$W/b-default/infineon_host" open
check "restart without a reset line, 2nd process recovers (RESYNC)" env INTEROP_NO_GPIO=1 LD_PRELOAD="$SHIM" "$W/b-default/infineon_host" open
check "2nd process needed a RESYNC" grep -q 'DL ctrl RESYNC' "$D/trace.txt"
stop_chip

# a chip personalized by our own tool with --bind: the library signs over the shielded connection
start_chip bound
openssl ecparam -name prime256v1 -genkey -noout -out "$D/ca.key" 2>/dev/null
openssl req -x509 -new -key "$D/ca.key" -subj "/CN=Interop CA" -days 3650 -out "$D/ca.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
check "trustm personalize --bind (libtrustm)" "$CLI" --device "sim:$D/sim.sock" personalize --device-id interop-1 \
    --ca-cert "$D/ca.pem" --ca-key "$D/ca.key" --bind --binding-out "$D/binding.key"
check "trustm cert read 0xE0E1 (libtrustm)" "$CLI" --device "sim:$D/sim.sock" --binding "$D/binding.key" \
    cert read --oid 0xE0E1 --out "$D/dev.pem"
check "library: E0F1 plain refused (0x07), signs over the shielded connection with the bound secret" \
    env INTEROP_PBS="$(xxd -p -c 256 "$D/binding.key")" LD_PRELOAD="$SHIM" "$W/b-default/infineon_host" bound
check "its signature verifies with the certificate libtrustm wrote" bash -c "$(declare -f sig_ok); D=$D;
    openssl x509 -in \$D/dev.pem -noout -pubkey > \$D/devpub.pem && sig_ok \$D/devpub.pem \$D/sig_bound.bin"
check "library with the factory secret: handshake error 0x0107, key unusable" bash -c \
    "env LD_PRELOAD='$SHIM' '$W/b-default/infineon_host' bound > '$D/wrongpbs.log' 2>&1; [ \$? -ne 0 ] && grep -q 'comms status 0x0107' '$D/wrongpbs.log'"
stop_chip

interop_done
