/**
 * Payload codec shared by every bus implementation.
 *
 * - msgpack (msgpackr with `useRecords: false`, so any msgpack client can read it) by default;
 * - JSON when the request is JSON: a `Content-Type: application/json` header, or a payload whose
 *   first non-whitespace byte is `{` or `[` (our msgpack payloads are maps or arrays, which never
 *   start with 0x7b/0x5b), or an empty payload (`nats req subj ''` → `{}`, answered in JSON);
 * - the top level of a payload is always an object or array; anything else is `Invalid` (field `payload`).
 *
 * Error replies: the body is `{ code, message, ...details }` (in the request's format) and the
 * reply carries the header `Tenure-Error: <code>`, which is what marks it as an error.
 *
 * `undefined`-valued properties are omitted in both formats (as JSON does), so a receiver sees the
 * same object whichever format the sender chose.
 */
import { Packr, Unpackr } from 'msgpackr';
import { invalid, TenureError } from '../errors/errors.ts';

/** Header that marks a reply as a typed error; its value is the error code. */
export const ERROR_HEADER = 'Tenure-Error';
/** Header carrying the caller's remaining budget in milliseconds, relative to when it was sent. */
export const DEADLINE_HEADER = 'Tenure-Deadline-Ms';
/** Admission lane of every op in a request (RequestOptions.lane). */
export const LANE_HEADER = 'Tenure-Lane';
export const CONTENT_TYPE_HEADER = 'Content-Type';
export const JSON_CONTENT_TYPE = 'application/json';
export const MSGPACK_CONTENT_TYPE = 'application/msgpack';

const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

export interface Decoded {
  value: unknown;
  /** The payload was JSON (replies to it should be JSON too). */
  json: boolean;
}

/**
 * A payload encoded by its sender (e.g. JSON written by hand for a fixed shape): `encode` hands its
 * bytes on as they are. The sender vouches that they are in the format the message is sent as.
 */
export class Encoded {
  constructor(readonly bytes: Uint8Array) {}
}

/** Encodes a payload; `undefined` becomes `{}`. Throws `Invalid` (field `payload`) if the value cannot be encoded. */
export function encode(value: unknown, json: boolean): Uint8Array {
  if (value instanceof Encoded) return value.bytes;
  try {
    if (json) {
      // JSON.stringify already leaves out undefined-valued properties (and writes undefined array
      // items as null), which is what stripUndefined does for msgpack.
      const v = value === undefined ? {} : value;
      const text = JSON.stringify(v);
      if (text === undefined) throw new Error(`cannot encode a ${typeof v} as JSON`);
      return utf8(text);
    }
    return packr.pack(value === undefined ? {} : stripUndefined(value));
  } catch (err) {
    throw invalid('payload', `cannot encode: ${(err as Error).message}`);
  }
}

/**
 * UTF-8 bytes of small texts are cut from shared 64 KiB slabs (as msgpackr does for msgpack): one
 * buffer allocation per slab instead of one per message — the leader publishes one JSON event per
 * applied command. A region is never handed out twice, so a payload stays valid for as long as
 * anyone holds it (which keeps its slab alive: fine for messages on their way to the socket).
 */
const SLAB_BYTES = 64 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabUsed = 0;

function utf8(text: string): Uint8Array {
  const most = text.length * 3; // UTF-8 bytes per UTF-16 code unit, at most
  if (most > SLAB_BYTES / 8) return textEncoder.encode(text);
  const buf = slabRoom(most);
  return slabTake(slabUsed + buf.write(text, slabUsed));
}

/** Largest payload `slabRoom` makes room for. */
export const SLAB_MAX_PAYLOAD = SLAB_BYTES / 8;

/**
 * For payloads written byte by byte into the shared slabs: returns the slab with at least `most`
 * (≤ SLAB_MAX_PAYLOAD) bytes free from `slabOffset()`; write there, then `slabTake(end)` hands the
 * bytes out. Nothing else may touch the slabs in between.
 */
export function slabRoom(most: number): Buffer {
  if (slabUsed + most > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  return slab;
}

export function slabOffset(): number {
  return slabUsed;
}

/** Takes the bytes up to `end` without a view of them (for a writer that hands out its own runs). */
export function slabAdvance(end: number): void {
  slabUsed = end;
}

export function slabTake(end: number): Uint8Array {
  const start = slabUsed;
  slabUsed = end;
  return slab.subarray(start, end);
}

/**
 * Writes a non-negative safe integer's decimal digits into `b` at `at` and returns the end; -1 for
 * any other number (nothing useful written). For payloads and protocol lines written by hand.
 */
export function writeDecimal(b: Buffer, at: number, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) return -1; // -0 passes, and JSON writes it as 0 too
  if (v < 1e8) return digits(b, at, v | 0, 0);
  // Above 10^8 (expiries are ms since 1970: 13 digits) in two int32 halves: a float division per
  // digit cost ≈ 0.3 µs of a lease event's 0.85 (actors/event-wire.ts).
  const hi = Math.floor(v / 1e8);
  return digits(b, writeDecimal(b, at, hi), (v - hi * 1e8) | 0, 8);
}

/** Writes `v` (0 ≤ v < 10^8) in decimal, zero-padded to `width` digits. */
function digits(b: Buffer, at: number, v: number, width: number): number {
  let n = 1;
  for (let p = 10; p <= v; p *= 10) n++;
  if (n < width) n = width;
  for (let i = at + n - 1; i >= at; i--) {
    const q = (v / 10) | 0;
    b[i] = 48 + v - q * 10;
    v = q;
  }
  return at + n;
}

/** The same bytes as a Buffer (a view, no copy); a Buffer is returned as it is. Its subarrays are Buffers too. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decodes a payload. `maxBytes` (if given) is checked before anything else.
 * Throws `Invalid` (field `payload`) for oversize, undecodable or non-object payloads.
 */
export function decode(bytes: Uint8Array, contentType?: string, maxBytes?: number): Decoded {
  if (maxBytes !== undefined && bytes.length > maxBytes) {
    throw invalid('payload', `too large: ${bytes.length} bytes (limit ${maxBytes})`);
  }
  if (bytes.length === 0) return { value: {}, json: true };
  const json = isJsonPayload(bytes, contentType);
  let value: unknown;
  if (json) {
    let text: string;
    try {
      text = textDecoder.decode(bytes);
    } catch {
      throw invalid('payload', 'not valid UTF-8 JSON');
    }
    if (text.trim() === '') return { value: {}, json: true };
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw invalid('payload', `not valid JSON: ${(err as Error).message}`);
    }
  } else {
    try {
      value = unpackr.unpack(bytes);
    } catch (err) {
      throw invalid('payload', `not valid msgpack: ${(err as Error).message}`);
    }
  }
  if (value === null || typeof value !== 'object' || !(Array.isArray(value) || isPlainObject(value))) {
    throw invalid('payload', `top level must be an object or array, got ${describe(value)}`);
  }
  return { value, json };
}

/** JSON if the content type says so, msgpack if it says msgpack, else sniff the first non-whitespace byte. */
export function isJsonPayload(bytes: Uint8Array, contentType?: string): boolean {
  if (contentType) {
    const ct = contentType.split(';', 1)[0].trim().toLowerCase();
    if (ct === JSON_CONTENT_TYPE || ct.endsWith('+json')) return true;
    if (ct === MSGPACK_CONTENT_TYPE || ct === 'application/x-msgpack' || ct === 'application/vnd.msgpack') return false;
  }
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    return b === 0x7b /* { */ || b === 0x5b /* [ */;
  }
  return true; // empty or all whitespace: treated as JSON `{}`
}

/** The body of an error reply (send it with the header `Tenure-Error: <code>`). */
export function encodeError(err: TenureError, json: boolean): Uint8Array {
  try {
    return encode(err.toWire(), json);
  } catch {
    // Details that cannot be encoded (a BigInt in JSON, say) are dropped rather than losing the error.
    return encode({ code: err.code, message: err.message }, json);
  }
}

/** Restores a TenureError from an error reply; `headerCode` (the `Tenure-Error` header) wins if the body is unreadable. */
export function decodeError(bytes: Uint8Array, contentType?: string, headerCode?: string): TenureError {
  let body: unknown;
  try {
    body = decode(bytes, contentType).value;
  } catch {
    return TenureError.fromWire({ code: headerCode, message: `${headerCode ?? 'error'} reply with an undecodable body` });
  }
  return TenureError.fromWire(body);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  return v.constructor?.name ?? 'object';
}

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Returns `value` without `undefined`-valued properties in plain objects (recursively), copying only
 * the objects that need it. Arrays keep their length (JSON turns `undefined` items into null; we do the same).
 */
function stripUndefined(value: unknown): unknown {
  // Most replies have nothing to strip: find that out without allocating (the copying walk below
  // takes an Object.keys array per object — a batch reply holds two objects per op).
  if (value === null || typeof value !== 'object' || !holdsUndefined(value)) return value;
  return strip(value);
}

/** Whether `value` has an undefined property or array item anywhere in its plain objects and arrays. */
function holdsUndefined(value: object): boolean {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === undefined || (item !== null && typeof item === 'object' && holdsUndefined(item))) return true;
    }
    return false;
  }
  if (!isPlainObject(value)) return false;
  const src = value as Record<string, unknown>;
  for (const k in src) {
    const item = src[k];
    if (item === undefined || (item !== null && typeof item === 'object' && holdsUndefined(item))) return true;
  }
  return false;
}

function strip(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      const s = item === undefined ? null : strip(item);
      if (s !== item && !out) out = value.slice(0, i);
      if (out) out.push(s);
    }
    return out ?? value;
  }
  if (!isPlainObject(value)) return value; // Uint8Array, Date, Map…: left to the encoder
  let out: Record<string, unknown> | undefined;
  const src = value as Record<string, unknown>;
  const keys = Object.keys(src);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const item = src[k];
    if (item === undefined) {
      if (!out) out = copyKeys(src, keys, i);
      continue;
    }
    const s = strip(item);
    if (s !== item && !out) out = copyKeys(src, keys, i);
    if (out) setKey(out, k, s);
  }
  return out ?? value;
}

function copyKeys(src: Record<string, unknown>, keys: string[], upTo: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let j = 0; j < upTo; j++) setKey(out, keys[j], src[keys[j]]);
  return out;
}

/** Plain assignment, except that an own `__proto__` key (JSON.parse makes those) stays a plain property. */
function setKey(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

/** A reply as the requester sees it: the remote's typed error, or the decoded value. */
export function decodeReply(bytes: Uint8Array, contentType: string | undefined, errorCode: string | undefined): { err?: TenureError; value?: unknown } {
  if (errorCode) return { err: decodeError(bytes, contentType, errorCode) };
  try {
    return { value: decode(bytes, contentType).value };
  } catch (err) {
    return { err: new TenureError('Internal', `undecodable reply: ${(err as Error).message}`) };
  }
}
