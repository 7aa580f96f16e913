import { afterAll, beforeAll, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { connectBus, natsUrl, uniqueCluster } from '../support/nats.ts';
import { ProcessCluster } from '../support/process-cluster.ts';
import { subjects } from '../../bus/subjects.ts';
import type { NatsBus } from '../../bus/nats-bus.ts';
import type { LeaseInfo } from '../../lease/types.ts';

const packr = new Packr({ useRecords: false });
const cluster = uniqueCluster('raftproc');
let procs: ProcessCluster;
let bus: NatsBus;

beforeAll(async () => {
  // Snapshot every 50 entries so the killed node is far behind and needs InstallSnapshot.
  procs = new ProcessCluster(natsUrl(), cluster, ['n1', 'n2', 'n3'], { TENURE_SNAPSHOT_EVERY_ENTRIES: '50' });
  await procs.start();
  bus = await connectBus();
}, 60_000);

afterAll(async () => {
  await bus?.close();
  await procs?.stop();
});

/**
 * kill -9 of the leader under a stream of proposals: a new leader serves, no acknowledged proposal
 * is lost, and the killed node restarts from LMDB and catches up through InstallSnapshot.
 */
it('survives kill -9 of the leader without losing acknowledged proposals', async () => {
  const s = subjects(cluster);
  let leader = await procs.waitForLeader(bus);
  const acked = new Set<string>();
  let seq = 0;
  let running = true;

  const proposer = async (worker: number) => {
    while (running) {
      const lease = `l${worker}-${seq++}`;
      const cmd = { op: 'claim', clientId: `w${worker}`, seq, key: { namespace: 'application-leadership', model: 'm', lease }, holder: 'u/0', durationMs: 3_600_000 };
      try {
        const r = await bus.request<{ results: { ok: boolean }[] }>(s.raft(leader, 'propose'), { commands: [packr.pack(cmd)] }, { deadlineMs: 1000 });
        if (r.results[0]?.ok) acked.add(lease);
      } catch {
        await new Promise((r) => setTimeout(r, 50));
        try {
          leader = await procs.waitForLeader(bus, 5000);
        } catch {
          /* keep trying */
        }
      }
    }
  };
  const workers = [0, 1, 2, 3].map(proposer);
  await until(() => acked.size >= 100, 20_000);

  const victim = leader;
  const before = (await procs.status(bus, victim))!;
  await procs.node(victim).kill();
  const next = await procs.waitForLeader(bus, 10_000, victim);
  expect(next).not.toBe(victim);
  leader = next;
  const ackedAtKill = acked.size;
  await until(() => acked.size >= ackedAtKill + 300, 30_000); // new leader serves, and compacts past the victim's log
  running = false;
  await Promise.all(workers);

  const leaderStatus = (await procs.status(bus, leader))!;
  expect(leaderStatus.snapshotIndex).toBeGreaterThan(before.lastIndex);

  await procs.node(victim).start(); // restarts from its LMDB directory
  await until(async () => ((await procs.status(bus, victim))?.applied ?? 0) >= leaderStatus.commit, 20_000);
  const restarted = (await procs.status(bus, victim))!;
  expect(restarted.snapshotIndex).toBeGreaterThan(before.lastIndex); // caught up through InstallSnapshot

  for (const n of procs.nodes) {
    const r = await bus.request<{ leases: LeaseInfo[] }>(s.control('leases', n.id), {}, { deadlineMs: 2000 });
    const held = new Set(r.leases.map((l) => l.key.lease));
    const lost = [...acked].filter((l) => !held.has(l));
    expect(lost, `node ${n.id} lost acknowledged claims`).toEqual([]);
  }
}, 120_000);

async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not met in time');
}
