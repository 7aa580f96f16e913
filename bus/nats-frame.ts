/**
 * Publishing without nats.js's per-message string work. `nc.publish` builds each message's
 * protocol line as a template string (`PUB <subject> <size>\r\n`, `HPUB …` with headers) and
 * UTF-8-encodes it with TextEncoder (a new ArrayBuffer per message): at 128 claiming clients that
 * encoding was a fifth of the leader's event publishing (two lease events per claim; 0.86 of 3.19 s
 * in a 30 s profile) and, with nats.js's checks and its publish around it, ≈ 1.3 s of the leader's
 * 19.2 s busy; with the line written here, event publishing took 2.67 s in a profile of the same
 * workload at the same rate (docs/benchmarks.md, twenty-second session). This writes the same line
 * byte by byte into the shared slabs (bus/codec.ts) and hands it, with the header block and the
 * payload as they are, to the protocol handler's `sendCommand` — the call `nc.publish` ends in — so
 * the message joins the same outbound buffer, in the same order, flushed and re-sent on reconnect
 * exactly as before.
 *
 * It applies nats.js's own conditions and hands back anything else (`false`: the caller publishes
 * with `nc.publish`, which answers it as it always did): a closed or draining connection, a
 * subject that is not printable ASCII without spaces, headers the server does not support, a
 * message over the server's max_payload, or a nats.js whose protocol handler lacks what is used
 * here (`sendCommand`, `info`, the counters). test/bus/nats-frame.test.ts checks that the bytes
 * match what nats.js's publish sends, for any subject, headers and payload it takes.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { slabOffset, slabRoom, slabTake, SLAB_MAX_PAYLOAD, writeDecimal } from './codec.ts';

/** What this needs of nats.js's protocol handler (`ProtocolHandler`, @nats-io/nats-core/internal). */
export interface FrameProtocol {
  info?: { headers?: boolean; max_payload: number };
  noMorePublishing: boolean;
  outBytes: number;
  outMsgs: number;
  sendCommand(cmd: Uint8Array, ...payloads: Uint8Array[]): void;
}

const CRLF = Uint8Array.of(13, 10);
const PUB = [0x50, 0x55, 0x42, 0x20]; // 'PUB '
const HPUB = [0x48, 0x50, 0x55, 0x42, 0x20]; // 'HPUB '

/** The connection's protocol handler if it has what the frame path uses, else null. */
export function frameProtocol(nc: NatsConnection): FrameProtocol | null {
  const p = (nc as unknown as { protocol?: Partial<FrameProtocol> }).protocol;
  if (!p || typeof p.sendCommand !== 'function' || typeof p.outMsgs !== 'number' || typeof p.outBytes !== 'number' || typeof p.noMorePublishing !== 'boolean') return null;
  return p as FrameProtocol;
}

/**
 * Publishes `payload` on `subject`, with `headers` (an encoded header block, as
 * `MsgHdrs.encode()` gives it) if any. Returns false, having sent nothing, when the caller must
 * publish through `nc.publish` instead (see above).
 */
export function publishFrame(nc: NatsConnection, p: FrameProtocol, subject: string, payload: Uint8Array, headers?: Uint8Array): boolean {
  const info = p.info;
  if (info === undefined || p.noMorePublishing || nc.isClosed()) return false;
  const hlen = headers === undefined ? 0 : headers.length;
  if (hlen > 0 && !info.headers) return false;
  const len = payload.length + hlen;
  if (len > info.max_payload) return false;
  const most = 5 + subject.length + 2 * 17 + 2;
  if (subject.length === 0 || most > SLAB_MAX_PAYLOAD) return false;
  const b = slabRoom(most);
  let at = slabOffset();
  const verb = hlen > 0 ? HPUB : PUB;
  for (let i = 0; i < verb.length; i++) b[at++] = verb[i];
  for (let i = 0; i < subject.length; i++) {
    const c = subject.charCodeAt(i);
    if (c <= 0x20 || c > 0x7e) return false; // nothing taken: the slab region is written over later
    b[at++] = c;
  }
  const line = slabTake(writeSizes(b, at, hlen, len));
  p.outBytes += len;
  p.outMsgs++;
  if (hlen > 0) p.sendCommand(line, headers!, payload, CRLF);
  else p.sendCommand(line, payload, CRLF);
  return true;
}

/**
 * Ends a protocol line after its subject: ` <hlen> <len>\r\n` (HPUB) or ` <len>\r\n` when `hlen` is
 * 0 (PUB); returns the end. Sizes are non-negative safe integers (checked by the callers).
 */
export function writeSizes(b: Buffer, at: number, hlen: number, len: number): number {
  b[at++] = 0x20;
  if (hlen > 0) {
    at = writeDecimal(b, at, hlen);
    b[at++] = 0x20;
  }
  at = writeDecimal(b, at, len);
  b[at++] = 13;
  b[at++] = 10;
  return at;
}
