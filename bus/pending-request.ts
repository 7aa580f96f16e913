/** What both bus implementations keep for a request awaiting its reply. */
import { TenureError } from '../errors/errors.ts';

export interface PendingRequest<Timer = unknown> {
  subject: string;
  resolve: (value: unknown) => void;
  reject: (err: TenureError) => void;
  timer?: Timer;
  /** Stops watching the signal (bus/abort-watch.ts). */
  offAbort?: () => void;
}

/** The typed error a caller gets when its AbortSignal fires. */
export function cancelled(signal: AbortSignal): TenureError {
  const reason = signal.reason;
  const why = reason instanceof Error ? reason.message : reason !== undefined ? String(reason) : 'aborted';
  return new TenureError('Cancelled', `request cancelled: ${why}`);
}
