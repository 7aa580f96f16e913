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
import { invalid } from '../errors/errors.ts';
import { validateCommand, validateKey, validateListFilter } from '../lease/validate.ts';
import type { LeaseCommand, LeaseInfo, LeaseKey, LeaseListFilter } from '../lease/types.ts';

export type WriteOp = 'claim' | 'extend' | 'revoke' | 'pin' | 'unpin';
export type ReadOp = 'get' | 'list' | 'wait' | 'status';

/** Longest budget a request may ask for in its body (`deadlineMs`). */
export const MAX_REQUEST_DEADLINE_MS = 10 * 60 * 1000;
export const DEFAULT_LIST_LIMIT = 1000;
export const MAX_LIST_LIMIT = 10_000;

export interface ParsedWrite {
  cmd: LeaseCommand;
  /** The body's `deadlineMs` (relative budget), if any. */
  deadlineMs?: number;
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
  if (clientId === undefined && seq === undefined) ({ clientId, seq } = freshClient());
  else if (clientId === undefined) throw invalid('clientId', 'missing (seq was given; send both or neither)');
  else if (seq === undefined) throw invalid('seq', 'missing (clientId was given; send both or neither)');
  const cmd = validateCommand({ ...b, op, clientId, seq });
  return { cmd, deadlineMs: optionalDeadline(b.deadlineMs) };
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

export function leaseView(key: LeaseKey, info: LeaseInfo | null, pins: string[]): LeaseView {
  const { namespace, model, lease } = key;
  if (info === null) return { namespace, model, lease, holder: null, expiry: null, remainingMs: null, token: null, pinnedBy: pins };
  return {
    namespace,
    model,
    lease,
    holder: info.holder,
    expiry: info.expiry,
    remainingMs: info.remainingMs,
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

export interface WaitReply {
  free: true;
  reason: 'free' | 'revoked' | 'expired';
  index?: number;
}
