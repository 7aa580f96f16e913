/** Client-side retry timing, shared by TenureClient and the leadership helper. */
import { TenureError } from '../errors/errors.ts';

/** Jittered exponential backoff; at least the server's retryAfterMs when it sent one. */
export function retryDelay(err: TenureError, attempt: number): number {
  if (err.code === 'Timeout') return 0; // the budget is already spent; go again at once
  const hinted = typeof err.details.retryAfterMs === 'number' ? err.details.retryAfterMs : 0;
  const backoff = Math.min(1000, 25 * 2 ** (attempt - 1)) * (0.5 + Math.random());
  return Math.max(hinted * (1 + Math.random() * 0.2), backoff);
}

/**
 * The budget (ms) of attempt `attempt` of `maxAttempts` with `remainingMs` left: a share that
 * leaves room for the attempts that may follow a Timeout, but never less than 250 ms.
 */
export function attemptBudget(remainingMs: number, attempt: number, maxAttempts: number): number {
  const left = maxAttempts - attempt + 1;
  return Math.floor(left > 1 ? Math.max(remainingMs / left, Math.min(remainingMs, 250)) : remainingMs);
}

/** Sleeps `ms`; an abort ends it early with Cancelled. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new TenureError('Cancelled', 'cancelled'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new TenureError('Cancelled', 'cancelled'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
