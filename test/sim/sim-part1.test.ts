import { describe, expect, it } from 'vitest';
import { replayCommand, runSeed } from './scenario.ts';

// Seeds 1..100 (the other part runs in a parallel worker); 200 seeds per npm test.
describe('raft simulation, seeds 1-100', () => {
  it('keeps every safety invariant and recovers after faults heal', async () => {
    const failures: string[] = [];
    for (let seed = 1; seed < 101; seed++) {
      const r = await runSeed(seed);
      if (r.violations.length) failures.push(`seed ${seed}: ${r.violations.join('; ')} (replay: ${replayCommand(seed)})`);
    }
    expect(failures).toEqual([]);
  }, 300_000);
});
