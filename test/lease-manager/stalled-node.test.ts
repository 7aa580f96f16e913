/**
 * A node process that stood still (SIGSTOP: a long GC pause, a frozen VM) reads, when it resumes,
 * every request NATS delivered to it meanwhile. Their deadlines are relative (`Tenure-Deadline-Ms`),
 * so counted from reading they would all look fresh, and a write whose caller gave up seconds ago
 * would be proposed. The node counts a deadline from before its stall (bus/arrival-watch.ts) and
 * drops those requests unread: an operation its caller gave up on is never applied.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { uniqueCluster } from '../support/nats.ts';
import { startRunningCluster, type RunningCluster } from '../support/process-cluster.ts';
import { subjects } from '../../bus/subjects.ts';

const cluster = uniqueCluster('stall');
let running: RunningCluster | undefined;
const key = (lease: string) => ({ namespace: 'application-leadership', model: 'stall', lease });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  running = await startRunningCluster(cluster, ['n1', 'n2', 'n3']);
}, 60_000);

afterAll(() => running?.stop());

it('a node that stood still never proposes a write whose caller gave up meanwhile, and serves fresh ones after', async () => {
  const { procs, bus, client } = running!;
  const s = subjects(cluster);
  const leader = await procs.waitForLeader(bus);
  const stalled = procs.nodes.find((n) => n.id !== leader)!;
  await client.claim(key('late'), 'late/0', 60_000);
  stalled.child!.kill('SIGSTOP');
  try {
    // Delivered to the stopped node; its caller gives up after 1 s. (An extend: a node just out of
    // a stall sheds claims by its event-loop lag anyway, never extensions.)
    const late = bus.request(s.nodeLease(stalled.id, 'extend'), { ...key('late'), holder: 'late/0', durationMs: 600_000, clientId: 'stall-test', seq: 1 }, { deadlineMs: 1000 });
    await expect(late).rejects.toMatchObject({ code: 'Timeout' });
    await sleep(1000);
  } finally {
    stalled.child!.kill('SIGCONT');
  }
  // It answers again; a request sent to it now is fresh and is served.
  expect(await bus.request(s.nodeLease(stalled.id, 'status'), {}, { deadlineMs: 5000 })).toMatchObject({ node: stalled.id });
  const fresh = await bus.request<{ remainingMs: number }>(s.nodeLease(stalled.id, 'extend'), { ...key('late'), holder: 'late/0', durationMs: 90_000, clientId: 'stall-test', seq: 2 }, { deadlineMs: 5000 });
  expect(fresh.remainingMs).toBeGreaterThan(60_000);
  // The extend read after the stall was dropped unread: never proposed, never applied (it would
  // have given the lease ten minutes).
  const view = await client.get(key('late'), { linearizable: true });
  expect(view).toMatchObject({ holder: 'late/0' });
  expect(view.remainingMs!).toBeLessThanOrEqual(90_000);
}, 60_000);
