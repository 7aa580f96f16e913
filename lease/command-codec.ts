/**
 * The Raft log's encoding of one lease command: a fixed binary layout instead of msgpack, because
 * every command is encoded once on the leader and decoded on every node, and msgpack's generic
 * object walk was a tenth of the leader's CPU under load (docs/benchmarks.md, third session).
 *
 *   byte 0   0xc1 — a byte msgpack never uses, so entries written by older versions (a msgpack
 *            map) are still told apart and decoded by `decodeValidCommand`
 *   byte 1   op code (OPS below)
 *   then the op's fields in a fixed order: strings as u16 byte length + UTF-8, numbers as f64 (BE)
 *     claim, extend   namespace model lease holder clientId | durationMs seq
 *     revoke          namespace model lease holder clientId | seq
 *     pin, unpin      namespace model lease entity clientId | seq
 *     setTime         clientId | oldTime newTime seq
 *
 * Decoding checks lengths and throws on anything malformed, and validates the values with
 * lease/validate.ts's checks as it goes, so a bad entry is `Invalid` on every node alike.
 */
import { Unpackr } from 'msgpackr';
import { asBuffer } from '../bus/codec.ts';
import { DEFAULT_LIMITS, MAX_CLIENT_ID_LENGTH, MAX_NAME_LENGTH, count, duration, subjectName, text, validateCommand } from './validate.ts';
import type { LeaseCommand } from './types.ts';

export const COMMAND_MARKER = 0xc1;
const OPS = ['claim', 'extend', 'revoke', 'pin', 'unpin', 'setTime'] as const;
const OP_CODE: Record<string, number> = Object.fromEntries(OPS.map((op, i) => [op, i + 1]));

const legacy = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Room for the largest command: 5 strings of ≤ 256 chars (≤ 3 bytes each in UTF-8) and 3 numbers. */
let scratch = new Uint8Array(8 * 1024);
let scratchView = new DataView(scratch.buffer);

/** UTF-8 length of `s`: its length when ASCII (names almost always are), else counted by Buffer. */
function utf8Length(s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return n;
}

function writeString(s: string, out: Uint8Array, view: DataView, at: number): number {
  const n = s.length;
  let p = at + 2;
  let ascii = true;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      ascii = false;
      break;
    }
    out[p++] = c;
  }
  if (!ascii) p = at + 2 + utf8.encodeInto(s, out.subarray(at + 2)).written;
  const len = p - at - 2;
  if (len > 0xffff) throw new RangeError('command string longer than 65535 bytes');
  view.setUint16(at, len);
  return p;
}

/**
 * The exact size `writeLeaseCommand` gives a validated command, so a batch of them can be written
 * straight into one Raft entry (and its bytes counted while it is queued) without encoding it twice.
 */
export function encodedCommandSize(cmd: LeaseCommand): number {
  if (OP_CODE[cmd.op] === undefined) throw new RangeError(`unknown command op ${String(cmd.op)}`);
  if (cmd.op === 'setTime') return 2 + 2 + utf8Length(cmd.clientId) + 24;
  const who = cmd.op === 'pin' || cmd.op === 'unpin' ? cmd.entity : cmd.holder;
  const strings = utf8Length(cmd.key.namespace) + utf8Length(cmd.key.model) + utf8Length(cmd.key.lease) + utf8Length(who) + utf8Length(cmd.clientId);
  return 2 + 10 + strings + (cmd.op === 'claim' || cmd.op === 'extend' ? 16 : 8);
}

/**
 * Writes a validated command at `at` of `out` (fields beyond the op's own are ignored); returns its
 * end. `out` must have `encodedCommandSize(cmd)` bytes of room from `at`; `view` is a DataView over
 * the same bytes at the same offsets (one per buffer, not one per command).
 */
export function writeLeaseCommand(cmd: LeaseCommand, out: Uint8Array, view: DataView, at: number): number {
  const code = OP_CODE[cmd.op];
  if (code === undefined) throw new RangeError(`unknown command op ${String(cmd.op)}`);
  out[at] = COMMAND_MARKER;
  out[at + 1] = code;
  at += 2;
  if (cmd.op === 'setTime') {
    at = writeString(cmd.clientId, out, view, at);
    view.setFloat64(at, cmd.oldTime);
    view.setFloat64(at + 8, cmd.newTime);
    at += 16;
  } else {
    at = writeString(cmd.key.namespace, out, view, at);
    at = writeString(cmd.key.model, out, view, at);
    at = writeString(cmd.key.lease, out, view, at);
    at = writeString(cmd.op === 'pin' || cmd.op === 'unpin' ? cmd.entity : cmd.holder, out, view, at);
    at = writeString(cmd.clientId, out, view, at);
    if (cmd.op === 'claim' || cmd.op === 'extend') {
      view.setFloat64(at, cmd.durationMs);
      at += 8;
    }
  }
  view.setFloat64(at, cmd.seq);
  return at + 8;
}

/** Encodes a validated command on its own (fields beyond the op's own are ignored). */
export function encodeLeaseCommand(cmd: LeaseCommand): Uint8Array {
  const size = encodedCommandSize(cmd);
  if (size > scratch.byteLength) {
    scratch = new Uint8Array(Math.max(size, scratch.byteLength * 2));
    scratchView = new DataView(scratch.buffer);
  }
  const end = writeLeaseCommand(cmd, scratch, scratchView, 0);
  // A pooled Buffer, not scratch.slice(): a typed array with an ArrayBuffer of its own cost ≈ 0.8 µs
  // per command to allocate (and GC work to track), several times the encoding itself.
  const out = Buffer.allocUnsafe(end);
  out.set(scratch.subarray(0, end));
  return out;
}

/**
 * Buffer's own latin1 slicer, without `toString`'s encoding dispatch in front of it (a fifth of the
 * string decoding's time, five strings a command); `toString` where a runtime lacks it.
 */
type Latin1Slicer = (this: Buffer, start: number, end: number) => string;
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice?: Latin1Slicer }).latin1Slice;
const latin1: (buf: Buffer, start: number, end: number) => string = latin1Slice ? (buf, start, end) => latin1Slice.call(buf, start, end) : (buf, start, end) => buf.toString('latin1', start, end);

class Reader {
  at = 2;
  /** A Buffer view of the same bytes (no copy): its latin1 slice makes an ASCII string in one allocation. */
  private readonly buf: Buffer;
  constructor(private readonly bytes: Uint8Array) {
    this.buf = asBuffer(bytes);
  }

  string(): string {
    const b = this.bytes;
    if (this.at + 2 > b.byteLength) throw new Error('command: truncated string length');
    const len = this.buf.readUInt16BE(this.at);
    const start = this.at + 2;
    const end = start + len;
    if (end > b.byteLength) throw new Error('command: truncated string');
    this.at = end;
    // Names are almost always ASCII, where latin1 and UTF-8 agree; anything else goes through the
    // strict UTF-8 decoder. (Appending char by char made a string per character: a fifth of a
    // follower's allocations under load.)
    for (let i = start; i < end; i++) if (b[i] >= 0x80) return utf8Decoder.decode(b.subarray(start, end));
    return latin1(this.buf, start, end);
  }

  number(): number {
    if (this.at + 8 > this.bytes.byteLength) throw new Error('command: truncated number');
    const v = this.buf.readDoubleBE(this.at);
    this.at += 8;
    return v;
  }

  end(): void {
    if (this.at !== this.bytes.byteLength) throw new Error('command: trailing bytes');
  }
}

/**
 * Decodes and validates one command as stored in the log: the binary layout above, or (entries
 * written before it existed) a msgpack map. Throws `Invalid` naming the field for a bad value (the
 * checks of `validateCommand`, in its order, run on the fields as read: one object, no validated
 * copy) and a plain Error for malformed bytes.
 */
export function decodeValidCommand(bytes: Uint8Array): LeaseCommand {
  if (bytes.byteLength === 0 || bytes[0] !== COMMAND_MARKER) return validateCommand(legacy.unpack(bytes));
  if (bytes.byteLength < 2) throw new Error('command: truncated op');
  const op = OPS[bytes[1] - 1];
  if (op === undefined) throw new Error(`command: unknown op code ${bytes[1]}`);
  const r = new Reader(bytes);
  if (op === 'setTime') {
    const clientId = r.string();
    const oldTime = r.number();
    const newTime = r.number();
    const seq = r.number();
    r.end();
    return { op, oldTime: count(oldTime, 'oldTime'), newTime: count(newTime, 'newTime'), clientId: text(clientId, 'clientId', MAX_CLIENT_ID_LENGTH), seq: count(seq, 'seq') };
  }
  const namespace = r.string();
  const model = r.string();
  const lease = r.string();
  const who = r.string();
  const clientId = r.string();
  const durationMs = op === 'claim' || op === 'extend' ? r.number() : 0;
  const seq = r.number();
  r.end();
  const key = { namespace: subjectName(namespace, 'namespace'), model: subjectName(model, 'model'), lease: subjectName(lease, 'lease') };
  switch (op) {
    case 'claim':
    case 'extend': {
      const holder = text(who, 'holder', MAX_NAME_LENGTH);
      const d = duration(durationMs, DEFAULT_LIMITS.maxDurationMs);
      return { op, key, holder, durationMs: d, clientId: text(clientId, 'clientId', MAX_CLIENT_ID_LENGTH), seq: count(seq, 'seq') };
    }
    case 'revoke': {
      const holder = text(who, 'holder', MAX_NAME_LENGTH);
      return { op, key, holder, clientId: text(clientId, 'clientId', MAX_CLIENT_ID_LENGTH), seq: count(seq, 'seq') };
    }
    default: {
      const entity = text(who, 'entity', MAX_NAME_LENGTH);
      return { op, key, entity, clientId: text(clientId, 'clientId', MAX_CLIENT_ID_LENGTH), seq: count(seq, 'seq') };
    }
  }
}
