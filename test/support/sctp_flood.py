#!/usr/bin/python3
# INIT flood for the SCTP flood e2e and benchmark, run in a test namespace only: RATE INITs per second
# for SECONDS seconds to VIP:PORT, from spoofed sources counting up from SRCBASE (one per packet, a
# /16 wide), plus optionally ONE_SOURCE_RATE per second from the single address ONE_SOURCE. The SCTP
# part is built once (scapy computes the CRC32c; it does not cover the IP header), the source varies
# per packet, the kernel fills in the IP checksum. Paced in 5 ms slices; bounded in count and time.
# Prints {"sent": N, "seconds": S}.
#   sctp_flood.py VIP PORT RATE SECONDS SRCBASE [ONE_SOURCE ONE_SOURCE_RATE]
import json
import socket
import struct
import sys
import time

from scapy.all import SCTP, SCTPChunkInit, SCTPChunkParamIPv4Addr, raw

vip, port, rate, seconds, base = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
one = sys.argv[6] if len(sys.argv) > 7 else None
one_rate = int(sys.argv[7]) if len(sys.argv) > 7 else 0
assert rate <= 20000 and seconds <= 60, 'bounded'
sctp = raw(
    SCTP(sport=33333, dport=port, tag=0)
    / SCTPChunkInit(init_tag=0x5EED5EED, a_rwnd=65535, n_out_streams=10, n_in_streams=10, init_tsn=1,
                    params=[SCTPChunkParamIPv4Addr(addr='198.18.0.1')])
)
base_n = struct.unpack('!I', socket.inet_aton(base))[0]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
dst = socket.inet_aton(vip)


def ip_packet(src_n):
    total = 20 + len(sctp)
    hdr = struct.pack('!BBHHHBBH4s4s', 0x45, 0, total, 0, 0, 64, 132, 0, struct.pack('!I', src_n), dst)
    return hdr + sctp


sent = 0
one_sent = 0
one_n = struct.unpack('!I', socket.inet_aton(one))[0] if one else 0
start = time.time()
slice_s = 0.005
k = 0
while True:
    now = time.time() - start
    if now >= seconds:
        break
    due = int(now * rate) - sent
    for _ in range(max(0, due)):
        s.sendto(ip_packet(base_n + (k % 65536)), (vip, 0))
        k += 1
        sent += 1
    if one:
        for _ in range(max(0, int(now * one_rate) - one_sent)):
            s.sendto(ip_packet(one_n), (vip, 0))
            one_sent += 1
    time.sleep(slice_s)
print(json.dumps({'sent': sent, 'oneSource': one_sent, 'seconds': time.time() - start}))
