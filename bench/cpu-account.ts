/**
 * Where the box's CPU goes per successful operation. Between two readings: each process's CPU
 * time (user + system, /proc/<pid>/stat: the Tenure nodes, the bench's nats-server, the load
 * generator's workers, the bench itself) and the whole machine's busy time (/proc/stat: everything
 * but idle, iowait and steal — so kernel work such as loopback networking counts), each divided by
 * the operations answered ok in between.
 *
 * Throughput on a shared virtual machine moves with the hypervisor's steal (the same code gave
 * 5.9k and 11.6k claims/s within the hour); CPU per operation moves much less, and it says what a
 * throughput target needs: the box can answer at most cores × 10⁶ / (machine µs per op) per second
 * at that cost. Linux only; elsewhere (or for a process not on this machine) the values are null.
 *
 * For the labels asked (the Tenure nodes) the main thread is also read on its own
 * (/proc/<pid>/task/<pid>/stat): the rest of a node's CPU is V8's helper threads (concurrent
 * marking and sweeping) and libuv's pool (lmdb's commits), which `--cpu-prof` never samples. A
 * claim's garbage collection off the main thread was ≈ 12 % of its cost (docs/benchmarks.md,
 * twenty-sixth session).
 */
import { readFileSync } from 'node:fs';
import { RESULT_OPS } from './protocol.ts';

/** /proc reports CPU time in USER_HZ ticks, 100 per second on every Linux ABI Node runs on. */
const TICK_MICROS = 10_000;

export interface CpuReading {
  /** CPU µs used so far by each labelled process (or group of processes), null where unreadable. */
  procs: Record<string, number | null>;
  /** Which pids made up each label (a label whose pids changed between readings is not comparable). */
  pids: Record<string, number[]>;
  /** CPU µs of the main thread, for the labels asked that are one process each. */
  mains?: Record<string, number | null>;
  machine: { busy: number; steal: number; total: number } | null;
}

export interface CpuPerOp {
  ops: number;
  seconds: number;
  /** CPU µs per ok op, by process label. */
  micros: Record<string, number | null>;
  /** Main-thread CPU µs per ok op, for the labels whose main thread was read (the rest: helper threads). */
  mainMicros: Record<string, number | null>;
  /** Sum over the labelled processes. */
  processesMicros: number | null;
  /** The machine's busy time per ok op (all processes and the kernel). */
  machineMicros: number | null;
  /** Machine busy and steal as % of its whole CPU time in the window. */
  machineBusyPct: number | null;
  stealPct: number | null;
  cores: number;
  /** cores × 10⁶ / machineMicros: the rate at which this cost per op would fill every core. */
  ceilingPerSec: number | null;
}

/** CPU µs (user + system) of one process from its /proc/<pid>/stat text; null if malformed. */
export function parseProcStat(text: string): number | null {
  // comm (field 2) is in parentheses and may hold spaces or ')': fields resume after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const rest = text.slice(close + 1).trim().split(/\s+/);
  // rest[0] is field 3 (state): utime and stime are fields 14 and 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null;
  return (utime + stime) * TICK_MICROS;
}

/** The aggregate `cpu` line of /proc/stat in µs: busy (not idle, iowait or steal), steal, total. */
export function parseMachineStat(text: string): CpuReading['machine'] {
  const line = text.split('\n', 1)[0];
  if (!line.startsWith('cpu ')) return null;
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 8 || f.some((v) => !Number.isFinite(v))) return null;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  return { busy: (user + nice + system + irq + softirq) * TICK_MICROS, steal: steal * TICK_MICROS, total: f.reduce((a, v) => a + v, 0) * TICK_MICROS };
}

function readProc(pid: number, thread?: number): number | null {
  try {
    return parseProcStat(readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** The machine line now (bench/steal.ts reads it too); null where /proc/stat is not readable. */
export function readMachine(): CpuReading['machine'] {
  try {
    return parseMachineStat(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Reads every labelled group's CPU time now; a group is null if any of its pids is unreadable.
 * For each label in `mainThreads` that is one process, its main thread's CPU time too.
 */
export function readCpu(groups: Record<string, readonly number[]>, mainThreads: readonly string[] = []): CpuReading {
  const procs: Record<string, number | null> = {};
  const pids: Record<string, number[]> = {};
  const mains: Record<string, number | null> = {};
  for (const label of mainThreads) {
    const ids = groups[label];
    if (ids?.length === 1) mains[label] = readProc(ids[0], ids[0]);
  }
  for (const [label, ids] of Object.entries(groups)) {
    pids[label] = [...ids].sort((a, b) => a - b);
    let sum: number | null = ids.length ? 0 : null;
    for (const pid of ids) {
      const v = readProc(pid);
      sum = v === null || sum === null ? null : sum + v;
    }
    procs[label] = sum;
  }
  return { procs, pids, mains, machine: readMachine() };
}

const round1 = (v: number) => Math.round(v * 10) / 10;

/** CPU per ok op between readings `a` and `b`, `ops` ok answers and `seconds` apart, on `cores` cores. */
export function cpuPerOp(a: CpuReading, b: CpuReading, ops: number, seconds: number, cores: number): CpuPerOp {
  // µs per op of one label between the readings; null if unreadable, restarted or nothing answered.
  const perOp = (label: string, before: number | null | undefined, after: number | null | undefined): number | null => {
    const samePids = (a.pids[label] ?? []).join() === (b.pids[label] ?? []).join();
    return ops > 0 && samePids && before != null && after != null && after >= before ? (after - before) / ops : null;
  };
  const micros: Record<string, number | null> = {};
  let processes: number | null = 0;
  for (const label of Object.keys(b.procs)) {
    const v = perOp(label, a.procs[label], b.procs[label]);
    micros[label] = v === null ? null : round1(v);
    processes = v === null || processes === null ? null : processes + v;
  }
  const mainMicros: Record<string, number | null> = {};
  for (const label of Object.keys(b.mains ?? {})) {
    const v = perOp(label, a.mains?.[label], b.mains?.[label]);
    mainMicros[label] = v === null ? null : round1(v);
  }
  const m = a.machine && b.machine && b.machine.total > a.machine.total ? { busy: b.machine.busy - a.machine.busy, steal: b.machine.steal - a.machine.steal, total: b.machine.total - a.machine.total } : null;
  const machineMicros = m && ops > 0 ? m.busy / ops : null;
  return {
    ops,
    seconds,
    micros,
    mainMicros,
    processesMicros: processes === null || Object.keys(micros).length === 0 ? null : round1(processes),
    machineMicros: machineMicros === null ? null : round1(machineMicros),
    machineBusyPct: m ? round1((100 * m.busy) / m.total) : null,
    stealPct: m ? round1((100 * m.steal) / m.total) : null,
    cores,
    ceilingPerSec: machineMicros ? Math.round((cores * 1e6) / machineMicros) : null,
  };
}

/**
 * Readings taken at whole seconds of a run (second k = k s after its start), for the CPU per op
 * of its measured window [from, to).
 */
export class CpuWindow {
  private readonly readings = new Map<number, CpuReading>();

  constructor(
    private readonly groups: () => Record<string, readonly number[]>,
    private readonly read: (groups: Record<string, readonly number[]>, mainThreads: readonly string[]) => CpuReading = readCpu,
    /** Labels whose main thread is read on its own (the nodes). */
    private readonly mainThreads: readonly string[] = [],
  ) {}

  /** Takes the reading for second `k` (call it as close to that moment as possible). */
  mark(k: number): void {
    this.readings.set(k, this.read(this.groups(), this.mainThreads));
  }

  /**
   * CPU per ok op over [from, to): from the reading at `from` to the last one at or before `to` in
   * which every group readable at `from` still is (workers that exit as the run ends are not
   * lost). `okBetween(f, t)` counts the ok answers in seconds [f, t).
   */
  result(from: number, to: number, okBetween: (f: number, t: number) => number, cores: number): CpuPerOp | null {
    const a = this.readings.get(from);
    if (!a) return null;
    for (let end = to; end > from; end--) {
      const b = this.readings.get(end);
      if (b && Object.keys(a.procs).every((k) => a.procs[k] === null || b.procs[k] != null)) return cpuPerOp(a, b, okBetween(from, end), end - from, cores);
    }
    return null;
  }
}

/** Ok answers in seconds [from, to) of per-second count series (claim, extend, revoke, reclaim). */
export function okBetween(counts: Record<string, number[]>, from: number, to: number): number {
  let n = 0;
  for (const op of RESULT_OPS) for (let i = from; i < to; i++) n += counts[`${op}.ok`]?.[i] ?? 0;
  return n;
}
