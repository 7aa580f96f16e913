/**
 * How long a request read now may have sat unread in this process — in its socket buffer while its
 * event loop stood still (a long GC pause, a synchronous stretch of work, SIGSTOP, a frozen VM).
 *
 * `Tenure-Deadline-Ms` carries the caller's remaining budget as relative milliseconds (no two
 * machines need to agree on the time), so a node turns it into a deadline when it reads the
 * request. Time the request spent before that is invisible: a node resuming after a 20 s stop would
 * read every request delivered to it meanwhile as fresh, and propose writes whose callers gave up
 * long ago. A node process hands its load monitor's stall bound here (`watchArrivals`, from
 * actors/load-monitor.ts `unseenMs`: the probe timer it already runs); `deadlineFrom`
 * (bus/nats-headers.ts) counts a deadline from before the stall, and a request whose caller's budget
 * is already spent is dropped unread. A process that registers nothing counts deadlines from
 * reading, as before.
 */

let source: (() => number) | null = null;

/** Registers where the stall bound comes from; returns the function that unregisters it. */
export function watchArrivals(unseen: () => number): () => void {
  source = unseen;
  return () => {
    if (source === unseen) source = null;
  };
}

/** At most how long a request read now may have waited unread (ms); 0 when nothing is registered. */
export function unseenMs(): number {
  return source === null ? 0 : source();
}
