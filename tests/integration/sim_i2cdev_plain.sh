#!/usr/bin/env bash
# The daemon driven the way Infineon's host library drives a Linux i2c-dev bus
# (docs/decisions/sim-vendor-interop.md): ioctl(I2C_SLAVE) then one plain
# write()/read() per I2C transaction, through the LD_PRELOAD shim
# (tests/integration/i2cdev_shim.c). A Python client replays the library's
# start-up (MAX_SCL_FREQU read, DATA_REG_LEN 0x0115 written and read back) and
# its OpenApplication with the presentation layer compiled in (PCTR 08, SCTR 20,
# the bytes of spec 5.4), and checks every byte the chip returns; a wrong
# address fails with EREMOTEIO as on a real adapter. No Infineon code.
set -euo pipefail
SIMD=${TRUSTM_SIM:?path of trustm-sim}
SHIM=${TRUSTM_I2C_SHIM:?path of libtrustm_i2cdev_shim.so}
[ -x "$SIMD" ] && [ -f "$SHIM" ] || { echo "missing $SIMD or $SHIM"; exit 1; }
command -v python3 >/dev/null || { echo "python3 missing"; exit 1; }
D=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$D"; }
trap cleanup EXIT
"$SIMD" --socket "$D/sim.sock" --seed 3 --trace "$D/trace.txt" >"$D/sim.log" 2>&1 &
PID=$!
for _ in $(seq 100); do [ -S "$D/sim.sock" ] && break; sleep 0.05; done
[ -S "$D/sim.sock" ] || { echo "simulator did not start"; cat "$D/sim.log"; exit 1; }
cat >"$D/client.py" <<'EOF'
import errno, fcntl, os, sys

I2C_SLAVE = 0x0703
fd = os.open("/dev/i2c-1", os.O_RDWR)

def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)

def wr(data):
    # the chip NACKs its address while it starts up or is busy: retry as the library does
    for _ in range(200):
        try:
            if os.write(fd, bytes(data)) != len(data):
                fail("short write")
            return
        except OSError as e:
            if e.errno != errno.EREMOTEIO:
                raise
    fail("address NACKed 200 times")

def rd(n):
    for _ in range(200):
        try:
            b = os.read(fd, n)
            if len(b) != n:
                fail("short read")
            return b
        except OSError as e:
            if e.errno != errno.EREMOTEIO:
                raise
    fail("address NACKed 200 times")

def reg(r, n):
    wr([r])
    return rd(n)

def expect(what, got, want):
    if got != bytes(want):
        fail("%s: %s, expected %s" % (what, got.hex(" "), bytes(want).hex(" ")))
    print("ok", what, got.hex(" "))

def frame():
    # poll I2C_STATE until a frame is ready, then read exactly its length
    for _ in range(5000):
        st = reg(0x82, 4)
        if st[0] & 0x40:
            return reg(0x80, st[2] << 8 | st[3])
    fail("no frame announced")

# a wrong address: no ACK, errno EREMOTEIO (what i2c adapters report)
fcntl.ioctl(fd, I2C_SLAVE, 0x31)
try:
    os.write(fd, bytes([0x82]))
    fail("address 0x31 acknowledged")
except OSError as e:
    if e.errno != errno.EREMOTEIO:
        fail("wrong address: errno %d" % e.errno)
print("ok address 0x31 refused with EREMOTEIO")

fcntl.ioctl(fd, I2C_SLAVE, 0x30)
expect("MAX_SCL_FREQU", reg(0x84, 4), [0x00, 0x00, 0x01, 0x90])
wr([0x81, 0x01, 0x15])
expect("DATA_REG_LEN", reg(0x81, 2), [0x01, 0x15])
openapp = bytes.fromhex("03 00 16 08 20 F0 00 00 10 D2 76 00 00 04 47 65 6E 41 75 74 68 41 70 70 6C BE 40")
wr(b"\x80" + openapp)
f = frame()
if f[0] & 0x80:  # separate control ACK first (long command)
    expect("control ACK", f, [0x80, 0x00, 0x00, 0x0C, 0xEC])
    f = frame()
expect("OpenApplication response frame", f, bytes.fromhex("00 00 06 08 20 00 00 00 00 19 04"))
wr(bytes.fromhex("80 80 00 00 0C EC"))  # the host's ACK 0
# GetRandom 32 (8C 00 00 02 00 20) as frame 1, ACK 0, plain record
body = bytes.fromhex("04 00 08 08 20 8C 00 00 02 00 20")
crc = 0
for byte in body:
    for _ in range(8):
        crc = (crc >> 1) ^ 0x8408 if (crc ^ byte) & 1 else crc >> 1
        byte >>= 1
wr(b"\x80" + body + bytes([crc >> 8, crc & 0xFF]))
f = frame()
if f[0] & 0x80:
    f = frame()
if len(f) != 5 + 2 + 4 + 32 or f[3:9] != bytes.fromhex("08 20 00 00 00 20"):
    fail("GetRandom response frame " + f.hex(" "))
print("ok GetRandom 32 over plain write/read")
os.close(fd)
print("i2cdev plain write/read: ok")
EOF
TRUSTM_SHIM_SOCKET=$D/sim.sock LD_PRELOAD=$SHIM python3 "$D/client.py"
# the trace shows the library's access pattern: no I2C_RDWR pairs, separate write + read
grep -q '\] 84$' "$D/trace.txt" || { echo "MAX_SCL_FREQU read not in the trace"; exit 1; }
grep -q 'PRL SCTR 20 record(plain) | APDU F0 OpenApplication' "$D/trace.txt" ||
    { echo "OpenApplication record not decoded in the trace"; exit 1; }
echo "sim_int_i2cdev_plain: ok"
