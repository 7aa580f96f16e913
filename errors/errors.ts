/**
 * Typed errors every caller can see. On the wire an error is `{ code, message, ...details }`
 * (see bus/codec.ts); `TenureError.fromWire` restores it on the caller's side.
 */
export const ERROR_CODES = [
  'Held',
  'NotHeld',
  'Invalid',
  'OutOfSync',
  'NotLeader',
  'NoLeader',
  'Overloaded',
  'DeadlineExceeded',
  'Timeout',
  'Cancelled',
  'NoResponders',
  'Internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export type ErrorDetails = Record<string, unknown>;

export interface WireError extends ErrorDetails {
  code: ErrorCode;
  message: string;
}

export class TenureError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    // Typed errors are answers, not bugs: their stack is never sent and capturing it was a visible
    // share of a shedding node's CPU (profiled under the leaseclaimer herd), so none is taken.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = code;
    this.code = code;
    this.details = details;
  }

  toWire(): WireError {
    return { ...this.details, code: this.code, message: this.message };
  }

  static fromWire(value: unknown): TenureError {
    if (value && typeof value === 'object') {
      const { code, message, ...details } = value as Record<string, unknown>;
      if (isErrorCode(code)) return new TenureError(code, typeof message === 'string' ? message : code, details);
    }
    return new TenureError('Internal', 'malformed error reply', { reply: value });
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** `NotLeader` naming the leader when another node leads, else `NoLeader`. */
export function notLeaderError(leader: string | null, self?: string): TenureError {
  return leader && leader !== self
    ? new TenureError('NotLeader', `not the leader; leader is ${leader}`, { leader })
    : new TenureError('NoLeader', 'no leader elected', { leader: null });
}

/** Bad input: always names the field and why, and changes nothing. */
export function invalid(field: string, why: string): TenureError {
  return new TenureError('Invalid', `${field}: ${why}`, { field });
}

/** Anything that is not already a TenureError becomes `Internal` (the message is kept, the stack is not sent). */
export function toTenureError(err: unknown): TenureError {
  if (err instanceof TenureError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new TenureError('Internal', message);
}
