/**
 * The client API's wire shapes: parsing untrusted request bodies into commands and reads, and
 * shaping replies. Plain functions (the lease manager calls them per request; no actor per op).
 *
 * Rules, the same for JSON and msgpack:
 * - a body is an object; a lease key is flat (`namespace`, `model`, `lease`) or nested (`key`);
 * - every failure is `Invalid` naming the field (`invalid(field, why)`);
 * - unknown fields are ignored (forward compatibility: an older node accepts a newer client's
 *   request), except that `op` comes from the subject, never from the body;
 * - `clientId` and `seq` go together; when both are absent (a human with `nats req`), the
 *   manager makes a fresh pair, so such a request is never mistaken for a retry.
 */
import { invalid, TenureError } from '../errors/errors.ts';
import { validateKey, validateListFilter, validateWrite } from '../lease/validate.ts';
import { failureToError, type LeaseCommand, type LeaseInfo, type LeaseKey, type LeaseListFilter, type LeaseResult } from '../lease/types.ts';

export type WriteOp = 'claim' | 'extend' | 'revoke' | 'pin' | 'unpin';
export const WRITE_OPS: readonly WriteOp[] = ['claim', 'extend', 'revoke', 'pin', 'unpin'];
/** Most operations one `lease.batch` request may carry (the payload limit applies too). */
export const MAX_BATCH_OPS = 1024;
export type ReadOp = 'get' | 'list' | 'wait' | 'status';

/** Longest budget a request may ask for in its body (`deadlineMs`). */
export const MAX_REQUEST_DEADLINE_MS = 10 * 60 * 1000;
export const DEFAULT_LIST_LIMIT = 1000;
export const MAX_LIST_LIMIT = 10_000;

export interface ParsedWrite {
  cmd: LeaseCommand;
  /** The body's `deadlineMs` (relative budget), if any. */
  deadlineMs?: number;
  /**
   * No other copy of this (clientId, seq) was ever sent: the body says `attempt: 1`, or it named no
   * identity (the node makes a fresh one). Only such a claim may be answered `Held` without a log
   * entry (actors/held-claims.ts); without the mark a repeat could apply after that answer.
   */
  firstCopy?: boolean;
}

export interface ParsedGet {
  key: LeaseKey;
  linearizable: boolean;
}

export interface ParsedList {
  filter: LeaseListFilter;
  linearizable: boolean;
  limit: number;
}

export interface ParsedWait {
  key: LeaseKey;
  deadlineMs?: number;
}

type Body = Record<string, unknown>;

export function body(data: unknown): Body {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw invalid('payload', 'must be an object');
  return data as Body;
}

export function parseWrite(op: WriteOp, data: unknown, freshClient: () => { clientId: string; seq: number }): ParsedWrite {
  const b = body(data);
  let { clientId, seq } = b;
  const attempt = optionalAttempt(b.attempt);
  let firstCopy = attempt === 1;
  if (clientId === undefined && seq === undefined) {
    ({ clientId, seq } = freshClient());
    firstCopy = true;
  } else if (clientId === undefined) throw invalid('clientId', 'missing (seq was given; send both or neither)');
  else if (seq === undefined) throw invalid('seq', 'missing (clientId was given; send both or neither)');
  const cmd = validateWrite(b, op, clientId, seq);
  return { cmd, deadlineMs: optionalDeadline(b.deadlineMs), firstCopy };
}

/** One op of a batch: parsed, or the `Invalid` error that op alone gets (field `ops[i].<field>`). */
export type BatchOp = (ParsedWrite & { op: WriteOp }) | { op: WriteOp | null; error: TenureError };

export interface ParsedBatch {
  ops: BatchOp[];
  /** The envelope's `deadlineMs` (each op's own `deadlineMs` may be shorter). */
  deadlineMs?: number;
  /** The envelope's `members`: name the voters in the reply. */
  members: boolean;
}

/**
 * `{ ops: [{ op, …fields of that op… }, …], deadlineMs?, members? }`. A bad envelope (not an object, no
 * `ops` array, empty, more than MAX_BATCH_OPS) is `Invalid` for the whole request; a bad op is
 * `Invalid` for that op only (its field named `ops[i].<field>`), and the others still run.
 */
export function parseBatch(data: unknown, freshClient: () => { clientId: string; seq: number }): ParsedBatch {
  const b = body(data);
  if (!Array.isArray(b.ops)) throw invalid('ops', 'must be an array of operations');
  if (b.ops.length === 0) throw invalid('ops', 'must not be empty');
  if (b.ops.length > MAX_BATCH_OPS) throw invalid('ops', `at most ${MAX_BATCH_OPS} operations per batch, got ${b.ops.length}`);
  const deadlineMs = optionalDeadline(b.deadlineMs);
  const members = optionalBool(b.members, 'members');
  const ops = b.ops.map((raw: unknown, i: number): BatchOp => {
    const op = raw !== null && typeof raw === 'object' ? (raw as Body).op : undefined;
    if (typeof op !== 'string' || !(WRITE_OPS as readonly string[]).includes(op)) {
      return { op: null, error: invalid(`ops[${i}].op`, `must be one of ${WRITE_OPS.join(', ')}`) };
    }
    try {
      const { cmd, deadlineMs, firstCopy } = parseWrite(op as WriteOp, raw, freshClient);
      return { op: op as WriteOp, cmd, deadlineMs, firstCopy };
    } catch (err) {
      const e = err instanceof TenureError ? err : invalid(`ops[${i}]`, String(err));
      const field = typeof e.details.field === 'string' ? e.details.field : 'payload';
      const why = e.message.startsWith(`${field}: `) ? e.message.slice(field.length + 2) : e.message;
      return { op: op as WriteOp, error: invalid(`ops[${i}].${field}`, why) };
    }
  });
  return { ops, deadlineMs, members };
}

export function parseGet(data: unknown): ParsedGet {
  const b = body(data);
  return { key: validateKey(b), linearizable: optionalBool(b.linearizable, 'linearizable') };
}

export function parseList(data: unknown): ParsedList {
  const b = body(data);
  let limit = DEFAULT_LIST_LIMIT;
  if (b.limit !== undefined) {
    if (typeof b.limit !== 'number' || !Number.isSafeInteger(b.limit) || b.limit < 1 || b.limit > MAX_LIST_LIMIT) {
      throw invalid('limit', `must be an integer between 1 and ${MAX_LIST_LIMIT}`);
    }
    limit = b.limit;
  }
  return { filter: validateListFilter(b), linearizable: optionalBool(b.linearizable, 'linearizable'), limit };
}

export function parseWait(data: unknown): ParsedWait {
  const b = body(data);
  return { key: validateKey(b), deadlineMs: optionalDeadline(b.deadlineMs) };
}

function optionalBool(v: unknown, field: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw invalid(field, 'must be a boolean');
  return v;
}

/** Most attempts a body may number (`attempt`); clients make a handful. */
export const MAX_ATTEMPT = 1_000_000;

/** A write's `attempt` (1 = the first sending of its clientId and seq), if given. */
function optionalAttempt(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > MAX_ATTEMPT) {
    throw invalid('attempt', `must be an integer between 1 and ${MAX_ATTEMPT}`);
  }
  return v;
}

function optionalDeadline(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > MAX_REQUEST_DEADLINE_MS) {
    throw invalid('deadlineMs', `must be an integer number of milliseconds between 1 and ${MAX_REQUEST_DEADLINE_MS}`);
  }
  return v;
}

// ---- replies ----

export interface LeaseView {
  namespace: string;
  model: string;
  lease: string;
  /** null when nobody holds the key (then expiry, remainingMs and token are null too). */
  holder: string | null;
  expiry: number | null;
  remainingMs: number | null;
  token: number | null;
  pinnedBy: string[];
}

/** `now`: the global time as of now (LeaseStateMachine.timeNow), which `remainingMs` counts from. */
export function leaseView(key: LeaseKey, info: LeaseInfo | null, pins: string[], now: number): LeaseView {
  const { namespace, model, lease } = key;
  if (info === null) return { namespace, model, lease, holder: null, expiry: null, remainingMs: null, token: null, pinnedBy: pins };
  return {
    namespace,
    model,
    lease,
    holder: info.holder,
    expiry: info.expiry,
    remainingMs: Math.max(0, info.expiry - now),
    token: info.token,
    pinnedBy: info.pinnedBy,
  };
}

export interface ClaimReply {
  holder: string;
  expiry: number;
  /** expiry minus this node's global time when it answered. */
  remainingMs: number;
  token: number;
  /** The holder already held the lease, so the claim extended it. */
  extended: boolean;
}

export interface ExtendReply {
  holder: string;
  expiry: number;
  remainingMs: number;
  token: number;
}

export interface ListReply {
  /** Global time of the answering node. */
  time: number;
  leases: LeaseView[];
  /** More leases matched than `limit`. */
  truncated: boolean;
}

/** One op's answer in a `lease.batch` reply: the reply it would have had alone, or its typed error. */
export type BatchResult = { result: unknown } | { error: import('../errors/errors.ts').WireError };

export interface BatchReply {
  results: BatchResult[];
  /** The leader as this node knew it when answering: clients address their next batches to it. */
  leader?: string | null;
  /** The voters, when the request asked (`members: true`). */
  nodes?: string[];
}

export interface WaitReply {
  free: true;
  reason: 'free' | 'revoked' | 'expired';
  index?: number;
}

/**
 * The client's view of an applied write's result; a failure is thrown as its typed error. `now`:
 * the global time as of now (LeaseStateMachine.timeNow), which `remainingMs` counts from.
 */
export function writeReply(cmd: LeaseCommand, result: LeaseResult, now: number): unknown {
  if (!result.ok) throw failureToError(result);
  if (cmd.op === 'claim' && 'extended' in result) {
    const r: ClaimReply = { holder: result.holder, expiry: result.expiry, remainingMs: Math.max(0, result.expiry - now), token: result.token, extended: result.extended };
    return r;
  }
  if (cmd.op === 'extend' && 'expiry' in result) {
    return { holder: result.holder, expiry: result.expiry, remainingMs: Math.max(0, result.expiry - now), token: result.token };
  }
  if (cmd.op === 'revoke') return { revoked: true };
  if ('pinnedBy' in result) return { pinnedBy: result.pinnedBy };
  throw new TenureError('Internal', `unexpected result for ${cmd.op}`);
}
