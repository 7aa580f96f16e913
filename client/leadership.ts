/**
 * What a Juju unit agent does with a leadership lease, as one helper: claim; while holding,
 * extend at about half the duration; when someone else holds it, wait for release and claim
 * again. Changes are reported through callbacks and an async iterator:
 *
 *   const lead = client.leadership('application-leadership', 'm1', 'app1', 'app1/0', { durationMs: 10_000 });
 *   for await (const change of lead) console.log(change.type);   // 'acquired' | 'lost'
 *   …
 *   await lead.stop();   // revokes if held
 *
 * "Lost" is reported conservatively: when an extend says NotHeld, or when extends keep failing
 * until the time the lease was last known to be good for has run out locally. That time is
 * measured from the moment the extend was SENT plus the remaining time the server reported, so
 * the holder stops believing it leads no later than the lease can have expired.
 */
import { TenureError } from '../errors/errors.ts';
import type { LeaseKey } from '../lease/types.ts';
import { retryDelay, sleep } from './retry.ts';
import type { TenureClient } from './tenure-client.ts';

export type LeadershipChange =
  | { type: 'acquired'; token: number; expiry: number }
  | { type: 'lost'; reason: string };

export interface LeadershipOptions {
  durationMs: number;
  /** How often to extend while holding (default durationMs / 2). */
  extendEveryMs?: number;
  /** Longest single wait for release before claiming again anyway (default 30 s). */
  waitMs?: number;
  onAcquired?: (change: Extract<LeadershipChange, { type: 'acquired' }>) => void;
  onLost?: (change: Extract<LeadershipChange, { type: 'lost' }>) => void;
  /** Aborting stops the helper (like stop(), without revoking). */
  signal?: AbortSignal;
}

export class LeadershipHandle implements AsyncIterable<LeadershipChange> {
  private leading = false;
  private token: number | null = null;
  private validUntil = 0;
  /** The same promise on the wall clock (clock.wall), when the clock has one: see `expired`. */
  private wallUntil = Infinity;
  private expiryTimer: unknown = null;
  private stopped = false;
  private readonly abort = new AbortController();
  private readonly buffered: LeadershipChange[] = [];
  private readers: ((r: IteratorResult<LeadershipChange>) => void)[] = [];
  private readonly done: Promise<void>;

  constructor(
    private readonly client: TenureClient,
    readonly key: LeaseKey,
    readonly holder: string,
    private readonly opts: LeadershipOptions,
  ) {
    if (!(opts.durationMs >= 2)) throw new TenureError('Invalid', 'durationMs: must be at least 2', { field: 'durationMs' });
    opts.signal?.addEventListener('abort', () => void this.stop({ revoke: false }), { once: true });
    this.done = this.run();
  }

  /** True while the lease is held as far as this holder can know: never past the time it was last promised. */
  get isLeader(): boolean {
    return this.leading && !this.expired();
  }

  /**
   * The promised time is up, by the client's clock (monotonic: a stepped wall clock cannot make a
   * holder believe longer) or by the wall clock (which counts a machine's suspend, which Linux's
   * monotonic clock does not). Either one ends the belief; only both failing together could not.
   */
  private expired(): boolean {
    const clock = this.client.clock;
    return clock.now() >= this.validUntil || (clock.wall !== undefined && clock.wall() >= this.wallUntil);
  }

  /** Both clocks' readings as a request leaves: `sent + remainingMs` on each is what its answer promises. */
  private sentAt(): { mono: number; wall: number } {
    const clock = this.client.clock;
    return { mono: clock.now(), wall: clock.wall?.() ?? -Infinity };
  }

  /** Fencing token of the current tenure (null when not leading). */
  get currentToken(): number | null {
    return this.isLeader ? this.token : null;
  }

  /** Stops the helper; revokes the lease if held (default). Ends the iterator. */
  async stop(opts: { revoke?: boolean } = {}): Promise<void> {
    if (this.stopped) return this.done;
    this.stopped = true;
    this.abort.abort();
    await this.done.catch(() => {});
    if (this.leading) {
      // Stop believing first: once the revoke is applied another holder may take the lease at once.
      this.lose('stopped');
      if (opts.revoke ?? true) await this.client.revoke(this.key, this.holder, { deadlineMs: 2000 }).catch(() => {});
    }
    for (const r of this.readers) r({ value: undefined, done: true });
    this.readers = [];
  }

  [Symbol.asyncIterator](): AsyncIterator<LeadershipChange> {
    return {
      next: () => {
        const value = this.buffered.shift();
        if (value) return Promise.resolve({ value, done: false });
        if (this.stopped) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.readers.push(resolve));
      },
      return: async () => {
        await this.stop();
        return { value: undefined, done: true };
      },
    };
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const { durationMs } = this.opts;
    const every = this.opts.extendEveryMs ?? Math.max(1, Math.floor(durationMs / 2));
    let failures = 0;
    while (!this.stopped) {
      try {
        if (!this.leading) {
          const sent = this.sentAt();
          try {
            const r = await this.client.claim(this.key, this.holder, durationMs, { signal, deadlineMs: Math.max(every, 1000) });
            // An answer that arrives after the time it promised has run out gives nothing to lead on.
            this.validUntil = sent.mono + r.remainingMs;
            this.wallUntil = sent.wall + r.remainingMs;
            if (!this.expired()) this.acquire(r.token, r.expiry, this.validUntil, this.wallUntil);
            else await sleep(Math.max(10, every / 4), signal, this.client.clock);
          } catch (err) {
            if (!(err instanceof TenureError) || err.code !== 'Held') throw err;
            await this.client.wait(this.key, { signal, deadlineMs: this.opts.waitMs ?? 30_000 }).catch((e) => {
              if (!(e instanceof TenureError) || e.code !== 'DeadlineExceeded') throw e;
            });
          }
        } else {
          // Extend every `every` (jittered) but never later than half the time left — a lease may
          // have up to a clock tick less than its duration (README, claim) — and a little early when
          // the previous extend failed.
          const half = (this.validUntil - this.client.clock.now()) / 2;
          const untilDue = failures ? Math.min(every / 4, half) : Math.min(every * (0.9 + Math.random() * 0.2), half);
          await sleep(Math.max(1, untilDue), signal, this.client.clock);
          if (this.leading && this.expired()) this.lose('the lease time ran out before an extend was answered'); // by the wall clock (a suspend)
          if (!this.leading) continue; // the time ran out while it slept: claim again
          const sent = this.sentAt();
          try {
            const r = await this.client.extend(this.key, this.holder, durationMs, { signal, deadlineMs: Math.max(1, Math.min(every, this.validUntil - sent.mono)) });
            if (this.leading) this.holdUntil(Math.max(this.validUntil, sent.mono + r.remainingMs), Math.max(this.wallUntil, sent.wall + r.remainingMs));
          } catch (err) {
            if (err instanceof TenureError && err.code === 'NotHeld') {
              this.lose('not held');
              continue;
            }
            throw err;
          }
        }
        failures = 0;
      } catch (err) {
        if (this.stopped) break;
        failures++;
        if (this.leading && this.expired()) {
          this.lose(`could not extend in time: ${(err as Error).message}`);
        }
        if (!this.leading) {
          const delay = err instanceof TenureError ? retryDelay(err, failures) : 100 * failures;
          await sleep(Math.max(10, delay), signal, this.client.clock).catch(() => {});
        }
      }
    }
  }

  private acquire(token: number, expiry: number, validUntil: number, wallUntil: number): void {
    this.leading = true;
    this.token = token;
    this.holdUntil(validUntil, wallUntil);
    const change = { type: 'acquired' as const, token, expiry };
    this.emit(change);
    this.opts.onAcquired?.(change);
  }

  /**
   * Leads until `validUntil` (and `wallUntil` on the wall clock); `lost` is reported at that moment
   * unless an extend moves it first. The timer runs on the monotonic clock; `isLeader` reads both
   * clocks every time, so after a suspend it is false before the timer catches up.
   */
  private holdUntil(validUntil: number, wallUntil: number): void {
    this.validUntil = validUntil;
    this.wallUntil = wallUntil;
    const clock = this.client.clock;
    if (this.expiryTimer !== null) clock.clearTimeout(this.expiryTimer);
    this.expiryTimer = clock.setTimeout(() => {
      this.expiryTimer = null;
      if (this.leading && this.expired()) this.lose('the lease time ran out before an extend was answered');
    }, Math.max(0, Math.min(validUntil - clock.now(), clock.wall ? wallUntil - clock.wall() : Infinity)));
  }

  private lose(reason: string): void {
    if (this.expiryTimer !== null) {
      this.client.clock.clearTimeout(this.expiryTimer);
      this.expiryTimer = null;
    }
    if (!this.leading) return;
    this.leading = false;
    this.token = null;
    const change = { type: 'lost' as const, reason };
    this.emit(change);
    this.opts.onLost?.(change);
  }

  private emit(change: LeadershipChange): void {
    const r = this.readers.shift();
    if (r) r({ value: change, done: false });
    else this.buffered.push(change);
  }
}
