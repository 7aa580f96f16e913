import { describe, expect, it } from 'vitest';
import { cpuPerOp, CpuWindow, okBetween, parseMachineStat, parseProcStat, readCpu, type CpuReading } from '../../bench/cpu-account.ts';
import { cpuLine } from '../../bench/summary.ts';

// Field 2 (comm) may hold spaces and parentheses; utime and stime are fields 14 and 15.
const procStat = (comm: string, utime: number, stime: number) =>
  `4242 (${comm}) S 1 4242 4242 0 -1 4194560 100 0 0 0 ${utime} ${stime} 0 0 20 0 11 0 500 1000 300 18446744073709551615`;

const reading = (procs: Record<string, number | null>, pids: Record<string, number[]>, busy: number, steal: number, total: number): CpuReading => ({ procs, pids, machine: { busy, steal, total } });

describe('CPU accounting per ok op (bench/cpu-account.ts)', () => {
  it('reads a process CPU time (user + system) past a command name with spaces and parentheses', () => {
    expect(parseProcStat(procStat('node', 150, 50))).toBe(2_000_000); // 200 ticks of 10 ms
    expect(parseProcStat(procStat('we(ird) na)me', 1, 2))).toBe(30_000);
    expect(parseProcStat('garbage')).toBeNull();
    expect(parseProcStat('1 (x) S 1 2')).toBeNull();
  });

  it('reads the machine line: busy leaves out idle, iowait and steal', () => {
    // user nice system idle iowait irq softirq steal
    const m = parseMachineStat('cpu  100 1 20 500 30 2 7 40 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n');
    expect(m).toEqual({ busy: 130 * 10_000, steal: 40 * 10_000, total: 700 * 10_000 });
    expect(parseMachineStat('intr 1 2 3')).toBeNull();
  });

  it('divides each process group and the machine by the ok answers, and gives the ceiling on the cores', () => {
    const a = reading({ n1: 1_000_000, 'nats-server': 0 }, { n1: [10], 'nats-server': [11] }, 0, 0, 0);
    const b = reading({ n1: 3_000_000, 'nats-server': 500_000 }, { n1: [10], 'nats-server': [11] }, 4_000_000, 1_000_000, 10_000_000);
    const c = cpuPerOp(a, b, 20_000, 5, 2);
    expect(c.micros).toEqual({ n1: 100, 'nats-server': 25 });
    expect(c.processesMicros).toBe(125);
    expect(c.machineMicros).toBe(200);
    expect(c.machineBusyPct).toBe(40);
    expect(c.stealPct).toBe(10);
    expect(c.ceilingPerSec).toBe(10_000); // 2 cores × 10⁶ µs / 200 µs per op
    expect(cpuLine(c)).toBe('CPU per ok op, µs: n1 100 · nats-server 25.0 → processes 125, machine 200 (busy 40 %, steal 10 %); at this cost 2 cores answer at most ≈ 10,000/s');
  });

  it('a group whose pids changed (a restart) or that could not be read has no figure, and no total', () => {
    const a = reading({ n1: 1_000_000, n2: 1_000_000 }, { n1: [10], n2: [12] }, 0, 0, 0);
    const b = reading({ n1: 2_000_000, n2: null }, { n1: [99], n2: [12] }, 1_000_000, 0, 2_000_000);
    const c = cpuPerOp(a, b, 1000, 1, 2);
    expect(c.micros).toEqual({ n1: null, n2: null });
    expect(c.processesMicros).toBeNull();
    expect(c.machineMicros).toBe(1000);
    expect(cpuPerOp(a, b, 0, 1, 2).machineMicros).toBeNull(); // nothing answered: no cost per op
  });

  it('ends the window at the last reading where every group is still readable (workers exit as a run ends)', () => {
    const readings: CpuReading[] = [
      reading({ load: 0 }, { load: [5] }, 0, 0, 0),
      reading({ load: 100_000 }, { load: [5] }, 200_000, 0, 2_000_000),
      reading({ load: 200_000 }, { load: [5] }, 400_000, 0, 4_000_000),
      reading({ load: null }, { load: [5] }, 600_000, 0, 6_000_000),
    ];
    let next = 0;
    const w = new CpuWindow(() => ({ load: [5] }), () => readings[next++]); // stand-in readings in place of /proc
    for (let k = 0; k < readings.length; k++) w.mark(k);
    const counts = { 'claim.ok': [10, 10, 10], 'extend.ok': [0, 5, 5], 'claim.err.Held': [99, 99, 99] };
    const c = w.result(0, 3, (f, t) => okBetween(counts, f, t), 2)!;
    expect(c.seconds).toBe(2);
    expect(c.ops).toBe(25);
    expect(c.micros.load).toBe(8000); // 200,000 µs over 25 ok answers (errors do not count)
    expect(c.machineMicros).toBe(16_000);
    expect(w.result(1, 1, () => 1, 2)).toBeNull();
  });

  it('reads this process and the machine for real on Linux', () => {
    const r = readCpu({ me: [process.pid], gone: [2 ** 22 + 12345] });
    if (process.platform !== 'linux') return;
    expect(r.procs.me).toBeGreaterThan(0);
    expect(r.procs.gone).toBeNull();
    expect(r.machine!.total).toBeGreaterThan(r.machine!.busy);
  });

  it("reads a node's main thread on its own, only for the labels asked that are one process", () => {
    const end = performance.now() + 60;
    while (performance.now() < end); // main-thread CPU this process certainly has
    const r = readCpu({ me: [process.pid], pair: [process.pid, process.pid], gone: [2 ** 22 + 12345], other: [process.pid] }, ['me', 'pair', 'gone']);
    expect(Object.keys(r.mains!).sort()).toEqual(['gone', 'me']); // 'pair' is two processes, 'other' was not asked
    expect(r.mains!.gone).toBeNull();
    if (process.platform !== 'linux') return;
    expect(r.mains!.me).toBeGreaterThan(0);
    expect(r.mains!.me).toBeLessThanOrEqual(r.procs.me!); // a thread of the process
  });

  it('divides the main threads by the ok answers too and shows them beside their process', () => {
    const a: CpuReading = { ...reading({ n1: 1_000_000, bench: 0 }, { n1: [10], bench: [12] }, 0, 0, 0), mains: { n1: 600_000 } };
    const b: CpuReading = { ...reading({ n1: 3_000_000, bench: 100_000 }, { n1: [10], bench: [12] }, 4_000_000, 0, 10_000_000), mains: { n1: 1_800_000 } };
    const c = cpuPerOp(a, b, 20_000, 5, 2);
    expect(c.micros).toEqual({ n1: 100, bench: 5 });
    expect(c.mainMicros).toEqual({ n1: 60 }); // the other 40 µs: helper threads
    expect(cpuLine(c)).toMatch(/^CPU per ok op, µs: n1 100 \(main 60\.0\) · bench 5\.0 → /);
    const restarted: CpuReading = { ...b, pids: { n1: [99], bench: [12] } };
    expect(cpuPerOp(a, restarted, 20_000, 5, 2).mainMicros).toEqual({ n1: null });
  });

  it('a window asks its reader for the main threads of the labels it was given', () => {
    const asked: (readonly string[])[] = [];
    const w = new CpuWindow(
      () => ({ n1: [1] }),
      (groups, mainThreads) => {
        asked.push(mainThreads);
        return reading({ n1: 0 }, { n1: [1] }, 0, 0, 1);
      },
      ['n1'],
    );
    w.mark(0);
    expect(asked).toEqual([['n1']]);
  });
});
