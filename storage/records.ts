/**
 * Binary records for what storage keeps: log entries, hard state, snapshot metadata.
 *
 * Every record is framed the same way, big-endian:
 *   u8 magic/version | u32 total length (including the CRC) | body | u32 CRC32 of all bytes before it
 * A different magic per record kind means a record read from the wrong key cannot be misparsed.
 * Decoders verify frame, checksum and field ranges and throw CorruptionError naming the record;
 * encoders reject out-of-range input with RangeError (a caller bug, not corruption).
 * Both MemoryStorage and LmdbStorage store these bytes, so corruption behaves the same in each.
 */
import { EntryType, type ClusterConfig, type HardState, type LogEntry, type SnapshotMeta } from '../machines/raft/types.ts';
import { crc32 } from './crc32.ts';
import { CorruptionError } from './types.ts';

export const ENTRY_MAGIC = 0xe1;
export const HARD_STATE_MAGIC = 0xa1;
export const SNAPSHOT_MAGIC = 0x51;

const FRAME_HEAD = 5; // magic + length
const CRC_SIZE = 4;
// Entry body: term u64, type u8, index u64, payload length u32.
const ENTRY_HEAD = FRAME_HEAD + 8 + 1 + 8 + 4;
/** Byte offset of an entry's payload inside its record (tests flip bytes from here on). */
export const ENTRY_PAYLOAD_OFFSET = ENTRY_HEAD;
// Hard state body: term u64, commit u64, vote length u16 (NO_VOTE for null), vote UTF-8.
const HARD_STATE_HEAD = FRAME_HEAD + 8 + 8 + 2;
const NO_VOTE = 0xffff;
// Snapshot body: index u64, term u64, size u64, checksum u32, generation u64, config length u32, config JSON.
const SNAPSHOT_HEAD = FRAME_HEAD + 8 + 8 + 8 + 4 + 8 + 4;
const MAX_U32 = 0xffffffff;
const TWO_32 = 0x1_0000_0000;

const utf8Encoder = new TextEncoder();
// fatal: a vote that is not valid UTF-8 is corruption, not something to paper over with U+FFFD.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** The snapshot metadata plus which stored chunk range holds its data (LMDB only; 0 in memory). */
export interface SnapshotRecord {
  meta: SnapshotMeta;
  generation: number;
}

function checkU64(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`);
}

function checkU32(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_U32) throw new RangeError(`${name} must be a u32, got ${value}`);
}

function putU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, Math.floor(value / TWO_32));
  view.setUint32(offset + 4, value >>> 0);
}

function getU64(view: DataView, offset: number, where: string, field: string): number {
  const hi = view.getUint32(offset);
  // Above 2^53 a JS number would silently lose precision; no encoder ever writes that.
  if (hi >= 0x20_0000) throw new CorruptionError(where, `${field} exceeds 2^53`);
  return hi * TWO_32 + view.getUint32(offset + 4);
}

/** Allocates a record of `total` bytes with magic and length written; the caller fills the body. */
function frame(magic: number, total: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, magic);
  view.setUint32(1, total);
  return { bytes, view };
}

function seal(bytes: Uint8Array, view: DataView): Uint8Array {
  const end = bytes.length - CRC_SIZE;
  view.setUint32(end, crc32(bytes.subarray(0, end)));
  return bytes;
}

/** Checks size, magic, length field and CRC; returns a view over the record for field decoding. */
function open(bytes: Uint8Array, magic: number, minSize: number, where: string): DataView {
  if (bytes.length < minSize) throw new CorruptionError(where, `record too short: ${bytes.length} bytes, need at least ${minSize}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const found = view.getUint8(0);
  if (found !== magic) throw new CorruptionError(where, `bad magic/version byte 0x${hex(found, 2)}, expected 0x${hex(magic, 2)}`);
  const length = view.getUint32(1);
  if (length !== bytes.length) throw new CorruptionError(where, `length field says ${length} bytes but record has ${bytes.length}`);
  const end = bytes.length - CRC_SIZE;
  const stored = view.getUint32(end);
  const computed = crc32(bytes.subarray(0, end));
  if (stored !== computed) throw new CorruptionError(where, `checksum mismatch: stored 0x${hex(stored, 8)}, computed 0x${hex(computed, 8)}`);
  return view;
}

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, '0');
}

function isEntryType(type: number): type is EntryType {
  return type === EntryType.Command || type === EntryType.Config || type === EntryType.Noop;
}

export function encodeEntry(entry: LogEntry): Uint8Array {
  checkU64('entry index', entry.index);
  if (entry.index < 1) throw new RangeError(`entry index must be >= 1, got ${entry.index}`);
  checkU64(`entry ${entry.index} term`, entry.term);
  if (!isEntryType(entry.type)) throw new RangeError(`entry ${entry.index} has unknown type ${String(entry.type)}`);
  if (!(entry.data instanceof Uint8Array)) throw new RangeError(`entry ${entry.index} data must be a Uint8Array`);
  const total = ENTRY_HEAD + entry.data.length + CRC_SIZE;
  checkU32(`entry ${entry.index} record length`, total);
  const { bytes, view } = frame(ENTRY_MAGIC, total);
  putU64(view, 5, entry.term);
  view.setUint8(13, entry.type);
  putU64(view, 14, entry.index);
  view.setUint32(22, entry.data.length);
  bytes.set(entry.data, ENTRY_HEAD);
  return seal(bytes, view);
}

/** Decodes the record stored under log index `key`; the data is a fresh copy. */
export function decodeEntry(bytes: Uint8Array, key: number): LogEntry {
  const where = `log entry ${key}`;
  const view = open(bytes, ENTRY_MAGIC, ENTRY_HEAD + CRC_SIZE, where);
  const term = getU64(view, 5, where, 'term');
  const type = view.getUint8(13);
  const index = getU64(view, 14, where, 'index');
  const payloadLength = view.getUint32(22);
  if (payloadLength !== bytes.length - ENTRY_HEAD - CRC_SIZE) {
    throw new CorruptionError(where, `payload length ${payloadLength} does not fit record of ${bytes.length} bytes`);
  }
  if (index !== key) throw new CorruptionError(where, `record holds index ${index}, stored under key ${key}`);
  if (!isEntryType(type)) throw new CorruptionError(where, `unknown entry type ${type}`);
  // Copy into a plain Uint8Array: callers must never alias storage buffers, and slice() on a
  // Buffer (what lmdb returns) would yield a Buffer.
  const data = new Uint8Array(bytes.subarray(ENTRY_HEAD, ENTRY_HEAD + payloadLength));
  return { index, term, type, data };
}

export function encodeHardState(state: HardState): Uint8Array {
  checkU64('hard state term', state.term);
  checkU64('hard state commit', state.commit);
  const vote = state.vote === null ? null : utf8Encoder.encode(state.vote);
  if (vote !== null && vote.length >= NO_VOTE) throw new RangeError(`vote id too long: ${vote.length} bytes`);
  const { bytes, view } = frame(HARD_STATE_MAGIC, HARD_STATE_HEAD + (vote?.length ?? 0) + CRC_SIZE);
  putU64(view, 5, state.term);
  putU64(view, 13, state.commit);
  view.setUint16(21, vote === null ? NO_VOTE : vote.length);
  if (vote !== null) bytes.set(vote, HARD_STATE_HEAD);
  return seal(bytes, view);
}

export function decodeHardState(bytes: Uint8Array): HardState {
  const where = 'hard state';
  const view = open(bytes, HARD_STATE_MAGIC, HARD_STATE_HEAD + CRC_SIZE, where);
  const term = getU64(view, 5, where, 'term');
  const commit = getU64(view, 13, where, 'commit');
  const voteLength = view.getUint16(21);
  const bodyLength = bytes.length - HARD_STATE_HEAD - CRC_SIZE;
  if ((voteLength === NO_VOTE ? 0 : voteLength) !== bodyLength) {
    throw new CorruptionError(where, `vote length ${voteLength} does not fit record of ${bytes.length} bytes`);
  }
  if (voteLength === NO_VOTE) return { term, vote: null, commit };
  let vote: string;
  try {
    vote = utf8Decoder.decode(bytes.subarray(HARD_STATE_HEAD, HARD_STATE_HEAD + voteLength));
  } catch {
    throw new CorruptionError(where, 'vote is not valid UTF-8');
  }
  return { term, vote, commit };
}

export function encodeSnapshotRecord({ meta, generation }: SnapshotRecord): Uint8Array {
  checkU64('snapshot index', meta.index);
  checkU64('snapshot term', meta.term);
  checkU64('snapshot size', meta.size);
  checkU32('snapshot checksum', meta.checksum);
  checkU64('snapshot generation', generation);
  if (!isClusterConfig(meta.config)) throw new RangeError('snapshot config must be { voters: string[] }');
  // JSON keeps any fields ClusterConfig grows later; this record is tiny and rarely written.
  const config = utf8Encoder.encode(JSON.stringify(meta.config));
  const { bytes, view } = frame(SNAPSHOT_MAGIC, SNAPSHOT_HEAD + config.length + CRC_SIZE);
  putU64(view, 5, meta.index);
  putU64(view, 13, meta.term);
  putU64(view, 21, meta.size);
  view.setUint32(29, meta.checksum);
  putU64(view, 33, generation);
  view.setUint32(41, config.length);
  bytes.set(config, SNAPSHOT_HEAD);
  return seal(bytes, view);
}

export function decodeSnapshotRecord(bytes: Uint8Array): SnapshotRecord {
  const where = 'snapshot metadata';
  const view = open(bytes, SNAPSHOT_MAGIC, SNAPSHOT_HEAD + CRC_SIZE, where);
  const index = getU64(view, 5, where, 'index');
  const term = getU64(view, 13, where, 'term');
  const size = getU64(view, 21, where, 'size');
  const checksum = view.getUint32(29);
  const generation = getU64(view, 33, where, 'generation');
  const configLength = view.getUint32(41);
  if (configLength !== bytes.length - SNAPSHOT_HEAD - CRC_SIZE) {
    throw new CorruptionError(where, `config length ${configLength} does not fit record of ${bytes.length} bytes`);
  }
  let config: unknown;
  try {
    config = JSON.parse(utf8Decoder.decode(bytes.subarray(SNAPSHOT_HEAD, SNAPSHOT_HEAD + configLength)));
  } catch {
    throw new CorruptionError(where, 'config is not valid JSON');
  }
  if (!isClusterConfig(config)) throw new CorruptionError(where, 'config is not { voters: string[] }');
  return { meta: { index, term, config, size, checksum }, generation };
}

function isClusterConfig(value: unknown): value is ClusterConfig {
  if (typeof value !== 'object' || value === null) return false;
  const voters = (value as { voters?: unknown }).voters;
  return Array.isArray(voters) && voters.every((v) => typeof v === 'string');
}
