/**
 * Per-second counters and latency histograms inside one worker process. Everything is attributed
 * to the second (since the run's shared start) in which it COMPLETED; once a second is over it is
 * shipped to the parent as a `tick` and forgotten.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { encodeHistogram, newHistogram, recordMs, type Histogram } from './hist.ts';
import type { Tick } from './protocol.ts';
import { StealMeter } from './steal.ts';

export class Recorder {
  private sec = 0;
  private counts: Record<string, number> = {};
  private readonly hists = new Map<string, Histogram>();
  private readonly used = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  /** The generator's own health: a starved generator times requests out that were answered. */
  private readonly loop = monitorEventLoopDelay({ resolution: 10 });
  private cpu = process.cpuUsage();
  private cpuAt = performance.now();
  private readonly steal = new StealMeter();

  constructor(
    private readonly worker: number,
    private readonly startAt: number,
    private readonly emit: (tick: Tick) => void,
    private readonly gauges: () => Record<string, number> = () => ({}),
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.roll(), 50);
    this.timer.unref?.();
    this.loop.enable();
  }

  /** Current second since start (negative before start). */
  currentSec(): number {
    return Math.floor((this.now() - this.startAt) / 1000);
  }

  count(key: string, n = 1): void {
    this.roll();
    this.counts[key] = (this.counts[key] ?? 0) + n;
  }

  latency(key: string, ms: number): void {
    this.roll();
    let h = this.hists.get(key);
    if (!h) this.hists.set(key, (h = newHistogram()));
    recordMs(h, ms);
    this.used.add(key);
  }

  /** Ships every second that is over. */
  roll(): void {
    const s = this.currentSec();
    while (this.sec < s) {
      this.flush();
      this.sec++;
    }
  }

  /** Ships the finished seconds and the current partial one; stops the timer. */
  finish(): void {
    this.roll();
    this.flush();
    this.sec++;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.loop.disable();
  }

  private flush(): void {
    if (this.sec < 0) return;
    const hists: Record<string, string> = {};
    for (const key of this.used) {
      const h = this.hists.get(key)!;
      hists[key] = encodeHistogram(h);
      h.reset();
    }
    this.used.clear();
    this.emit({ type: 'tick', worker: this.worker, sec: this.sec, counts: this.counts, hists, gauges: { ...this.gauges(), ...this.health() } });
    this.counts = {};
  }

  /** Gauges ending in `Max` are combined across workers by maximum, not sum. */
  private health(): Record<string, number> {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const pct = now > this.cpuAt ? ((cpu.user - this.cpu.user + cpu.system - this.cpu.system) / 1000 / (now - this.cpuAt)) * 100 : 0;
    this.cpu = cpu;
    this.cpuAt = now;
    const loopMs = this.loop.count > 0 ? this.loop.max / 1e6 : 0;
    this.loop.reset();
    const steal = this.steal.sample();
    return {
      generatorLoopDelayMsMax: Math.round(loopMs * 10) / 10,
      generatorCpuPctMax: Math.round(pct * 10) / 10,
      // The same machine-wide figure in every worker: combined by maximum.
      ...(steal === null ? {} : { machineStealPctMax: steal }),
    };
  }
}
