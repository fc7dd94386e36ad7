#!/usr/bin/env python3
"""Regenerates the host-computed halves of apdu.txt (known answers for HKDF,
TLS PRF, HMAC, VerifySign with host keys). Run by hand; the test does not
need Python. Prints the APDU lines."""
import hashlib, hmac
from cryptography.hazmat.primitives.asymmetric import ec, rsa, padding, utils
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

def h(b): return ' '.join('%02X' % x for x in b)
def tlv(t, v): return bytes([t]) + len(v).to_bytes(2, 'big') + v
def apdu(cmd, p, data): return bytes([cmd, p]) + len(data).to_bytes(2, 'big') + data

secret = bytes(range(0x00, 0x20))
salt = bytes(range(0xA0, 0xB0))
info = bytes(range(0xF0, 0xFA))
okm = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)
print('# HKDF-SHA256 from F1D0')
print('>', h(apdu(0xB4, 0x08, tlv(1, b'\xF1\xD0') + tlv(2, salt) + tlv(3, b'\x00\x20') + tlv(4, info) + tlv(7, b''))))
print('<', h(b'\x00\x00\x00\x20' + okm))

def prf(sec, seed, n):
    a, out = seed, b''
    while len(out) < n:
        a = hmac.new(sec, a, hashlib.sha256).digest()
        out += hmac.new(sec, a + seed, hashlib.sha256).digest()
    return out[:n]
seed = b'key expansion' + bytes(range(0x40, 0x60))
print('# TLS PRF SHA-256 from F1D0, 40 bytes')
print('>', h(apdu(0xB4, 0x01, tlv(1, b'\xF1\xD0') + tlv(3, b'\x00\x28') + tlv(2, seed) + tlv(7, b''))))
print('<', h(b'\x00\x00\x00\x28' + prf(secret, seed, 40)))

msg = bytes(range(0x10, 0x50))
mac = hmac.new(secret, msg, hashlib.sha256).digest()
print('# HMAC-SHA256 with F1D0 (start&final)')
print('>', h(apdu(0x94, 0x20, b'\xF1\xD0' + tlv(1, msg))))
print('<', h(b'\x00\x00\x00\x23' + tlv(0x61, mac)))

okm = HKDF(algorithm=hashes.SHA512(), length=64, salt=b'', info=b'').derive(secret)
print('# HKDF-SHA512 from F1D0, no salt, no info, 64 bytes')
print('>', h(apdu(0xB4, 0x0A, tlv(1, b'\xF1\xD0') + tlv(3, b'\x00\x40') + tlv(7, b''))))
print('<', h(b'\x00\x00\x00\x40' + okm))

def prf_h(sec, seed, n, hf):
    a, out = seed, b''
    while len(out) < n:
        a = hmac.new(sec, a, hf).digest()
        out += hmac.new(sec, a + seed, hf).digest()
    return out[:n]
print('# TLS PRF SHA-384 from F1D0, 100 bytes')
print('>', h(apdu(0xB4, 0x02, tlv(1, b'\xF1\xD0') + tlv(3, b'\x00\x64') + tlv(2, seed) + tlv(7, b''))))
print('<', h(b'\x00\x00\x00\x64' + prf_h(secret, seed, 100, hashlib.sha384)))

mac = hmac.new(secret, msg + msg, hashlib.sha512).digest()
print('# HMAC-SHA512 with F1D0, streamed start / final')
print('>', h(apdu(0x94, 0x22, b'\xF1\xD0' + tlv(0, msg))))
print('< 00 00 00 00')
print('>', h(apdu(0x94, 0x22, b'\xF1\xD0' + tlv(3, msg))))
print('<', h(b'\x00\x00\x00\x43' + tlv(0x61, mac)))

d = 0x6B2D9F0E8A1C3E5F7A9B1D3F5E7C9A1B3D5F7E9C1A3B5D7F9E1C3A5B7D9F0E1C
key = ec.derive_private_key(d, ec.SECP256R1())
digest = hashlib.sha256(b'abc').digest()
sig = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
r, s = utils.decode_dss_signature(sig)
def der_int(v):
    b = v.to_bytes((v.bit_length() + 7) // 8, 'big')
    if b[0] & 0x80: b = b'\x00' + b
    return b'\x02' + bytes([len(b)]) + b
rs = der_int(r) + der_int(s)
pub = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
pk = b'\x03\x42\x00' + pub
print('# VerifySign P-256 with host key')
print('>', h(apdu(0xB2, 0x11, tlv(1, digest) + tlv(2, rs) + tlv(5, b'\x03') + tlv(6, pk))))
print('< 00 00 00 00')
bad = bytearray(digest); bad[0] ^= 1
print('# same signature, other digest -> 0x2C')
print('>', h(apdu(0xB2, 0x11, tlv(1, bytes(bad)) + tlv(2, rs) + tlv(5, b'\x03') + tlv(6, pk))))
print('< FF 00 00 00')

rk = rsa.generate_private_key(public_exponent=65537, key_size=1024)
rsig = rk.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
n = rk.public_key().public_numbers().n
nb = b'\x00' + n.to_bytes(128, 'big')
seq = b'\x02\x81\x81' + nb + b'\x02\x03\x01\x00\x01'
seq = b'\x30\x81' + bytes([len(seq)]) + seq
bs = b'\x03\x81' + bytes([len(seq) + 1]) + b'\x00' + seq
print('# VerifySign RSA-1024 PKCS#1 v1.5 SHA-256 with host key')
print('>', h(apdu(0xB2, 0x01, tlv(1, digest) + tlv(2, rsig) + tlv(5, b'\x41') + tlv(6, bs))))
print('< 00 00 00 00')
