/**
 * The lease FSM's snapshot format, streamed in bounded msgpack chunks so a million leases never
 * become one buffer. Chunk 0 is the header; the rest carry rows:
 *   { kind: 'header', v: 1, time, nextToken, lastIndex, leaseCount, clientCount, maxClients, clientTtlMs }
 *   { kind: 'leases',  rows: [namespace, model, lease, holder | null, expiry, token, pins | null][] }
 *   { kind: 'clients', rows: [clientId, seq, lastUsed, result][] }   (least recently used first)
 * The header's counts let restore detect a truncated stream.
 */
import { Packr, Unpackr } from 'msgpackr';
import type { ClientEntry } from './dedupe.ts';
import type { LeaseRecord } from './state.ts';
import type { LeaseResult } from './types.ts';

export const SNAPSHOT_VERSION = 1;
export const DEFAULT_CHUNK_BYTES = 256 * 1024;

export interface SnapshotHeader {
  kind: 'header';
  v: number;
  time: number;
  nextToken: number;
  lastIndex: number;
  leaseCount: number;
  clientCount: number;
  maxClients: number;
  clientTtlMs: number;
}

export type LeaseRow = [string, string, string, string | null, number, number, string[] | null];
export type ClientRow = [string, number, number, LeaseResult];

/** What the FSM hands the encoder: objects captured at snapshot start (see CopyOnWrite). */
export interface SnapshotView {
  header: SnapshotHeader;
  leases: LeaseRecord[];
  clientIds: string[];
  clients: ClientEntry[];
}

/** Receives decoded rows during restore. */
export interface SnapshotTarget {
  addLease(row: LeaseRow): void;
  addClient(row: ClientRow): void;
}

export class SnapshotFormatError extends Error {
  constructor(message: string) {
    super(`lease snapshot: ${message}`);
    this.name = 'SnapshotFormatError';
  }
}

const packr = new Packr({ useRecords: false });
// Envelope bytes ({kind, rows} and array headers) kept free in every chunk.
const ENVELOPE = 32;

export function* encodeSnapshot(view: SnapshotView, maxChunkBytes: number, done: () => void): Generator<Uint8Array> {
  try {
    yield packr.pack(view.header);
    const budget = Math.max(1, maxChunkBytes - ENVELOPE);
    let rows: unknown[] = [];
    let size = 0;
    for (const rec of view.leases) {
      const pins = rec.pins === null ? null : Array.from(rec.pins);
      rows.push([rec.key.namespace, rec.key.model, rec.key.lease, rec.holder, rec.expiry, rec.token, pins]);
      size += estimateLease(rec);
      if (size >= budget) {
        yield* packRows('leases', rows, maxChunkBytes);
        rows = [];
        size = 0;
      }
    }
    if (rows.length) yield* packRows('leases', rows, maxChunkBytes);
    rows = [];
    size = 0;
    for (let i = 0; i < view.clients.length; i++) {
      const entry = view.clients[i];
      rows.push([view.clientIds[i], entry.seq, entry.lastUsed, entry.result]);
      size += 24 + view.clientIds[i].length + estimateValue(entry.result);
      if (size >= budget) {
        yield* packRows('clients', rows, maxChunkBytes);
        rows = [];
        size = 0;
      }
    }
    if (rows.length) yield* packRows('clients', rows, maxChunkBytes);
  } finally {
    done();
  }
}

// Estimates assume mostly ASCII; a chunk that still packs too large is split in half.
function* packRows(kind: string, rows: unknown[], maxChunkBytes: number): Generator<Uint8Array> {
  const packed = packr.pack({ kind, rows });
  if (packed.length <= maxChunkBytes || rows.length === 1) {
    yield packed; // a single oversized row (thousands of pins) still goes out whole
    return;
  }
  const half = rows.length >> 1;
  yield* packRows(kind, rows.slice(0, half), maxChunkBytes);
  yield* packRows(kind, rows.slice(half), maxChunkBytes);
}

function estimateLease(rec: LeaseRecord): number {
  let n = 30 + rec.key.namespace.length + rec.key.model.length + rec.key.lease.length;
  if (rec.holder !== null) n += rec.holder.length;
  if (rec.pins !== null) for (const p of rec.pins) n += 3 + p.length;
  return n;
}

function estimateValue(v: unknown): number {
  if (typeof v === 'string') return 3 + v.length;
  if (v === null || typeof v !== 'object') return 9;
  let n = 5;
  if (Array.isArray(v)) for (const item of v) n += estimateValue(item);
  else for (const k in v) n += 3 + k.length + estimateValue((v as Record<string, unknown>)[k]);
  return n;
}

/** Decodes a chunk stream into `makeTarget(header)`'s target; returns that target. */
export async function decodeSnapshot<T extends SnapshotTarget>(
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  makeTarget: (header: SnapshotHeader) => T,
): Promise<T> {
  const unpackr = new Unpackr({ useRecords: false });
  let header: SnapshotHeader | undefined;
  let target: T | undefined;
  let leases = 0;
  let clients = 0;
  for await (const chunk of chunks) {
    let msg: unknown;
    try {
      msg = unpackr.unpack(chunk);
    } catch (err) {
      throw new SnapshotFormatError(`undecodable chunk (${(err as Error).message})`);
    }
    if (msg === null || typeof msg !== 'object') throw new SnapshotFormatError('chunk is not an object');
    const m = msg as Record<string, unknown>;
    if (header === undefined || target === undefined) {
      header = checkHeader(m);
      target = makeTarget(header);
      continue;
    }
    if (!Array.isArray(m.rows)) throw new SnapshotFormatError(`chunk of kind ${String(m.kind)} has no rows`);
    if (m.kind === 'leases') {
      for (const row of m.rows) target.addLease(checkLeaseRow(row));
      leases += m.rows.length;
    } else if (m.kind === 'clients') {
      for (const row of m.rows) target.addClient(checkClientRow(row));
      clients += m.rows.length;
    } else {
      throw new SnapshotFormatError(`unknown chunk kind ${String(m.kind)}`);
    }
  }
  if (header === undefined || target === undefined) throw new SnapshotFormatError('empty stream (no header)');
  if (leases !== header.leaseCount || clients !== header.clientCount) {
    throw new SnapshotFormatError(
      `truncated: header promises ${header.leaseCount} leases and ${header.clientCount} clients, got ${leases} and ${clients}`,
    );
  }
  return target;
}

function checkHeader(m: Record<string, unknown>): SnapshotHeader {
  if (m.kind !== 'header') throw new SnapshotFormatError('first chunk is not a header');
  if (m.v !== SNAPSHOT_VERSION) {
    throw new SnapshotFormatError(`unsupported version ${String(m.v)} (this build reads version ${SNAPSHOT_VERSION})`);
  }
  for (const f of ['time', 'nextToken', 'lastIndex', 'leaseCount', 'clientCount', 'maxClients', 'clientTtlMs']) {
    if (!Number.isSafeInteger(m[f]) || (m[f] as number) < 0) throw new SnapshotFormatError(`header field ${f} is not a count`);
  }
  return m as unknown as SnapshotHeader;
}

function checkLeaseRow(row: unknown): LeaseRow {
  if (
    !Array.isArray(row) ||
    row.length !== 7 ||
    typeof row[0] !== 'string' ||
    typeof row[1] !== 'string' ||
    typeof row[2] !== 'string' ||
    (row[3] !== null && typeof row[3] !== 'string') ||
    typeof row[4] !== 'number' ||
    typeof row[5] !== 'number' ||
    (row[6] !== null && !Array.isArray(row[6]))
  ) {
    throw new SnapshotFormatError('malformed lease row');
  }
  return row as LeaseRow;
}

function checkClientRow(row: unknown): ClientRow {
  if (
    !Array.isArray(row) ||
    row.length !== 4 ||
    typeof row[0] !== 'string' ||
    typeof row[1] !== 'number' ||
    typeof row[2] !== 'number' ||
    row[3] === null ||
    typeof row[3] !== 'object'
  ) {
    throw new SnapshotFormatError('malformed client row');
  }
  return row as ClientRow;
}
