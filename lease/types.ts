/**
 * Commands, results and events of the lease state machine (lease/fsm.ts). Commands travel in
 * Raft entries; results go back to the proposer; events go to subscribers on lease-change subjects.
 * Everything here is plain data so it survives msgpack and JSON unchanged.
 */
import { TenureError } from '../errors/errors.ts';

export interface LeaseKey {
  namespace: string;
  model: string;
  lease: string;
}

/** Every command names its client and a per-client sequence number, so a retry is recognised. */
interface CommandBase {
  clientId: string;
  seq: number;
}

export interface ClaimCommand extends CommandBase {
  op: 'claim';
  key: LeaseKey;
  holder: string;
  durationMs: number;
}

export interface ExtendCommand extends CommandBase {
  op: 'extend';
  key: LeaseKey;
  holder: string;
  durationMs: number;
}

export interface RevokeCommand extends CommandBase {
  op: 'revoke';
  key: LeaseKey;
  holder: string;
}

export interface PinCommand extends CommandBase {
  op: 'pin';
  key: LeaseKey;
  entity: string;
}

export interface UnpinCommand extends CommandBase {
  op: 'unpin';
  key: LeaseKey;
  entity: string;
}

/** Sent by the clock updater: advances global time from `oldTime` to `newTime`. */
export interface SetTimeCommand extends CommandBase {
  op: 'setTime';
  oldTime: number;
  newTime: number;
}

export type LeaseCommand = ClaimCommand | ExtendCommand | RevokeCommand | PinCommand | UnpinCommand | SetTimeCommand;
export type LeaseOp = LeaseCommand['op'];
export const LEASE_OPS: readonly LeaseOp[] = ['claim', 'extend', 'revoke', 'pin', 'unpin', 'setTime'];

// ---- results: values, never exceptions, so a batch applies identically everywhere ----
// Results and events are shared (a retry gets the remembered object; some are frozen): read-only.

export interface ClaimOk {
  ok: true;
  holder: string;
  expiry: number;
  token: number;
  /** The holder already held the key, so the claim acted as an extend (token unchanged). */
  extended: boolean;
}

export interface ExtendOk {
  ok: true;
  holder: string;
  expiry: number;
  token: number;
}

export interface RevokeOk {
  ok: true;
}

export interface PinOk {
  ok: true;
  /** Entities pinning the key after this command, sorted. */
  pinnedBy: string[];
}

export interface SetTimeOk {
  ok: true;
  time: number;
  /** How many leases expired. */
  expired: number;
}

export type LeaseOk = ClaimOk | ExtendOk | RevokeOk | PinOk | SetTimeOk;

export interface HeldFailure {
  ok: false;
  code: 'Held';
  message: string;
  holder: string;
}

export interface NotHeldFailure {
  ok: false;
  code: 'NotHeld';
  message: string;
  /** Current holder, or null when the key is free. */
  holder: string | null;
}

export interface OutOfSyncFailure {
  ok: false;
  code: 'OutOfSync';
  message: string;
  /** The FSM's global time, so the clock updater can retry with a fresh `oldTime`. */
  current: number;
}

export interface InvalidFailure {
  ok: false;
  code: 'Invalid';
  message: string;
  field: string;
}

export type LeaseFailure = HeldFailure | NotHeldFailure | OutOfSyncFailure | InvalidFailure;
export type LeaseResult = LeaseOk | LeaseFailure;

/** A failed result as the typed error a caller sees on the wire. */
export function failureToError(result: LeaseFailure): TenureError {
  const { ok: _ok, code, message, ...details } = result;
  return new TenureError(code, message, details);
}

// ---- events: one per actual change, in apply order ----

export interface LeaseChangeEvent {
  kind: 'claimed' | 'extended' | 'revoked' | 'expired';
  key: LeaseKey;
  holder: string;
  expiry: number;
  token: number;
  /** Raft index of the entry that caused the change. */
  index: number;
}

export interface PinEvent {
  kind: 'pinned' | 'unpinned';
  key: LeaseKey;
  /** The lease's holder, expiry and token if the key is held, else null. */
  holder: string | null;
  expiry: number | null;
  token: number | null;
  index: number;
  entity: string;
  /** Entities pinning the key after the change, sorted. */
  pinnedBy: string[];
}

export type LeaseEvent = LeaseChangeEvent | PinEvent;
export type LeaseEventKind = LeaseEvent['kind'];

// ---- reads ----

export interface LeaseInfo {
  key: LeaseKey;
  holder: string;
  expiry: number;
  /** expiry - global time, never negative. */
  remainingMs: number;
  token: number;
  pinnedBy: string[];
}

export interface LeaseListFilter {
  namespace?: string;
  model?: string;
}
