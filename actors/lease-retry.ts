/**
 * The lease manager's retry policy for commands, always inside the caller's deadline, with
 * jittered exponential backoff:
 * - NotLeader / NoLeader: the command was not applied (or, after a lost leadership, its outcome is
 *   unknown and the retry's same clientId+seq returns the first outcome): retried, at most
 *   MAX_ATTEMPTS times;
 * - Overloaded: a shed claim goes back to its caller at once with the leader's `retryAfterMs`
 *   (retrying it here would keep the load the leader just shed); extend, revoke, pin and unpin
 *   retry up to 3 attempts, waiting at least `retryAfterMs`;
 * - Timeout (outcome unknown): claims are NOT retried — a claim storm after timeouts is the Juju
 *   "tsunami" — while extend, revoke, pin and unpin get up to 3 attempts, each with a share of the
 *   budget so that a retry still has time;
 * - anything else (Held, NotHeld, Invalid, DeadlineExceeded, Cancelled) is final.
 * When the next attempt could not start before the deadline, the last error is returned as is.
 */
import type { Clock } from '../clock/clock.ts';
import { TenureError } from '../errors/errors.ts';
import type { LeaseCommand, LeaseResult } from '../lease/types.ts';
import { submitVia, type Forwarder, type SubmitSettle } from './forwarder.ts';
import { promiseOf } from './settle.ts';
import type { WriteOp } from './lease-requests.ts';

export const MAX_ATTEMPTS = 8;
const TIMEOUT_ATTEMPTS: Record<WriteOp, number> = { claim: 1, extend: 3, revoke: 3, pin: 3, unpin: 3 };
const OVERLOADED_ATTEMPTS: Record<WriteOp, number> = { claim: 1, extend: 3, revoke: 3, pin: 3, unpin: 3 };

export function submitWithRetry(
  forwarder: Forwarder,
  cmd: LeaseCommand,
  op: WriteOp,
  deadline: number,
  clock: Clock,
  onRetry: () => void = () => {},
): Promise<LeaseResult> {
  return promiseOf((settle) => submitWithRetryThen(forwarder, cmd, op, deadline, clock, onRetry, settle));
}

/**
 * `submitWithRetry` with a callback (no promise per attempt on the leader's path); `done` runs once.
 * With `first`, the first attempt was made elsewhere (`submitMany`, with `firstAttemptDeadline`) and
 * failed with `first.err`: the policy continues from there with the same retries. `firstCopy`: the
 * caller's request is the only copy of the command (ParsedWrite.firstCopy); the first attempt says so.
 */
export function submitWithRetryThen(
  forwarder: Forwarder,
  cmd: LeaseCommand,
  op: WriteOp,
  deadline: number,
  clock: Clock,
  onRetry: () => void,
  done: SubmitSettle,
  first: { err: unknown; attemptDeadline: number } | null = null,
  firstCopy = false,
): void {
  let timeoutsLeft = TIMEOUT_ATTEMPTS[op];
  let attempt = 0;
  let attemptDeadline = deadline;
  // Attempts run one after another, so one outcome handler serves them all.
  const outcome: SubmitSettle = (err, result) => {
    if (!err) return done(null, result);
    if (!(err instanceof TenureError)) return done(err);
    let delay: number;
    if (err.code === 'Timeout' || (err.code === 'DeadlineExceeded' && attemptDeadline < deadline)) {
      if (--timeoutsLeft < 1) return done(err);
      delay = 0;
    } else if (err.code === 'NotLeader' || err.code === 'NoLeader' || err.code === 'Overloaded') {
      if (attempt >= (err.code === 'Overloaded' ? OVERLOADED_ATTEMPTS[op] : MAX_ATTEMPTS)) return done(err);
      const hinted = typeof err.details.retryAfterMs === 'number' ? err.details.retryAfterMs : 0;
      delay = Math.max(hinted, backoff(attempt));
    } else {
      return done(err);
    }
    if (clock.now() + delay >= deadline) return done(err);
    onRetry();
    // Never retry inside the failed attempt's own call stack (a refusal may be synchronous).
    if (delay > 0) clock.setTimeout(next, delay);
    else queueMicrotask(next);
  };
  const next = (): void => {
    attempt++;
    attemptDeadline = attemptDeadlineOf(timeoutsLeft, deadline, clock.now());
    // Only the first attempt can be the command's only copy: a retry follows one whose fate is unknown.
    submitVia(forwarder, cmd, { deadline: attemptDeadline, firstCopy: attempt === 1 && firstCopy }, outcome);
  };
  if (!first) return next();
  attempt = 1;
  attemptDeadline = first.attemptDeadline;
  outcome(first.err);
}

/** The first attempt's own deadline: a share of the budget when a Timeout may be retried. */
export function firstAttemptDeadline(op: WriteOp, deadline: number, now: number): number {
  return attemptDeadlineOf(TIMEOUT_ATTEMPTS[op], deadline, now);
}

function attemptDeadlineOf(timeoutsLeft: number, deadline: number, now: number): number {
  return timeoutsLeft > 1 ? now + (deadline - now) / timeoutsLeft : deadline;
}

/** Jittered exponential backoff: 10 ms, 20 ms, 40 ms … capped at 500 ms, times a random 0.5–1.5. */
export function backoff(attempt: number, baseMs = 10, capMs = 500): number {
  return Math.min(capMs, baseMs * 2 ** (attempt - 1)) * (0.5 + Math.random());
}
