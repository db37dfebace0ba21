// Raw IP (protocol 132) transport for the SCTP probe. Node has no raw sockets and this kernel has no
// SCTP sockets, so the probe speaks SCTP itself over a raw IP socket held by a helper process: socat's
// IP4-DATAGRAM / IP6-DATAGRAM addresses open exactly that (SOCK_RAW, proto 132) and relay datagrams
// over stdin/stdout. socat is a small, ubiquitous Debian package; the interface below lets the native
// packet addon (architecture.md "native/") replace it without touching the probe logic.
//
// Needs CAP_NET_RAW (the agent has it for ARP/NDP anyway). Without it, or without socat, the probe
// reports failure 'unsupported' — never a silent 'up'.
import { spawn } from 'node:child_process';
import { isIP } from 'node:net';

export interface RawSctpChannel {
  send(packet: Buffer): void;
  close(): void;
}

export interface RawSctpHandlers {
  /** One SCTP packet (common header onwards) received by this host; not necessarily from the peer. */
  onPacket(packet: Buffer): void;
  /** The channel cannot work (helper missing, no permission): the probe cannot run here. */
  onUnsupported(reason: string): void;
}

export type RawSctpOpener = (address: string, h: RawSctpHandlers) => RawSctpChannel;

export const SOCAT_BINARY = 'socat';
/** How long a closing helper may take to flush before it is killed. */
export const CLOSE_GRACE_MS = 500;

export function socatArgs(address: string): string[] {
  // No source filter (socat's range=): a multihomed SCTP endpoint may answer the INIT from any of its
  // addresses (usrsctp does, observed in the e2e test), so the reply is matched by ports and our
  // random 32-bit initiate tag instead (classifyReply). The raw socket only sees SCTP packets
  // delivered to this host, never forwarded (NATed) service traffic.
  const peer = isIP(address) === 6 ? `IP6-DATAGRAM:[${address}]:132` : `IP4-DATAGRAM:${address}:132`;
  // -t: once we close stdin, socat flushes what we wrote (the ABORT) and exits shortly after.
  return ['-b', '65536', '-t', '0.1', 'STDIO', peer];
}

/** A raw SCTP channel to `address` through a socat child (killed by PID on close). */
export const socatOpener =
  (binary = SOCAT_BINARY): RawSctpOpener =>
  (address, h) => {
    const child = spawn(binary, socatArgs(address), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    let closed = false;
    child.once('error', (e) => h.onUnsupported(`cannot run ${binary}: ${e.message}`));
    child.stdin.on('error', () => undefined); // EPIPE after the child died; reported via 'exit'
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    // socat strips the IPv4 header a raw socket delivers (IPv6 raw sockets have none), and writes
    // each datagram with one write; a read that merged two fails its CRC and is ignored.
    child.stdout.on('data', (d: Buffer) => h.onPacket(d));
    child.once('exit', (code) => {
      if (!closed)
        h.onUnsupported(`${binary} exited ${code}: ${stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
    });
    return {
      send: (packet) => {
        if (!closed) child.stdin.write(packet);
      },
      close: () => {
        if (closed) return;
        closed = true;
        if (child.exitCode !== null || child.signalCode !== null) return;
        // Graceful first so a just-written ABORT still leaves; a bounded hard kill backs it up.
        child.stdin.end();
        const kill = setTimeout(() => child.kill('SIGKILL'), CLOSE_GRACE_MS);
        child.once('exit', () => clearTimeout(kill));
      },
    };
  };
