import { setFlagsFromString } from 'node:v8';

/**
 * Keeps a node's resident memory near a budget without capping its heap.
 *
 * V8 grows the heap lazily: after each full collection it lets the heap reach up to ≈ 4× what
 * survived before collecting again. Under 5× overload that turned 50–90 MB of live data into
 * 500–650 MB of RSS per node. A hard cap (`--max-old-space-size`) would hold the line but kill a
 * node whose lease table legitimately outgrows it. Instead this samples RSS and, as it approaches
 * the budget, lowers the factor by which V8 may grow the heap over the live data
 * (`--heap-growing-percent`, which V8 reads at every limit recomputation): more frequent
 * collections, less garbage held. Far below the budget V8's own adaptive factor is restored, so an
 * idle or lightly loaded node pays nothing. A node whose live data exceeds the budget keeps
 * working (it collects often and `overBudget` says so in its status): the budget is a target, not
 * a limit.
 */
export interface MemoryGovernorOptions {
  budgetBytes: number;
  /** Sampling period (default 250 ms). */
  intervalMs?: number;
  /** RSS source, injectable for tests (default `process.memoryUsage.rss`). */
  rss?: () => number;
  /** Applies a heap growing percent (0 = V8's own); injectable for tests. */
  apply?: (percent: number) => void;
  /** Called once each time RSS goes over the budget (for a log line). */
  onOverBudget?: (rssBytes: number) => void;
}

/** [fraction of the budget from which the level applies, heap growing percent]; 0 = V8's default. */
export const LEVELS: readonly (readonly [number, number])[] = [
  [0, 0],
  [0.55, 100],
  [0.65, 50],
  [0.75, 25],
  [0.85, 10],
  [0.93, 5],
];

/** How long RSS must stay under a level's threshold before the governor relaxes by one level. */
const RELAX_AFTER_SAMPLES = 20;

export function levelFor(rss: number, budget: number): number {
  const p = rss / budget;
  let level = 0;
  for (let i = 0; i < LEVELS.length; i++) if (p >= LEVELS[i][0]) level = i;
  return level;
}

export class MemoryGovernor {
  /** Current level (index into LEVELS). */
  level = 0;
  lastRss = 0;
  overBudget = false;
  private below = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly rss: () => number;
  private readonly apply: (percent: number) => void;

  constructor(private readonly opts: MemoryGovernorOptions) {
    if (!(opts.budgetBytes > 0)) throw new Error('memory budget must be positive');
    this.rss = opts.rss ?? (() => process.memoryUsage.rss());
    this.apply = opts.apply ?? ((percent) => setFlagsFromString(`--heap-growing-percent=${percent}`));
  }

  start(): this {
    if (this.timer) return this;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.opts.intervalMs ?? 250);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.level !== 0) this.apply(0);
    this.level = 0;
  }

  /** One step: tighten at once when RSS rises past a threshold, relax one level after a quiet spell. */
  sample(): void {
    const rss = this.rss();
    this.lastRss = rss;
    const over = rss > this.opts.budgetBytes;
    if (over && !this.overBudget) this.opts.onOverBudget?.(rss);
    this.overBudget = over;
    const wanted = levelFor(rss, this.opts.budgetBytes);
    if (wanted > this.level) {
      this.set(wanted);
      this.below = 0;
    } else if (wanted < this.level) {
      if (++this.below >= RELAX_AFTER_SAMPLES) {
        this.set(this.level - 1);
        this.below = 0;
      }
    } else this.below = 0;
  }

  status(): { budgetMB: number; rssMB: number; heapGrowingPercent: number; overBudget: boolean } {
    return {
      budgetMB: Math.round(this.opts.budgetBytes / 2 ** 20),
      rssMB: Math.round((this.lastRss / 2 ** 20) * 10) / 10,
      heapGrowingPercent: LEVELS[this.level][1],
      overBudget: this.overBudget,
    };
  }

  private set(level: number): void {
    this.level = level;
    this.apply(LEVELS[level][1]);
  }
}
