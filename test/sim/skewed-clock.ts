import type { Clock, SimClock } from '../../clock/clock.ts';

/**
 * One process's clock in a simulation: the shared SimClock (true time) seen through a rate and an
 * offset, as a real machine's clock differs from another's. `now()` = offset + rate × true time
 * (whole ms, as Date.now()); a timer of `ms` fires after `ms / rate` of true time.
 */
export class SkewedClock implements Clock {
  constructor(
    private readonly base: SimClock,
    readonly rate: number,
    readonly offsetMs: number,
  ) {
    if (!(rate > 0)) throw new RangeError('rate must be positive');
  }

  now(): number {
    return Math.floor(this.offsetMs + this.base.now() * this.rate);
  }

  setTimeout(fn: () => void, ms: number): unknown {
    return this.base.setTimeout(fn, Math.max(0, ms) / this.rate);
  }

  clearTimeout(handle: unknown): void {
    this.base.clearTimeout(handle);
  }
}
