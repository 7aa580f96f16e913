/** Client-side retry timing, shared by TenureClient and the leadership helper. */
import { TenureError, type ErrorCode } from '../errors/errors.ts';
import { watchAbort } from '../bus/abort-watch.ts';
import { systemClock, type Clock } from '../clock/clock.ts';

/** Codes after which a write is tried again with the same lane and seq (the FSM dedupes a repeat). */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set(['Timeout', 'NoResponders', 'Overloaded', 'NoLeader', 'NotLeader']);

/**
 * Whether an attempt that failed with `err` is worth another, given the budget that attempt had
 * and what was left of the call's deadline when it started. The server holds a request to the
 * attempt's budget, not the caller's: its `DeadlineExceeded` after a share that was shorter than
 * what remained (e.g. an election longer than the share) says only that this attempt ran out —
 * nothing was proposed — so the call goes on with the rest of its budget.
 */
export function isRetryable(err: TenureError, attemptBudgetMs: number, remainingMs: number): boolean {
  return RETRYABLE.has(err.code) || (err.code === 'DeadlineExceeded' && attemptBudgetMs < remainingMs);
}

/** Jittered exponential backoff; at least the server's retryAfterMs when it sent one. */
export function retryDelay(err: TenureError, attempt: number): number {
  // The budget is already spent: go again at once.
  if (err.code === 'Timeout' || err.code === 'DeadlineExceeded') return 0;
  const hinted = typeof err.details.retryAfterMs === 'number' ? err.details.retryAfterMs : 0;
  const backoff = Math.min(1000, 25 * 2 ** (attempt - 1)) * (0.5 + Math.random());
  return Math.max(hinted * (1 + Math.random() * 0.2), backoff);
}

/** The least budget an attempt is given (unless less than that is left of the call's). */
export const MIN_ATTEMPT_MS = 250;

/**
 * The budget (ms) of attempt `attempt` of `maxAttempts` with `remainingMs` left: a share that
 * leaves room for the attempts that may follow a Timeout, but never less than MIN_ATTEMPT_MS —
 * and all of it when what the share would leave is under MIN_ATTEMPT_MS. A retry that short is
 * rarely answered when the first attempt was slow rather than lost: a leaseclaimer extend with
 * 450 ms of validity left got 250 ms and then 200, and in a claim herd's stall that failed where
 * one attempt of 450 ms would have been answered (docs/benchmarks.md, twenty-eighth session).
 */
export function attemptBudget(remainingMs: number, attempt: number, maxAttempts: number): number {
  const left = maxAttempts - attempt + 1;
  if (left <= 1) return Math.floor(remainingMs);
  const share = Math.max(remainingMs / left, Math.min(remainingMs, MIN_ATTEMPT_MS));
  return Math.floor(remainingMs - share < MIN_ATTEMPT_MS ? remainingMs : share);
}

/** Sleeps `ms` on `clock`; an abort ends it early with Cancelled. */
export function sleep(ms: number, signal?: AbortSignal, clock: Clock = systemClock): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new TenureError('Cancelled', 'cancelled'));
    const timer = clock.setTimeout(() => {
      off?.();
      resolve();
    }, ms);
    const off =
      signal &&
      watchAbort(signal, () => {
        clock.clearTimeout(timer);
        reject(new TenureError('Cancelled', 'cancelled'));
      });
  });
}
