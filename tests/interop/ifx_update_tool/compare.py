#!/usr/bin/env python3
"""Compare two protected-update data sets (Infineon's tool, ours) field by field.

usage: compare.py dataset_to_file.txt THEIRS_PREFIX        (C arrays -> .manifest/.fragments)
       compare.py cmp IFX_PREFIX OURS_PREFIX PAYLOAD SIGNER_CERT.pem [SECRET_HEX_FILE]

'cmp' decodes both COSE_Sign1 manifests with the small CBOR decoder below,
prints one line per field (same / differs / explained), verifies both
signatures over the Sig_structure Infineon's tool signs (context "Signature1"
as a byte string, docs/decisions/sim-vendor-interop.md P1) with the signer's
public key, checks each fragment chain (SHA-256 of fragment i+1 at the end of
fragment i, SHA-256 of fragment 1 in the manifest) and then:
integrity only: the fragments byte for byte; confidentiality: both decrypted
with the secret and their own seeds (TLS PRF SHA-256, AES-CCM 8-byte tag,
spec 9.7) and compared with PAYLOAD. Exit 1 on any unexplained difference."""
import hashlib, hmac, os, re, sys

def cbor(b, i=0):
    """Decode one item at b[i]; return (value, next index). Definite lengths only."""
    ib = b[i]; mt, ai = ib >> 5, ib & 31; i += 1
    if ai < 24: v = ai
    elif ai in (24, 25, 26, 27):
        n = 1 << (ai - 24); v = int.from_bytes(b[i:i + n], 'big'); i += n
    else: raise ValueError('indefinite or reserved length at %d' % (i - 1))
    if mt == 0: return v, i
    if mt == 1: return -1 - v, i
    if mt == 2: return bytes(b[i:i + v]), i + v
    if mt == 3: return b[i:i + v].decode(), i + v
    if mt == 4:
        out = []
        for _ in range(v):
            x, i = cbor(b, i); out.append(x)
        return out, i
    if mt == 5:
        out = {}
        for _ in range(v):
            k, i = cbor(b, i); x, i = cbor(b, i); out[k] = x
        return out, i
    if mt == 7 and ai == 22: return None, i
    raise ValueError('CBOR type %d/%d not expected in a manifest' % (mt, ai))

def decode_all(b):
    v, n = cbor(b)
    if n != len(b): raise ValueError('%d bytes after the CBOR item' % (len(b) - n))
    return v

def from_c_arrays(txt, prefix):
    """dataset_to_file output: 'uint8_t manifest_data[] = {0x..}' then fragment_NN arrays."""
    parts = re.split(r'uint8_t\s+(\w+)\[\]\s*=', open(txt).read())
    arrays = {}
    for name, body in zip(parts[1::2], parts[2::2]):
        arrays[name] = bytes(int(x, 16) for x in re.findall(r'0x([0-9A-Fa-f]{2})', body))
    frags = [arrays[k] for k in sorted(k for k in arrays if k.startswith('fragment_'))]
    if 'manifest_data' not in arrays or not frags: sys.exit('no manifest or fragment in ' + txt)
    open(prefix + '.manifest', 'wb').write(arrays['manifest_data'])
    open(prefix + '.fragments', 'wb').write(b''.join(frags))

def prf(secret, seed, n):
    out, a = b'', hmac.new(secret, seed, hashlib.sha256).digest()
    while len(out) < n:
        out += hmac.new(secret, a + seed, hashlib.sha256).digest()
        a = hmac.new(secret, a, hashlib.sha256).digest()
    return out[:n]

class Check:
    def __init__(self): self.bad = 0
    def same(self, what, a, b, explained=None):
        if a == b: print('  same      %s: %s' % (what, short(a)))
        elif explained: print('  explained %s: %s (%s / %s)' % (what, explained, short(a), short(b)))
        else:
            print('  DIFFERS   %s: Infineon %s, ours %s' % (what, short(a), short(b))); self.bad += 1
    def ok(self, what, cond, detail=''):
        print('  %s %s%s' % ('ok       ' if cond else 'FAILED   ', what, (': ' + detail) if detail else ''))
        if not cond: self.bad += 1

def short(v):
    if isinstance(v, bytes): return "h'%s'%s" % (v[:12].hex(), '..(%d B)' % len(v) if len(v) > 12 else '')
    return repr(v)

def chain(frags, digest0):
    """Split the concatenated fragments (640 each, the last shorter) and check the digest chain."""
    fr = [frags[i:i + 640] for i in range(0, len(frags), 640)]
    ok = hashlib.sha256(fr[0]).digest() == digest0
    for a, b in zip(fr, fr[1:]): ok = ok and a[-32:] == hashlib.sha256(b).digest()
    return fr, ok

def plain(fr, m, secret):
    """The payload a fragment list carries (decrypted when the manifest says so)."""
    body = [f[:-32] for f in fr[:-1]] + [fr[-1]]
    dec = m['decrypt']
    if dec is None: return b''.join(body)
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM
    label, seed = dec['label'], dec['seed']
    kn = prf(secret, label + seed, 27)
    out, at = b'', 0
    for i, f in enumerate(body, 1):
        ad = m['version'].to_bytes(2, 'big') + at.to_bytes(3, 'big') + m['size'].to_bytes(3, 'big')
        p = AESCCM(kn[:16], tag_length=8).decrypt(kn[16:] + i.to_bytes(2, 'big'), f, ad)
        out += p; at += len(p)
    return out

def parse(prefix):
    raw = open(prefix + '.manifest', 'rb').read()
    cose = decode_all(raw)
    prot, unprot, payload, sig = cose
    t = decode_all(payload)
    m = {'raw': raw, 'cose': cose, 'prot': decode_all(prot), 'unprot': unprot, 'body': payload,
         'sig': sig, 'trust': t}
    ver, a, b, res, proc, comp = t
    m['manifest_version'], m['nulls'] = ver, (a, b)
    m['type'], m['size'], m['version'], m['addinfo'] = res
    integ, step2 = proc
    m['integrity_process'] = integ[0]
    m['digest_alg'], m['digest'] = decode_all(integ[1])
    m['decrypt'] = None
    if step2 is not None:
        proc_id, enc = step2
        eprot, recips, tail = enc
        (rprot, rtail), = recips
        r = decode_all(rprot)
        m['decrypt'] = {'process': proc_id, 'enc_alg': decode_all(eprot), 'recipients': len(recips),
                        'tails': (tail, rtail), 'secret_oid': r.get(4), 'kdf': r.get(1),
                        'keys': list(r.keys()), 'label': r[5][0], 'seed': r[5][1]}
    m['component'], m['target'] = comp
    m['frags'] = open(prefix + '.fragments', 'rb').read()
    return m

def verify(m, cert):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils
    pub = x509.load_pem_x509_certificate(open(cert, 'rb').read()).public_key()
    n = len(m['sig']) // 2
    r, s = int.from_bytes(m['sig'][:n], 'big'), int.from_bytes(m['sig'][n:], 'big')
    def enc(x):  # the Sig_structure, byte-string context
        h = len(x)
        head = bytes([0x40 | h]) if h < 24 else bytes([0x58, h]) if h < 256 else bytes([0x59]) + h.to_bytes(2, 'big')
        return head + x
    sigst = b'\x84' + enc(b'Signature1') + enc(m['cose'][0]) + b'\x40' + enc(m['body'])
    try:
        pub.verify(utils.encode_dss_signature(r, s), sigst, ec.ECDSA(hashes.SHA256())); return True
    except Exception:
        return False

def main():
    if sys.argv[1] != 'cmp':
        from_c_arrays(sys.argv[1], sys.argv[2]); return
    ifx, ours = parse(sys.argv[2]), parse(sys.argv[3])
    payload = open(sys.argv[4], 'rb').read()
    cert = sys.argv[5]
    secret = bytes.fromhex(open(sys.argv[6]).read().strip()) if len(sys.argv) > 6 else None
    c = Check()
    c.same('COSE_Sign1 array length', len(ifx['cose']), len(ours['cose']))
    c.same('protected header {1: alg}', ifx['prot'], ours['prot'])
    c.same('protected header bytes', ifx['cose'][0], ours['cose'][0])
    c.same('unprotected header {4: anchor}', ifx['unprot'], ours['unprot'])
    c.same('manifest version', ifx['manifest_version'], ours['manifest_version'])
    c.same('the two nulls', ifx['nulls'], ours['nulls'])
    c.same('payload type', ifx['type'], ours['type'])
    c.same('payload size', ifx['size'], ours['size'])
    c.same('payload version', ifx['version'], ours['version'])
    c.same('additional info', ifx['addinfo'], ours['addinfo'])
    c.same('integrity process', ifx['integrity_process'], ours['integrity_process'])
    c.same('digest algorithm', ifx['digest_alg'], ours['digest_alg'])
    c.same('component id (UID prefix)', ifx['component'], ours['component'])
    c.same('target OID', ifx['target'], ours['target'])
    c.same('signature length', len(ifx['sig']), len(ours['sig']))
    enc = ifx['decrypt'] is not None
    c.same('decrypt step present', enc, ours['decrypt'] is not None)
    if enc and ours['decrypt'] is not None:
        a, b = ifx['decrypt'], ours['decrypt']
        for k in ('process', 'enc_alg', 'recipients', 'tails', 'secret_oid', 'kdf', 'keys'):
            c.same('decrypt ' + k, a[k], b[k])
        # CMP_LABEL_FREE=1: Infineon's tool given its default label ("Confidentiality"); ours
        # always writes "test" (as Infineon's example data sets); a chip reads it from the manifest
        free = os.environ.get('CMP_LABEL_FREE') == '1'
        c.same('decrypt label', a['label'], b['label'],
               explained='the label is the builder\'s choice, carried in the manifest' if free else None)
        c.same('decrypt seed length', len(a['seed']), len(b['seed']))
        c.same('decrypt seed', a['seed'], b['seed'], explained='random per data set')
        c.same('digest of fragment 1', ifx['digest'], ours['digest'], explained='ciphertext of another seed')
        # the signed bytes are the same once Infineon's seed, label and digest are put in ours' place
        body = ifx['body'].replace(a['seed'], b['seed']).replace(ifx['digest'], ours['digest'])
        c.same('manifest body with seed and digest exchanged', body, ours['body'],
               explained='another label changes the header lengths; every field compared above' if free else None)
    else:
        c.same('digest of fragment 1', ifx['digest'], ours['digest'])
        c.same('manifest body (the signed bytes)', ifx['body'], ours['body'])
    c.same('signature', ifx['sig'], ours['sig'], explained='ECDSA: Infineon RFC 6979 via mbedtls_pk_sign, ours random k')
    c.ok('Infineon signature verifies with the signer certificate', verify(ifx, cert))
    c.ok('our signature verifies with the signer certificate', verify(ours, cert))
    for who, m in (('Infineon', ifx), ('ours', ours)):
        fr, ok = chain(m['frags'], m['digest'])
        c.ok('%s fragment chain (%d fragments, %d bytes)' % (who, len(fr), len(m['frags'])), ok)
        try:
            p = plain(fr, m, secret)
        except Exception as e:
            p = b''; print('  ', who, 'decrypt failed:', e)
        c.ok('%s fragments carry the payload%s' % (who, ' (decrypted)' if m['decrypt'] else ''), p == payload,
             '' if p == payload else '%d bytes, expected %d' % (len(p), len(payload)))
        c.ok('%s manifest size field = payload length' % who, m['size'] == len(payload))
    if enc:
        c.same('fragments', ifx['frags'], ours['frags'], explained='encrypted with different seeds')
        c.same('fragments length', len(ifx['frags']), len(ours['frags']))
    else:
        c.same('fragments (byte for byte)', ifx['frags'], ours['frags'])
    print('  %s' % ('all fields same or explained' if c.bad == 0 else '%d unexplained differences' % c.bad))
    sys.exit(1 if c.bad else 0)

main()
