import { describe, expect, it } from 'vitest';
import { leaseReplayCommand, runLeaseSeed } from './lease-scenario.ts';

// Whole nodes, clients and the leadership() helper under faults (test/sim/lease-scenario.ts);
// `npm run test:sim -- --lease --seeds 2000` runs more.
describe('lease simulation, seeds 1-60', () => {
  it('no two holders ever believe they hold a lease at once; tokens grow; nodes agree; service resumes after healing', async () => {
    const failures: string[] = [];
    let beliefs = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const r = await runLeaseSeed(seed);
      beliefs += r.beliefs;
      if (r.violations.length) failures.push(`seed ${seed}: ${r.violations.join('; ')} (replay: ${leaseReplayCommand(seed)})`);
    }
    expect(failures).toEqual([]);
    expect(beliefs).toBeGreaterThan(300); // the runs did hold leases
  }, 300_000);
});

// Every node and client on a clock of its own: offsets up to ± 30 s and rates up to 1 % apart. The
// service never compares one machine's clock with another's (deadlines travel as budgets, global
// time travels in the log), so offsets must not matter; holders count on their own clocks.
describe('lease simulation with skewed clocks, seeds 1-25', () => {
  it('holds the same guarantees when no two processes agree on the time', async () => {
    const skew = { skewPpm: 10_000, offsetMs: 30_000 };
    const failures: string[] = [];
    let beliefs = 0;
    for (let seed = 1; seed <= 25; seed++) {
      const r = await runLeaseSeed(seed, skew);
      beliefs += r.beliefs;
      if (r.violations.length) failures.push(`seed ${seed}: ${r.violations.join('; ')} (replay: ${leaseReplayCommand(seed, skew)})`);
    }
    expect(failures).toEqual([]);
    expect(beliefs).toBeGreaterThan(100);
  }, 300_000);
});
