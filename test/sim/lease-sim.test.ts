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
