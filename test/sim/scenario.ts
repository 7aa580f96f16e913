import { Rng } from '../../clock/clock.ts';
import { SimCluster } from './cluster.ts';

export interface SeedResult {
  seed: number;
  nodes: number;
  violations: string[];
  acked: number;
  applied: number;
  terms: number;
}

export interface ScenarioOptions {
  nodes?: 3 | 5;
  faultMs?: number;
}

const enc = new TextEncoder();

/**
 * One seeded run: a fault phase (partitions, leader isolation, crash/restart, drop/duplicate/
 * delay, leadership transfer) under a stream of proposals, then healing and a liveness check.
 */
export async function runSeed(seed: number, opts: ScenarioOptions = {}): Promise<SeedResult> {
  const rng = new Rng(seed);
  const n = opts.nodes ?? (seed % 2 === 0 ? 3 : 5);
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const c = new SimCluster(seed, ids);
  const liveness: string[] = [];
  const acked = new Set<string>();
  let seq = 0;
  const propose = (count: number) => {
    const leader = c.leaders()[0];
    if (!leader) return;
    for (let i = 0; i < count; i++) {
      const cmd = `c${seq++}`;
      leader.propose(enc.encode(cmd)).then(
        () => acked.add(cmd),
        () => {},
      );
    }
  };

  try {
    await c.startAll();
    const faultMs = opts.faultMs ?? 4000;
    while (c.clock.now() < faultMs) {
      const r = rng.next();
      const live = c.live();
      if (r < 0.06) {
        const shuffled = [...ids].sort(() => rng.next() - 0.5);
        const cut = rng.int(1, n - 1);
        c.net.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
      } else if (r < 0.12) {
        const leader = c.leaders()[0];
        if (leader) c.net.isolate(leader.id);
      } else if (r < 0.18) {
        if (live.length > 1) c.crash(rng.pick(live).id);
      } else if (r < 0.26) {
        const dead = ids.filter((id) => !c.slots.get(id)!.node);
        if (dead.length) await c.start(rng.pick(dead));
      } else if (r < 0.32) {
        c.net.setFaults({ dropRate: rng.next() * 0.2, duplicateRate: rng.next() * 0.1, minDelayMs: 1, maxDelayMs: rng.int(2, 40) });
      } else if (r < 0.4) {
        c.net.heal();
      } else if (r < 0.43) {
        const leader = c.leaders()[0];
        if (leader) leader.transferLeadership(rng.pick(ids)).catch(() => {});
      }
      propose(rng.int(0, 6));
      await c.run(rng.int(20, 250));
    }

    // Heal everything: a leader must emerge and every proposal must commit.
    c.net.heal();
    c.net.setFaults({ dropRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 5 });
    for (const id of ids) if (!c.slots.get(id)!.node) await c.start(id);
    await c.run(3000);
    const leaders = c.leaders();
    if (leaders.length !== 1) liveness.push(`after healing: ${leaders.length} leaders`);
    const final = `final-${seed}`;
    let finalAcked = false;
    leaders[0]?.propose(enc.encode(final)).then(() => (finalAcked = true), (e) => liveness.push(`final proposal failed: ${(e as Error).message}`));
    await c.run(3000);
    if (!finalAcked) liveness.push('final proposal not acknowledged after healing');
    for (const { id, fsm } of c.live()) {
      const applied = new Set(fsm.applied);
      if (applied.size !== fsm.applied.length) liveness.push(`${id} applied a command twice`);
      if (finalAcked && !applied.has(final)) liveness.push(`${id} did not apply the final proposal`);
      for (const cmd of acked) {
        if (!applied.has(cmd)) {
          liveness.push(`${id} lost acknowledged command ${cmd}`);
          break;
        }
      }
    }
    liveness.push(...c.failedNodes().map((f) => `node failed: ${f}`));
    const maxTerm = Math.max(...c.live().map((l) => l.node.term));
    return {
      seed,
      nodes: n,
      violations: [...c.checker.violations, ...liveness],
      acked: acked.size,
      applied: Math.max(...c.live().map((l) => l.fsm.applied.length)),
      terms: maxTerm,
    };
  } finally {
    await c.shutdown();
  }
}

export function replayCommand(seed: number): string {
  return `npm run test:sim -- --seed ${seed}`;
}
