import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

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
 *
 * Last resort: even at 5 % growth, V8 lets a busy heap run 30–40 MB past its limit while
 * incremental marking catches up (measured: a follower at 276 MB in one overload run of ten). From
 * `COLLECT_AT` of the budget the governor runs one full collection itself (a pause of tens of ms),
 * at most every 2 s; when a collection does not bring RSS back under that line (live data near the
 * budget) the interval doubles, up to 30 s, so a node that legitimately holds more is not stalled.
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
  /** Runs a full garbage collection (default: V8's `gc()`); injectable for tests. */
  collect?: () => void;
  /** Milliseconds clock for the collection interval (default `performance.now`). */
  now?: () => number;
}

/**
 * Fraction of the budget from which the governor collects garbage itself. 0.96 until the twenty-third
 * session: with more claims served at 5× overload, peaks reached 253–260 MB against the 256 MB budget;
 * from 88 % they were 242–252 MB in six runs (docs/benchmarks.md). Below it nothing changes for normal load.
 */
export const COLLECT_AT = 0.88;
const COLLECT_EVERY_MS = 2_000;
const COLLECT_EVERY_MAX_MS = 30_000;

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
  /** Full collections the governor ran itself. */
  collections = 0;
  private below = 0;
  private lastCollect = -Infinity;
  private collectEveryMs = COLLECT_EVERY_MS;
  private justCollected = false;
  private readonly collect: () => void;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private readonly rss: () => number;
  private readonly apply: (percent: number) => void;

  constructor(private readonly opts: MemoryGovernorOptions) {
    if (!(opts.budgetBytes > 0)) throw new Error('memory budget must be positive');
    this.rss = opts.rss ?? (() => process.memoryUsage.rss());
    this.apply = opts.apply ?? ((percent) => setFlagsFromString(`--heap-growing-percent=${percent}`));
    this.collect = opts.collect ?? fullCollection();
    this.now = opts.now ?? (() => performance.now());
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
    this.maybeCollect(rss);
  }

  status(): { budgetMB: number; rssMB: number; heapGrowingPercent: number; overBudget: boolean; collections: number } {
    return {
      budgetMB: Math.round(this.opts.budgetBytes / 2 ** 20),
      rssMB: Math.round((this.lastRss / 2 ** 20) * 10) / 10,
      heapGrowingPercent: LEVELS[this.level][1],
      overBudget: this.overBudget,
      collections: this.collections,
    };
  }

  private maybeCollect(rss: number): void {
    const high = rss >= COLLECT_AT * this.opts.budgetBytes;
    if (this.justCollected) {
      // Judge the last collection by the first sample after it: still high means live data, not garbage.
      this.justCollected = false;
      this.collectEveryMs = high ? Math.min(this.collectEveryMs * 2, COLLECT_EVERY_MAX_MS) : COLLECT_EVERY_MS;
    }
    if (!high) return;
    const now = this.now();
    if (now - this.lastCollect < this.collectEveryMs) return;
    this.lastCollect = now;
    this.justCollected = true;
    this.collections++;
    this.collect();
  }

  private set(level: number): void {
    this.level = level;
    this.apply(LEVELS[level][1]);
  }
}

/** V8's full collection, reached without starting Node with --expose-gc (a new context sees the flag). */
export function fullCollection(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as unknown;
  return typeof gc === 'function' ? () => (gc as () => void)() : () => {};
}
