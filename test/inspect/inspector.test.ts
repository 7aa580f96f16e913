import { afterAll, beforeAll, expect, it } from 'vitest';
import { get } from 'node:http';
import { connectBus, natsUrl, uniqueCluster } from '../support/nats.ts';
import { ProcessCluster } from '../support/process-cluster.ts';
import type { NatsBus } from '../../bus/nats-bus.ts';
import { InspectServer } from '../../cli/inspect-server.ts';

/** The live statechart inspector: node processes publish their machines; the server shows them. */
const cluster = uniqueCluster('insp');
let procs: ProcessCluster;
let bus: NatsBus;
let server: InspectServer;
let url: string;

beforeAll(async () => {
  procs = new ProcessCluster(natsUrl(), cluster, ['n1', 'n2', 'n3'], { TENURE_INSPECT: '1' });
  bus = await connectBus();
  server = new InspectServer(bus, cluster);
  url = await server.listen(0);
  await procs.start();
  await procs.waitForLeader(bus);
}, 60_000);

afterAll(async () => {
  await server?.close();
  await bus?.close();
  await procs?.stop();
});

interface Report {
  node: string;
  machines: { machine: string; value: unknown; tree: Record<string, unknown> }[];
}

async function state(): Promise<Report[]> {
  return (await fetch(`${url}state`)).json() as Promise<Report[]>;
}

it('shows every node and its statecharts, with exactly one Raft leader', async () => {
  let reports: Report[] = [];
  const end = Date.now() + 10_000;
  while (Date.now() < end) {
    reports = await state();
    const raft = reports.map((r) => r.machines.find((m) => m.machine === 'raft')?.value);
    if (reports.length === 3 && raft.filter((v) => JSON.stringify(v).includes('leader')).length === 1) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(reports.map((r) => r.node)).toEqual(['n1', 'n2', 'n3']);
  for (const r of reports) {
    const names = r.machines.map((m) => m.machine);
    expect(names).toEqual(expect.arrayContaining(['raft', 'leaseManager', 'clockUpdater', 'eventPublisher', 'admission', 'leaderTracker']));
    const raft = r.machines.find((m) => m.machine === 'raft')!;
    expect(Object.keys(raft.tree)).toEqual(['follower', 'preCandidate', 'candidate', 'leader']);
  }
  const leaders = reports.filter((r) => JSON.stringify(r.machines.find((m) => m.machine === 'raft')!.value).includes('leader'));
  expect(leaders).toHaveLength(1);
});

it('streams updates to browsers as server-sent events and serves the page', async () => {
  const page = await (await fetch(url)).text();
  expect(page).toContain('EventSource');
  expect(page).toContain(cluster);
  const first = await new Promise<string>((resolve, reject) => {
    const req = get(`${url}events`, (res) => {
      expect(res.headers['content-type']).toBe('text/event-stream');
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        resolve(chunk);
        req.destroy();
      });
    });
    req.on('error', reject);
  });
  const report = JSON.parse(first.replace(/^data: /, '').trim().split('\n')[0]) as Report;
  expect(['n1', 'n2', 'n3']).toContain(report.node);
});
