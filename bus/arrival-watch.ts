/**
 * How long a request read now may have sat unread in this process — in its socket buffer while its
 * event loop stood still (a long GC pause, a synchronous stretch of work, SIGSTOP, a frozen VM).
 *
 * `Tenure-Deadline-Ms` carries the caller's remaining budget as relative milliseconds (no two
 * machines need to agree on the time), so a node turns it into a deadline when it reads the
 * request. Time the request spent before that is invisible: a node resuming after a 20 s stop would
 * read every request delivered to it meanwhile as fresh, and propose writes whose callers gave up
 * long ago. A probe timer fires every PROBE_MS; when the loop is overdue for it by more than
 * STALL_MS (or it has just fired that late), a request read now may have arrived as early as the
 * last time the probe ran, and its deadline is counted from then (bus/nats-headers.ts
 * `deadlineFrom`): one whose caller's budget is already spent is dropped unread. Normal jitter
 * (under STALL_MS) counts as nothing. Off until `startArrivalWatch()` — node processes start it
 * (cli/run-node.ts); a process that does not start it counts deadlines from reading, as before.
 */

/** How often the probe runs (ms). */
export const PROBE_MS = 20;
/** Lateness under this is ordinary jitter and ignored (ms). */
export const STALL_MS = 50;

let timer: NodeJS.Timeout | null = null;
/** performance.now() at which the probe is next due. */
let expected = 0;
/** How late the probe last fired, if that was a stall (else 0), and when (performance.now()). */
let stalled = 0;
let stalledAt = 0;

/** Starts the probe (idempotent); returns the function that stops it. */
export function startArrivalWatch(): () => void {
  if (timer === null) {
    expected = performance.now() + PROBE_MS;
    timer = setInterval(() => {
      const now = performance.now();
      const late = now - expected;
      expected = now + PROBE_MS;
      // A late probe marks the stall until the next probe runs (late again, or on time: cleared).
      stalled = late > STALL_MS ? late : 0;
      stalledAt = now;
    }, PROBE_MS);
    timer.unref();
  }
  return stopArrivalWatch;
}

export function stopArrivalWatch(): void {
  if (timer !== null) clearInterval(timer);
  timer = null;
  stalled = 0;
}

/**
 * At most how long a request read now may have waited unread (ms): 0 unless the loop is stalled or
 * has just come out of a stall. While the probe is overdue, since the probe's last run; after a late
 * probe and until the next one, since the run before it. Never more than the stall in progress or
 * just ended (a loop that lags turn after turn loses one turn's lag from each budget, not the sum).
 */
export function unseenMs(): number {
  if (timer === null) return 0;
  const now = performance.now();
  const overdue = now - expected;
  if (overdue > STALL_MS) return Math.ceil(overdue + PROBE_MS);
  if (stalled > 0) return Math.ceil(now - stalledAt + stalled + PROBE_MS);
  return 0;
}
