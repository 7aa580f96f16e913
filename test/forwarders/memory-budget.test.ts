import { afterAll, beforeAll, expect, it } from 'vitest';
import { uniqueCluster } from '../support/nats.ts';
import { startRunningCluster, type RunningCluster } from '../support/process-cluster.ts';
import { subjects } from '../../bus/subjects.ts';
import type { NatsBus } from '../../bus/nats-bus.ts';
import type { TenureClient } from '../../client/tenure-client.ts';
import { LEVELS } from '../../actors/memory-governor.ts';

/**
 * A real node process with a memory budget far below what it needs: the governor collects as often
 * as it allows and says so, and the node keeps serving (the budget is a target, not a limit).
 */
const cluster = uniqueCluster('membudget');
let bus: NatsBus;
let client: TenureClient;

interface Governed {
  process: { memoryGovernor: { budgetMB: number; heapGrowingPercent: number; overBudget: boolean } | null };
}

let running: RunningCluster | undefined;

beforeAll(async () => {
  running = await startRunningCluster(cluster, ['n1'], { TENURE_MEMORY_BUDGET_MB: '16', TENURE_SNAPSHOT_EVERY_ENTRIES: '20' });
  ({ bus, client } = running);
}, 60_000);

afterAll(() => running?.stop());

it('a node over its memory budget tightens garbage collection, reports it, and keeps serving', async () => {
  const key = (lease: string) => ({ namespace: 'application-leadership', model: 'mem', lease });
  const claims = await Promise.all(Array.from({ length: 200 }, (_, i) => client.claim(key(`l${i}`), 'unit/0', 60_000)));
  expect(claims.every((c) => c.holder === 'unit/0')).toBe(true);
  const st = await bus.request<Governed>(subjects(cluster).control('status', 'n1'), {}, { deadlineMs: 2000 });
  expect(st.process.memoryGovernor).toEqual(expect.objectContaining({ budgetMB: 16, heapGrowingPercent: LEVELS[LEVELS.length - 1][1], overBudget: true }));
  const again = await client.extend(key('l0'), 'unit/0', 60_000);
  expect(again.holder).toBe('unit/0');
}, 60_000);

it('reports the snapshots it took and its event-loop delay in its status', async () => {
  const key = { namespace: 'application-leadership', model: 'mem', lease: 'snap' };
  for (let i = 0; i < 30; i++) await client.claim(key, 'unit/0', 60_000); // 30 entries: over the 20-entry interval
  interface Status {
    snapshotIndex: number;
    snapshots: { taken: number; failed: number; last: { index: number; bytes: number; captureMs: number } | null };
    process: { eventLoop: { windowMs: number; maxMs: number; p99Ms: number; peakMs: number } };
  }
  let st = await bus.request<Status>(subjects(cluster).control('status', 'n1'), {}, { deadlineMs: 2000 });
  for (let i = 0; i < 100 && st.snapshots.taken === 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    st = await bus.request<Status>(subjects(cluster).control('status', 'n1'), {}, { deadlineMs: 2000 });
  }
  expect(st.snapshots.taken).toBeGreaterThanOrEqual(1);
  expect(st.snapshots.failed).toBe(0);
  expect(st.snapshots.last!.index).toBeGreaterThanOrEqual(20);
  expect(st.snapshots.last!.bytes).toBeGreaterThan(0);
  expect(st.snapshotIndex).toBeGreaterThanOrEqual(20);
  expect(st.process.eventLoop).toEqual(expect.objectContaining({ windowMs: 1000, maxMs: expect.any(Number), peakMs: expect.any(Number) }));
}, 60_000);
