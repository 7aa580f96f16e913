/**
 * Lease events written as whole NATS messages, back to back, and handed to nats.js as one piece per
 * run. The leader publishes two events per claimed lease; one at a time each took a payload view, a
 * subject string (three token checks and a template), a protocol line view and four pieces in
 * nats.js's outbound list (bus/nats-frame.ts `publishFrame`) — ≈ 10 % of the leader's busy time at
 * 128 claiming clients (docs/benchmarks.md, twenty-third session). Here each event is written once
 * into the shared slabs: `HPUB <prefix>.events.<namespace>.<model>.<lease> <hlen> <len>\r\n`, the
 * JSON header block, the payload (actors/event-wire.ts), `\r\n` — the bytes nats.js's own publish
 * sends for it (test/lease-manager/event-frames.test.ts) — and a run of them goes to the protocol
 * handler's `sendCommand` in one call, counted in its message and byte counters as nats.js counts.
 *
 * `add` refuses (returns false, nothing sent) what the caller must publish the usual way: an event
 * `writeEventJson` does not write, a token that is not a plain subject token, a connection that is
 * closed or draining or whose server lacks headers, a message over max_payload. Before publishing
 * anything else on the connection the caller must `flush` the run, and it must flush at the end of
 * its turn: the run is in nats.js's hands only then.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { slabAdvance, slabOffset, slabRoom, SLAB_MAX_PAYLOAD } from '../bus/codec.ts';
import { writeSizes, type FrameProtocol } from '../bus/nats-frame.ts';
import { JSON_HEADER_BYTES } from '../bus/nats-headers.ts';
import { MAX_TOKEN_LENGTH, plainToken } from '../bus/subjects.ts';
import type { LeaseEvent } from '../lease/types.ts';
import { eventJsonMost, writeEventJson } from './event-wire.ts';

const H = JSON_HEADER_BYTES.length;
/** Protocol line beyond verb, prefix and tokens: two dots, three spaces, two lengths, CRLF. */
const LINE_EXTRA = 2 + 3 + 2 * 16 + 2;

export class EventFrames {
  /** `HPUB <prefix>.events.` */
  private readonly head: Uint8Array;
  private run: Buffer | null = null;
  private start = 0;
  private end = 0;
  private msgs = 0;
  private bytes = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly p: FrameProtocol,
    prefix: string,
  ) {
    this.head = Uint8Array.from(`HPUB ${prefix}.events.`, (c) => c.charCodeAt(0));
  }

  /** Writes the event's message into the run; false (nothing written) when it must be published the usual way. */
  add(e: LeaseEvent, index: number, n: number): boolean {
    const info = this.p.info;
    if (info === undefined || !info.headers || this.p.noMorePublishing || this.nc.isClosed()) return false;
    const most = eventJsonMost(e);
    if (most < 0) return false;
    const k = e.key;
    const line = this.head.length + k.namespace.length + k.model.length + k.lease.length + LINE_EXTRA;
    const room = line + H + most + 2;
    if (room > SLAB_MAX_PAYLOAD) return false;
    const b = slabRoom(room);
    let at = slabOffset();
    if (b !== this.run || at !== this.end) {
      // A new slab, or something else took slab bytes since: the run so far goes first.
      this.flush();
      this.run = b;
      this.start = this.end = at;
    }
    // The payload first, past the longest line, then the line; the payload moves up behind it.
    const p0 = at + line + H;
    const pEnd = writeEventJson(b, p0, e, index, n);
    if (pEnd < 0) return false;
    const len = H + pEnd - p0;
    if (len > info.max_payload) return false;
    for (let i = 0; i < this.head.length; i++) b[at++] = this.head[i];
    if ((at = token(b, at, k.namespace)) < 0) return false;
    b[at++] = 0x2e;
    if ((at = token(b, at, k.model)) < 0) return false;
    b[at++] = 0x2e;
    if ((at = token(b, at, k.lease)) < 0) return false;
    at = writeSizes(b, at, H, len);
    b.set(JSON_HEADER_BYTES, at);
    at += H;
    b.copyWithin(at, p0, pEnd);
    at += pEnd - p0;
    b[at++] = 13;
    b[at++] = 10;
    slabAdvance(at);
    this.end = at;
    this.msgs++;
    this.bytes += len;
    return true;
  }

  /** Hands the run written so far to nats.js (one piece, one call). */
  flush(): void {
    const { run, start, end, msgs, bytes } = this;
    // Reset first: a run nats.js refuses (it throws) is not handed over again with the next one.
    this.run = null;
    this.start = this.end = this.msgs = this.bytes = 0;
    if (run !== null && end > start) {
      this.p.outMsgs += msgs;
      this.p.outBytes += bytes;
      this.p.sendCommand(run.subarray(start, end));
    }
  }
}

/** Copies a token that is a valid subject token as its bytes stand (bus/subjects.ts `plainToken`); -1 for any other. */
function token(b: Buffer, at: number, s: string): number {
  if (s.length === 0 || s.length > MAX_TOKEN_LENGTH || !plainToken(s)) return -1;
  for (let i = 0; i < s.length; i++) b[at++] = s.charCodeAt(i);
  return at;
}
