#!/usr/bin/python3
# A crafted SCTP client for the ASCONF e2e (test/e2e/sctp-asconf.test.ts), run in the client
# namespace: associates with a real usrsctp endpoint through the LB (INIT with AUTH parameters,
# COOKIE-ECHO), exchanges DATA with the echo server, then sends ASCONFs (Add-IP, Set-Primary,
# Delete-IP, and refused requests), an unsigned ASCONF, and an ERROR chunk with an address cause.
# Packets are built byte by byte (the test must control every field); scapy sends them and computes
# the CRC32c. Every wait is bounded. Prints one JSON object with what came back.
#   sctp_asconf_peer.py C0 C1 C2 VIP0 VIP1 ENDPOINT PORT
import hashlib
import hmac
import json
import os
import select
import socket
import struct
import sys
import time

from scapy.all import IP, SCTP, Raw, conf, send  # noqa: E402

conf.verb = 0
C0, C1, C2, V0, V1, EP, PORT = sys.argv[1:8]
PORT = int(PORT)
SPORT = 40000 + os.getpid() % 1000
ip4 = socket.inet_aton


def tlv(t, v):
    b = struct.pack('!HH', t, 4 + len(v)) + v
    return b + b'\0' * (-len(b) % 4)


def tlv_raw(t, v):  # unpadded, as in an AUTH key vector
    return struct.pack('!HH', t, 4 + len(v)) + v


def chunk(t, flags, body):
    b = struct.pack('!BBH', t, flags, 4 + len(body)) + body
    return b + b'\0' * (-len(b) % 4)


def xmit(src, dst, vtag, chunks):
    send(IP(src=src, dst=dst) / SCTP(sport=SPORT, dport=PORT, tag=vtag) / Raw(chunks))


rx = socket.socket(socket.AF_INET, socket.SOCK_RAW, 132)


def chunks_of(payload):
    out, off = [], 12
    while off + 4 <= len(payload):
        t, f, ln = struct.unpack('!BBH', payload[off:off + 4])
        if ln < 4:
            break
        out.append((t, f, payload[off + 4:off + ln]))
        off += ln + (-ln % 4)
    return out


def recv(want, timeout=3.0):
    """Packets to our port until one carries a chunk of type `want` (or the time is up)."""
    seen = []
    end = time.time() + timeout
    while time.time() < end:
        r, _, _ = select.select([rx], [], [], max(0, end - time.time()))
        if not r:
            break
        pkt = rx.recv(65535)
        ihl = (pkt[0] & 15) * 4
        src, dst = socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20])
        p = pkt[ihl:]
        sp, dp, vtag = struct.unpack('!HHI', p[:8])
        if dp != SPORT:
            continue
        cs = chunks_of(p)
        seen.append({'src': src, 'dst': dst, 'vtag': vtag, 'chunks': cs})
        if want is None or any(c[0] == want for c in cs):
            return seen[-1], seen
    return None, seen


def params_of(body):
    out, off = [], 0
    while off + 4 <= len(body):
        t, ln = struct.unpack('!HH', body[off:off + 4])
        if ln < 4:
            break
        out.append((t, body[off + 4:off + ln]))
        off += ln + (-ln % 4)
    return out


result = {'sport': SPORT}
TAG = 0x1A2B3C4D
RANDOM = bytes(range(1, 33))
CHUNKS = bytes([0xC1, 0x80])
HMACS = struct.pack('!H', 1)
my_vector = tlv_raw(0x8002, RANDOM) + tlv_raw(0x8003, CHUNKS) + tlv_raw(0x8004, HMACS)
init_params = (
    tlv(5, ip4(C0)) + tlv(5, ip4(C1)) + tlv(12, struct.pack('!H', 5))
    + tlv(0x8002, RANDOM) + tlv(0x8003, CHUNKS) + tlv(0x8004, HMACS)
    + tlv(0x8008, bytes([0xC1, 0x80, 0x0F]))
)
init = chunk(1, 0, struct.pack('!IIHHI', TAG, 1 << 17, 10, 10, 100) + init_params)
ack = None
for _ in range(3):
    xmit(C0, V0, 0, init)
    ack, _ = recv(2)
    if ack:
        break
if not ack:
    print(json.dumps({**result, 'error': 'no INIT-ACK'}))
    sys.exit(0)
body = [c for c in ack['chunks'] if c[0] == 2][0][2]
peer_tag = struct.unpack('!I', body[:4])[0]
ps = params_of(body[16:])
result['initAckAddresses'] = [socket.inet_ntoa(v) for t, v in ps if t == 5]
cookie = [v for t, v in ps if t == 7][0]
peer_vector = b''.join(tlv_raw(t, v) for want in (0x8002, 0x8003, 0x8004) for t, v in ps if t == want)
result['peerOffersAuth'] = any(t == 0x8002 for t, v in ps)


def as_int(b):
    return int.from_bytes(b, 'big') if b else 0


lo, hi = sorted([my_vector, peer_vector], key=lambda v: (as_int(v), len(v)))
KEY = lo + hi
xmit(C0, V0, peer_tag, chunk(10, 0, cookie))
cack, _ = recv(11)
result['cookieAck'] = cack is not None

tsn = 100


def data(src, dst, text):
    global tsn
    # Unordered (U|B|E): no stream sequence numbers to keep.
    c = chunk(0, 7, struct.pack('!IHHI', tsn, 0, 0, 0) + text.encode())
    tsn += 1
    xmit(src, dst, peer_tag, c)


def echo_of(text, timeout=4.0):
    """Waits for the echo server's DATA carrying `text`; SACKs it. Returns where it was sent."""
    end = time.time() + timeout
    while time.time() < end:
        got, _ = recv(0, max(0.05, end - time.time()))
        if not got:
            return None
        for t, f, b in got['chunks']:
            if t == 0 and text.encode() in b:
                peer_tsn = struct.unpack('!I', b[:4])[0]
                xmit(got['dst'], got['src'], peer_tag, chunk(3, 0, struct.pack('!IIHH', peer_tsn, 1 << 17, 0, 0)))
                return got['dst']
    return None


data(C0, V0, 'hello-c0')
result['echoBefore'] = echo_of('hello-c0')


def auth_chunk(chunks_after):
    zero = chunk(0x0F, 0, struct.pack('!HH', 0, 1) + b'\0' * 20)
    mac = hmac.new(KEY, zero + chunks_after, hashlib.sha1).digest()
    return chunk(0x0F, 0, struct.pack('!HH', 0, 1) + mac)


def asconf(serial, items):
    body = struct.pack('!I', serial) + tlv(5, ip4(C0))
    for corr, (t, addr) in enumerate(items, 1):
        body += tlv(t, struct.pack('!I', corr) + tlv(5, ip4(addr)))
    return chunk(0xC1, 0, body)


def asconf_round(serial, items, signed=True, src=C0, dst=V0):
    a = asconf(serial, items)
    xmit(src, dst, peer_tag, (auth_chunk(a) + a) if signed else a)
    got, _ = recv(0x80, 3.0)
    if not got:
        return None
    raw = b''.join(chunk(t, f, b) for t, f, b in got['chunks'])
    out = {'to': got['dst'], 'from': got['src'], 'items': {}}
    cs = got['chunks']
    if cs and cs[0][0] == 0x0F:
        mac = cs[0][2][4:]
        rest = raw[len(chunk(*cs[0])):]
        zero = chunk(0x0F, 0, cs[0][2][:4] + b'\0' * len(mac))
        out['authValid'] = hmac.compare_digest(mac, hmac.new(KEY, zero + rest, hashlib.sha1).digest())
    for t, f, b in cs:
        if t != 0x80:
            continue
        out['serial'] = struct.unpack('!I', b[:4])[0]
        for pt, pv in params_of(b[4:]):
            corr = struct.unpack('!I', pv[:4])[0]
            if pt == 0xC005:
                out['items'][corr] = 'success'
            elif pt == 0xC003:
                causes = params_of(pv[4:])
                out['items'][corr] = 'error-%d' % causes[0][0] if causes else 'error'
    return out


ADD, DEL, PRIM = 0xC001, 0xC002, 0xC004
result['asconf1'] = asconf_round(1, [(ADD, C2), (ADD, EP), (PRIM, C1), (DEL, C0), (ADD, V1)])
# The new address works at once: data from C2 reaches the endpoint and its echo comes back.
data(C2, V1, 'hello-c2')
result['echoFromAdded'] = echo_of('hello-c2')
result['asconf2'] = asconf_round(2, [(DEL, C1)])
data(C1, V1, 'hello-deleted')
result['echoFromDeleted'] = echo_of('hello-deleted', 2.0)
result['unsigned'] = asconf_round(3, [(ADD, '10.206.3.9')], signed=False)
# An ERROR whose Unresolvable Address cause names a client address: must not reach the endpoint as is.
xmit(C0, V0, peer_tag, chunk(9, 0, tlv(5, tlv(5, ip4(C1))) + tlv(4, b'')))
time.sleep(0.5)
data(C0, V0, 'hello-after')
result['echoAfter'] = echo_of('hello-after')
xmit(C0, V0, peer_tag, chunk(6, 0, b''))  # ABORT: leave nothing behind
print(json.dumps(result))
