/**
 * Open-loop load at a fixed offered rate, without coordinated omission.
 *
 * A closed-loop client that waits for each answer before sending the next one sends LESS when the
 * server stalls, and so never measures the requests it would have sent during the stall: its
 * percentiles describe the service time of the requests that happened to be sent, not what callers
 * arriving at a steady rate experience. Here every send has a SCHEDULED time fixed in advance
 * (start + k / rate); a send that leaves late (because the generator fell behind) still measures
 * its latency from the scheduled time, so a stall shows up in full in the histogram.
 *
 * `OpenLoopSchedule` is pure (time is passed in) so the maths can be tested without a clock.
 */

export interface RatePhase {
  /** Length of this phase in ms. */
  durationMs: number;
  /** Offered operations per second, by operation name (e.g. { claim: 4000, extend: 1000 }). */
  rates: Record<string, number>;
  label?: string;
}

export interface DueSend {
  op: string;
  /** Scheduled send time, ms since the schedule's start. */
  at: number;
}

export class OpenLoopSchedule {
  private readonly starts: number[] = [];
  readonly totalMs: number;
  /** Per op: next scheduled time (ms since start) and the phase it was computed in. */
  private readonly next = new Map<string, { at: number; phase: number }>();

  constructor(readonly phases: RatePhase[]) {
    let t = 0;
    for (const p of phases) {
      if (!(p.durationMs > 0)) throw new Error('open loop: every phase needs a positive duration');
      this.starts.push(t);
      t += p.durationMs;
    }
    this.totalMs = t;
    const ops = new Set(phases.flatMap((p) => Object.keys(p.rates)));
    for (const op of ops) this.next.set(op, this.firstFrom(op, 0, 0));
  }

  /** The phase index active at `t` ms (the last one once the schedule is over). */
  phaseAt(t: number): number {
    for (let i = this.phases.length - 1; i >= 0; i--) if (t >= this.starts[i]) return i;
    return 0;
  }

  phaseStart(i: number): number {
    return this.starts[i];
  }

  /** Phase `i` offers less in total than the phase before it (a load drop, e.g. overload's recovery). */
  isDrop(i: number): boolean {
    const total = (p: RatePhase) => Object.values(p.rates).reduce((a, r) => a + r, 0);
    return i > 0 && i < this.phases.length && total(this.phases[i]) < total(this.phases[i - 1]);
  }

  /** Every send scheduled at or before `now` (ms since start) not handed out yet, in time order. */
  due(now: number): DueSend[] {
    const out: DueSend[] = [];
    for (const [op, n] of this.next) {
      let cur = n;
      while (cur.at <= now && cur.at < this.totalMs) {
        out.push({ op, at: cur.at });
        cur = this.after(op, cur);
      }
      this.next.set(op, cur);
    }
    if (this.next.size > 1) out.sort((a, b) => a.at - b.at);
    return out;
  }

  /** How many sends of `op` the schedule offers in [from, to) ms (for reports and tests). */
  offered(op: string, from: number, to: number): number {
    let count = 0;
    let cur = this.firstFrom(op, 0, 0);
    while (cur.at < to && cur.at < this.totalMs) {
      if (cur.at >= from) count++;
      cur = this.after(op, cur);
    }
    return count;
  }

  private after(op: string, cur: { at: number; phase: number }): { at: number; phase: number } {
    const rate = this.phases[cur.phase].rates[op] ?? 0;
    const at = cur.at + 1000 / rate;
    const end = this.starts[cur.phase] + this.phases[cur.phase].durationMs;
    if (at < end) return { at, phase: cur.phase };
    return this.firstFrom(op, cur.phase + 1, end);
  }

  /** First send of `op` in phase `phase` or later, no earlier than `t`. */
  private firstFrom(op: string, phase: number, t: number): { at: number; phase: number } {
    for (let i = phase; i < this.phases.length; i++) {
      const rate = this.phases[i].rates[op] ?? 0;
      if (rate > 0) return { at: Math.max(t, this.starts[i]), phase: i };
    }
    return { at: Infinity, phase: this.phases.length - 1 };
  }
}

/** Latency of one open-loop operation: completion minus SCHEDULED send time (never the actual send). */
export function scheduledLatency(scheduledAt: number, completedAt: number): number {
  return Math.max(0, completedAt - scheduledAt);
}

/**
 * Parses a rate profile such as `15s@2000,60s@10000,30s@2000` (duration@ops/s) into phases for
 * one op, or `20s@claim=3000+extend=1000` for several.
 */
export function parseRateProfile(spec: string, defaultOp: string): RatePhase[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((part) => {
      const m = /^(\d+(?:\.\d+)?)(ms|s)?@(.+)$/.exec(part);
      if (!m) throw new Error(`bad rate phase ${JSON.stringify(part)} (expected e.g. 30s@5000 or 30s@claim=4000+extend=1000)`);
      const durationMs = Number(m[1]) * (m[2] === 'ms' ? 1 : 1000);
      const rates: Record<string, number> = {};
      for (const r of m[3].split('+')) {
        const [k, v] = r.includes('=') ? r.split('=') : [defaultOp, r];
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0) throw new Error(`bad rate ${JSON.stringify(r)}`);
        rates[k] = n;
      }
      return { durationMs, rates };
    });
}
