#!/usr/bin/env bash
# Interop check: our 'trustm update build' against the data-set tool Infineon
# ships for protected update (optiga-trust-m examples/tools/protected_update_data_set,
# C on mbedTLS). For the same inputs (payload, target, version, trust anchor,
# P-256 and P-384 signer keys, offset and write type, confidentiality with the
# same secret, metadata updates, a data set for one chip's UID) both tools make
# a data set; tests/interop/ifx_update_tool/compare.py decodes both manifests
# field by field, verifies both signatures, checks both fragment chains and
# compares the fragments (byte for byte without confidentiality, after
# decryption with each set's own seed with it). Then every Infineon data set is
# sent with OUR 'trustm update apply' to a trustm-sim chip and every one of ours
# to a second chip set up the same way (same --seed, so the same UID), and both
# chips' objects are read back and compared with the payload. When the checkout
# also has Infineon's host library (src/util/optiga_util.c with
# optiga_util_protected_update_*) and the build has trustm_i2cdev_shim, the same
# sets go through the library too (ifx_update_tool/apply_lib.c on the glue of
# tests/interop/infineon_host/): Infineon's to a third chip, ours to a fourth,
# all four read back alike.
#
# NOT RUN IN CI and not registered with ctest: the repository holds no
# Infineon code. Run it by hand with your own checkout:
#
#   git clone https://github.com/Infineon/optiga-trust-m /tmp/optiga-trust-m
#   cmake -S . -B build/interop && cmake --build build/interop -j2 \
#         --target trustm-sim trustm-cli trustm_i2cdev_shim
#   OPTIGA_SRC=/tmp/optiga-trust-m TMA_BUILD_DIR=build/interop tests/interop/ifx_update_tool.sh
#
# Needs gcc, libmbedtls-dev 2.28 (the tool uses the 2.x *_ret SHA-256 calls),
# openssl, xxd, python3 with python3-cryptography. The tool is built unmodified;
# our glue is only in this script: its includes spell paths with a backslash
# ("pal\pal_crypt.h", "mbedtls\sha256.h", it is built with Visual Studio), so
# the work folder gets files of exactly those names linking to the real headers,
# and user_input_parser.c is compiled with -include protected_update_data_set.h
# (its header names manifest_t without including the header that declares it).
# What it runs and what was found: docs/decisions/sim-vendor-interop.md, "Our
# data-set builder against Infineon's tool". Prints one line per check and
# "N passed, M failed"; exit 1 if anything failed. INTEROP_KEEP=1 keeps the
# work folder.
set -uo pipefail
SRC=$(cd "${OPTIGA_SRC:?set OPTIGA_SRC to a checkout of Infineon/optiga-trust-m}" && pwd) || exit 2
B=$(cd "${TMA_BUILD_DIR:?set TMA_BUILD_DIR to a build with trustm-sim and trustm-cli}" && pwd) || exit 2
HERE=$(cd "$(dirname "$0")" && pwd)
CMP="python3 $HERE/ifx_update_tool/compare.py"
TOOL=$SRC/examples/tools/protected_update_data_set
# shellcheck source=SCRIPTDIR/interop_lib.sh
. "$HERE/interop_lib.sh"
SIMD=$(interop_bin trustm-sim) T=$(interop_bin trustm)
[ -n "$SIMD" ] && [ -n "$T" ] || { echo "missing trustm-sim or trustm in $B"; exit 2; }
interop_need "$TOOL" "an optiga-trust-m checkout with the v5 tool" src/protected_update_data_set.c src/cbor.c \
    src/common_utilities.c src/user_input_parser.c pal/pal_crypt_mbedtls.c pal/pal_file_system.c pal/pal_logger.c \
    pal/pal_os_memory.c include/pal/pal_crypt.h
MAIN=$TOOL/visual_studio/main.c
[ -f "$MAIN" ] || { echo "$MAIN missing"; exit 2; }
cd "$W" || exit 2

# ---- build Infineon's tool, unmodified, warnings off (it is not ours)
build_tool() {
    mkdir -p inc obj
    local f c
    for f in pal_crypt pal_file_system pal_logger pal_os_memory; do ln -sf "$TOOL/include/pal/$f.h" "inc/pal\\$f.h"; done
    for f in sha256 rsa pk entropy ctr_drbg ccm ssl; do ln -sf "/usr/include/mbedtls/$f.h" "inc/mbedtls\\$f.h"; done
    for c in src/protected_update_data_set.c src/cbor.c src/common_utilities.c pal/pal_crypt_mbedtls.c \
             pal/pal_file_system.c pal/pal_logger.c pal/pal_os_memory.c visual_studio/main.c; do
        gcc -std=gnu99 -O1 -g -w -Iinc -I"$TOOL/include" -c "$TOOL/$c" -o "obj/$(basename "$c" .c).o" || return 1
    done
    gcc -std=gnu99 -O1 -g -w -Iinc -I"$TOOL/include" -include protected_update_data_set.h \
        -c "$TOOL/src/user_input_parser.c" -o obj/user_input_parser.o || return 1
    gcc -o ifx_tool obj/*.o -lmbedtls -lmbedx509 -lmbedcrypto && { ./ifx_tool || true; } | grep -q 'Tool Version'
}
check "build Infineon's protected_update_data_set tool (mbedTLS $(dpkg-query -W -f '${Version}' libmbedtls-dev 2>/dev/null))" build_tool
[ -x ifx_tool ] || { echo "0 passed, 1 failed"; exit 1; }

# ---- signer keys and certificates (ours, made with openssl; the tool takes any PEM key)
openssl ecparam -name prime256v1 -genkey -noout -out k256.pem 2>/dev/null
openssl req -x509 -new -key k256.pem -subj "/CN=Update Authority P-256" -days 30 -out k256.crt
openssl ecparam -name secp384r1 -genkey -noout -out k384.pem 2>/dev/null
openssl req -x509 -new -key k384.pem -subj "/CN=Update Authority P-384" -days 30 -out k384.crt
# the shared secret: the tool's sample (64 bytes, hex) where the checkout has it
if [ -s "$TOOL/samples/confidentiality/secret.txt" ]; then
    tr -d ' \r\n' < "$TOOL/samples/confidentiality/secret.txt" > secret.hex
else
    head -c 64 /dev/urandom | xxd -p -c 256 > secret.hex
fi
xxd -r -p secret.hex > secret.bin

# ---- two chips set up alike: A takes Infineon's data sets, B ours
start_sim() { # start_sim NAME [trustm-sim options]
    local n=$1; shift
    "$SIMD" --socket "$W/$n.sock" --state "$W/$n.state" --seed 16 "$@" >"$W/$n.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 100); do [ -S "$W/$n.sock" ] && break; sleep 0.05; done
    [ -S "$W/$n.sock" ]
}
setup_chip() { # setup_chip NAME: anchors E0E8 (P-256) and E0E9 (P-384), secret F1D1, targets
    local c=("$T" --device "sim:$W/$1.sock")
    "${c[@]}" trust-anchor write --oid 0xE0E8 k256.crt &&
    "${c[@]}" trust-anchor write --oid 0xE0E9 k384.crt &&
    "${c[@]}" metadata set --oid 0xE0E8 --type 0x11 && "${c[@]}" metadata set --oid 0xE0E9 --type 0x11 &&
    "${c[@]}" metadata set --oid 0xE0E1 --change 'Int(0xE0E8)' &&
    "${c[@]}" metadata set --oid 0xE0E2 --change 'Int(0xE0E9)' &&
    "${c[@]}" data write --oid 0xF1D1 --in secret.bin &&
    "${c[@]}" metadata set --oid 0xF1D1 --type 0x23 --read NEV --execute ALW &&
    "${c[@]}" metadata set --oid 0xE0E3 --change 'Int(0xE0E8) && Conf(0xF1D1)' &&
    "${c[@]}" data write --oid 0xF1D5 --hex 68656c6c6f && "${c[@]}" metadata set --oid 0xF1D5 --raw 2008D80321E0E8F00100 &&
    "${c[@]}" data write --oid 0xF1D6 --hex 776f726c64 && "${c[@]}" metadata set --oid 0xF1D6 --raw 2008D80321E0E8F00100 &&
    "${c[@]}" data write --oid 0xF1D7 --hex 2121 && "${c[@]}" metadata set --oid 0xF1D7 --raw 200CD80721E0E8FD20F1D1F00100
}
# ---- optional: Infineon's host library (util layer over its I2C stack, tests/interop/infineon_host/
# glue and the i2c-dev shim) sends the same data sets to chips C (Infineon's) and D (ours)
GLUE=$HERE/infineon_host
SHIM=$(interop_bin libtrustm_i2cdev_shim.so)
LIB=
build_lib() {
    mkdir -p lib
    # the macro's value is a quoted file name: the quotes are meant literally (as in infineon_host.sh)
    # shellcheck disable=SC2089,SC2090
    local def="-DOPTIGA_LIB_EXTERNAL=\"interop_config.h\"" f
    local inc="-I$SRC/include -I$SRC/include/common -I$SRC/include/comms -I$SRC/include/ifx_i2c
               -I$SRC/include/cmd -I$SRC/include/pal -I$SRC/extras/pal/linux"
    # shellcheck disable=SC2086,SC2090
    for f in src/comms/optiga_comms_ifx_i2c.c src/comms/ifx_i2c/ifx_i2c.c src/comms/ifx_i2c/ifx_i2c_config.c \
             src/comms/ifx_i2c/ifx_i2c_data_link_layer.c src/comms/ifx_i2c/ifx_i2c_physical_layer.c \
             src/comms/ifx_i2c/ifx_i2c_presentation_layer.c src/comms/ifx_i2c/ifx_i2c_transport_layer.c \
             extras/pal/linux/pal_i2c.c extras/pal/pal_crypt_mbedtls.c src/cmd/optiga_cmd.c src/util/optiga_util.c; do
        gcc -std=gnu99 -O1 -g -w $inc -I"$GLUE" $def -c "$SRC/$f" -o "lib/v_$(basename "$f" .c).o" || return 1
    done
    # shellcheck disable=SC2086,SC2090
    for f in "$GLUE/pal_glue.c" "$HERE/common/pal_sim.c"; do
        gcc -std=gnu99 -O1 -g -Wall -Wextra -Werror -I"$GLUE" $inc $def -c "$f" -o "lib/$(basename "$f" .c).o" || return 1
    done
    # shellcheck disable=SC2086,SC2090
    gcc -std=gnu99 -O1 -g -Wall -Wextra -Werror $inc -I"$GLUE" $def -c "$HERE/ifx_update_tool/apply_lib.c" \
        -o lib/apply_lib.o &&
    gcc -o apply_lib lib/*.o -lmbedtls -lmbedx509 -lmbedcrypto
}
if [ -f "$SRC/src/util/optiga_util.c" ] && grep -q optiga_util_protected_update_start "$SRC/src/util/optiga_util.c" &&
   [ -n "$SHIM" ]; then
    check "build Infineon's host library (util layer) with our apply_lib driver" build_lib && LIB=1
else
    echo "SKIP Infineon's host library: no src/util/optiga_util.c in $SRC or no libtrustm_i2cdev_shim.so in $B"
fi
lib_apply() { # lib_apply CHIP PREFIX
    env TRUSTM_SHIM_SOCKET="$W/$1.sock" INTEROP_I2C_DEV=/dev/i2c-1 INTEROP_OUT="$W" LD_PRELOAD="$SHIM" \
        timeout 300 ./apply_lib "$2.manifest" "$2.fragments"
}

CHIPS="A B"
[ -n "$LIB" ] && CHIPS="A B C D"
for chip in $CHIPS; do
    # C and D serve Infineon's library, which sleeps in real time (as in infineon_host.sh)
    rt=; case $chip in C|D) rt=--realtime ;; esac
    check "trustm-sim chip $chip started (--seed 16 $rt) and set up (anchors, secret, Change conditions)" \
        eval "start_sim $chip $rt && setup_chip $chip >/dev/null"
done
UID_A=$("$T" --device "sim:$W/A.sock" data read --oid 0xE0C2 | cut -c1-50)
UID_B=$("$T" --device "sim:$W/B.sock" data read --oid 0xE0C2 | cut -c1-50)
check "both chips have the same UID (the --chip-uid case applies to both)" test "$UID_A" = "$UID_B"

run_ifx() { # run_ifx PREFIX ARG...: Infineon's tool, its C arrays into PREFIX.manifest, PREFIX.fragments
    local out=$1; shift
    rm -f "$out.txt"
    ./ifx_tool "$@" dataset_to_file="$out.txt" >"$out.log" && $CMP "$out.txt" "$out"
}

# ---- one case: both tools, compare, apply theirs on A and ours on B, read both back
# case NAME TARGET ANCHOR KEY VERSION WRITE_TYPE OFFSET PAYLOAD [conf|conf-label|uid|meta:RESET [conf]]
case_() {
    local name=$1 tgt=$2 ta=$3 key=$4 ver=$5 wt=$6 off=$7 pl=$8 extra=${9:-} enc=${10:-}
    local ifx=(payload_version="$ver" trust_anchor_oid="${ta#0x}" target_oid="${tgt#0x}" sign_algo=ES_256
               priv_key="$key.pem")
    local ours=(--target "$tgt" --version "$ver" --anchor "$ta" --signer-key "$key.pem" --anchor-cert "$key.crt")
    local sec=()
    xxd -p -c 256 "$pl" | tr -d '\n' > pl.hex
    case $extra in
    meta:*)
        ifx+=(payload_type=metadata metadata=pl.hex content_reset="${extra#meta:}")
        ours+=(--metadata "$(cat pl.hex)" --content-reset "${extra#meta:}") ;;
    *)
        ifx+=(payload_type=data offset="$off" write_type="$wt" in_data_format=hex data=pl.hex)
        ours+=(--payload "$pl" --write-type "$wt" --offset "$off") ;;
    esac
    if [ "$extra" = conf-label ]; then   # the tool's default label and seed length
        ifx+=(secret=secret.hex secret_oid=F1D1)
        ours+=(--secret secret.bin --secret-oid 0xF1D1)
        sec=(secret.hex)
    fi
    if [ "$extra" = conf ] || [ "$enc" = conf ]; then
        ifx+=(secret=secret.hex secret_oid=F1D1 label=test seed_length=64 enc_algo=AES-CCM-16-64-128)
        ours+=(--secret secret.bin --secret-oid 0xF1D1)
        sec=(secret.hex)
    fi
    if [ "$extra" = uid ]; then ifx+=(couid="$UID_A"); ours+=(--chip-uid "$UID_A"); fi
    check "$name: Infineon's tool builds it" run_ifx "ifx_$name" "${ifx[@]}"
    check "$name: update build builds it" "$T" update build "${ours[@]}" --out "ours_$name"
    [ -s "ifx_$name.manifest" ] && [ -s "ours_$name.manifest" ] || return
    check "$name: manifests field by field, signatures, fragment chains, fragments" \
        env CMP_LABEL_FREE="$([ "$extra" = conf-label ] && echo 1 || echo 0)" $CMP cmp "ifx_$name" "ours_$name" "$pl" "$key.crt" "${sec[@]}"
    check "$name: Infineon's set applied by our update apply (chip A)" \
        "$T" --device "sim:$W/A.sock" update apply --manifest "ifx_$name.manifest" --fragments "ifx_$name.fragments"
    check "$name: our set applied (chip B)" \
        "$T" --device "sim:$W/B.sock" update apply --manifest "ours_$name.manifest" --fragments "ours_$name.fragments"
    if [ -n "$LIB" ]; then
        check "$name: Infineon's set applied by Infineon's library (chip C)" lib_apply C "ifx_$name"
        check "$name: our set applied by Infineon's library (chip D)" lib_apply D "ours_$name"
    fi
    local ch same=1
    if [ "${extra%%:*}" = meta ]; then
        for ch in $CHIPS; do
            "$T" --device "sim:$W/$ch.sock" metadata show --oid "$tgt" > "md${ch}_$name"
            cmp -s "mdA_$name" "md${ch}_$name" || same=0
        done
        check "$name: the metadata of $tgt alike on chips $CHIPS, version $ver" \
            eval "[ $same = 1 ] && grep -q 'version: *$ver\$' mdA_$name"
    else
        for ch in $CHIPS; do
            "$T" --device "sim:$W/$ch.sock" data read --oid "$tgt" --out "${ch}_$name.bin" >/dev/null
            cmp -s "A_$name.bin" "${ch}_$name.bin" || same=0
        done
        check "$name: chips $CHIPS hold the same $tgt, the payload at offset $off" \
            eval "[ $same = 1 ] && cmp -s <(tail -c +$((off + 1)) A_$name.bin | head -c $(stat -c %s "$pl")) $pl"
    fi
}

head -c 700 /dev/urandom > r700.bin
case_ p256-700-write      0xE0E1 0xE0E8 k256 1 1 0   r700.bin
for sz in 608 609 1216 1217 1728; do
    head -c $sz /dev/urandom > r$sz.bin
    case_ "p256-$sz-erase" 0xE0E1 0xE0E8 k256 $((sz % 100 + 2)) 2 0 r$sz.bin
done
head -c 1700 /dev/urandom > r1700.bin
case_ p384-1700-erase     0xE0E2 0xE0E9 k384 3 2 0   r1700.bin
head -c 640 /dev/urandom > r640.bin
case_ p384-640-offset100  0xE0E2 0xE0E9 k384 4 1 100 r640.bin
python3 -c "import sys; sys.stdout.write(''.join('line %03d: a confidential payload\\n' % i for i in range(60)))" \
    | head -c 1700 > c1700.bin
head -c 600 c1700.bin > c600.bin
head -c 601 c1700.bin > c601.bin
case_ conf-1700           0xE0E3 0xE0E8 k256 1 2 0   c1700.bin conf
case_ conf-600            0xE0E3 0xE0E8 k256 2 2 0   c600.bin  conf
case_ conf-601            0xE0E3 0xE0E8 k256 3 1 0   c601.bin  conf
case_ conf-label-default  0xE0E3 0xE0E8 k256 4 2 0   c1700.bin conf-label
case_ uid-p256            0xE0E1 0xE0E8 k256 99 2 0  r700.bin  uid
head -c 1 /dev/urandom > r1.bin
case_ max-version-last-byte 0xE0E1 0xE0E8 k256 32767 1 1727 r1.bin
printf '\x20\x03\xD1\x01\x00' > m1.bin
case_ meta-reset2         0xF1D6 0xE0E8 k256 1 0 0   m1.bin    meta:2
tr -d ' \r\n' < "$TOOL/samples/payload/metadata/metadata.txt" 2>/dev/null | xxd -r -p > m0.bin
[ -s m0.bin ] || printf '\x20\x0B\xC0\x01\x03\xD1\x01\x00\xD0\x03\xE1\xFC\x07' > m0.bin
case_ meta-sample-reset0  0xF1D5 0xE0E8 k256 1 0 0   m0.bin    meta:0
# the metadata update of gen_metadata_update_data_set.bat: confidential, for an object whose
# metadata-update condition (D8) is Int(0xE0E8) && Conf(0xF1D1)
case_ meta-conf-reset0    0xF1D7 0xE0E8 k256 1 0 0   m1.bin    meta:0 conf
refused() { # refused CHIP PREFIX CODE: our update apply sends it, the chip refuses it with CODE
    local rc=0
    "$T" --device "sim:$W/$1.sock" update apply --manifest "$2.manifest" --fragments "$2.fragments" 2>"$2.err" || rc=$?
    [ $rc -ne 0 ] && grep -q "refused by the chip ($3)" "$2.err"
}
xxd -p m1.bin > m1.hex
run_ifx ifx_meta-plain payload_version=2 trust_anchor_oid=E0E8 target_oid=F1D7 priv_key=k256.pem \
    payload_type=metadata metadata=m1.hex content_reset=0 >/dev/null
"$T" update build --target 0xF1D7 --metadata "$(cat m1.hex)" --version 2 --anchor 0xE0E8 --signer-key k256.pem \
    --out ours_meta-plain >/dev/null
check "meta-conf: both tools' integrity-only sets for 0xF1D7 (D8 asks Conf) refused (0x07)" \
    eval "refused A ifx_meta-plain 0x07 && refused B ours_meta-plain 0x07"

# ---- what Infineon's tool does not check (documented; ours refuses each with exit 2)
printf 'ab' > ab.bin; xxd -p ab.bin > ab.hex
lax() { # lax DESCRIPTION HEX_IN_THEIR_MANIFEST OUR_OPTION... : their tool writes it, ours refuses
    local hex=$1; shift 2>/dev/null
    local ifxargs=() ourargs=() sep=0 a
    for a in "$@"; do
        if [ "$a" = -- ]; then sep=1; elif [ $sep -eq 0 ]; then ifxargs+=("$a"); else ourargs+=("$a"); fi
    done
    run_ifx lax trust_anchor_oid=E0E8 target_oid=E0E1 priv_key=k256.pem data=ab.hex "${ifxargs[@]}" &&
        xxd -p -c 1000 lax.manifest | grep -q "$hex" &&
        { "$T" update build --target 0xE0E1 --payload ab.bin --anchor 0xE0E8 --signer-key k256.pem --out lax2 \
              "${ourargs[@]}" 2>/dev/null; [ $? -eq 2 ]; }
}
check "Infineon's tool turns payload_version=-1 into version 65535 (19ffff); ours refuses --version -1" \
    lax 8420021[9]ffff payload_version=-1 -- --version -1
check "Infineon's tool writes write type 5 and offset 5000 (82191388 05); ours refuses them" \
    lax 8219138805 payload_version=1 write_type=5 offset=5000 -- --version 1 --write-type 5 --offset 5000
check "Infineon's tool writes its default version 0 (842002 00); ours asks --version 1..32767" \
    lax 84200200 -- --version 0

interop_done
