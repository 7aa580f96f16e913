import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { NatsBus } from '../../bus/nats-bus.ts';
import { TenureError } from '../../errors/errors.ts';
import { TenureClient } from '../../client/tenure-client.ts';
import { coalescerFor } from '../../client/coalescer.ts';
import { subjects } from '../../bus/subjects.ts';
import { natsUrl } from '../support/nats.ts';
import { NS, TestCluster } from './harness.ts';

const tc = new TestCluster('batch');
let nc: NatsConnection;
let bus: NatsBus;
const key = (lease: string) => ({ namespace: NS, model: 'm1', lease });

beforeAll(async () => {
  await tc.startAll();
  await tc.leader();
  nc = await connect({ servers: natsUrl() });
  bus = await tc.bus();
});

afterAll(async () => {
  await nc?.close();
  await tc.shutdown();
});

describe('lease.batch', () => {
  it('applies every op of a batch independently and answers each in order', async () => {
    const client = await tc.client();
    await client.claim(key('b-held'), 'other', 10_000);
    const out = await client.batch([
      { op: 'claim', key: key('b1'), holder: 'u/0', durationMs: 10_000 },
      { op: 'claim', key: key('b-held'), holder: 'u/0', durationMs: 10_000 },
      { op: 'claim', key: key('b2'), holder: 'u/0', durationMs: 10_000 },
      { op: 'extend', key: key('b1'), holder: 'u/0', durationMs: 20_000 },
      { op: 'pin', key: key('b2'), entity: 'machine-1' },
      { op: 'revoke', key: key('b2'), holder: 'u/0' },
    ]);
    expect(out.map((o) => (o.ok ? 'ok' : o.error.code))).toEqual(['ok', 'Held', 'ok', 'ok', 'ok', 'ok']);
    expect(out[1]).toMatchObject({ ok: false, error: { details: { holder: 'other' } } });
    expect(out[4]).toMatchObject({ ok: true, value: { pinnedBy: ['machine-1'] } });
    const b1 = await client.get(key('b1'), { linearizable: true });
    expect(b1).toMatchObject({ holder: 'u/0' });
    expect(b1.remainingMs!).toBeGreaterThan(10_000);
    expect(await client.get(key('b2'), { linearizable: true })).toMatchObject({ holder: null, pinnedBy: ['machine-1'] });
  });

  it('answers a bad op with Invalid naming ops[i].<field> and still runs the others', async () => {
    const reply = await bus.request<{ results: unknown[] }>(subjects(tc.cluster).lease('batch'), {
      ops: [
        { op: 'claim', ...key('b3'), holder: 'h', durationMs: 1000, clientId: 'raw-1', seq: 1 },
        { op: 'claim', ...key('b4'), holder: 'h', durationMs: 'soon', clientId: 'raw-2', seq: 1 },
        { op: 'frobnicate', ...key('b5') },
        { op: 'get', ...key('b5') },
        'not an op',
      ],
    }, { deadlineMs: 3000 });
    expect(reply.results[0]).toMatchObject({ result: { holder: 'h' } });
    expect(reply.results[1]).toMatchObject({ error: { code: 'Invalid', field: 'ops[1].durationMs' } });
    expect(reply.results[2]).toMatchObject({ error: { code: 'Invalid', field: 'ops[2].op' } });
    expect(reply.results[3]).toMatchObject({ error: { code: 'Invalid', field: 'ops[3].op' } });
    expect(reply.results[4]).toMatchObject({ error: { code: 'Invalid', field: 'ops[4].op' } });
    const client = await tc.client();
    expect(await client.get(key('b4'), { linearizable: true })).toMatchObject({ holder: null });
  });

  it('rejects a bad envelope as a whole (field ops), in JSON too, and keeps serving', async () => {
    const subject = subjects(tc.cluster).lease('batch');
    for (const [body, field] of [
      [{}, 'ops'],
      [{ ops: [] }, 'ops'],
      [{ ops: 'x' }, 'ops'],
      [{ ops: Array.from({ length: 1025 }, () => ({ op: 'extend' })) }, 'ops'],
      [{ ops: [{ op: 'extend', ...key('z'), holder: 'h', durationMs: 1 }], deadlineMs: -1 }, 'deadlineMs'],
    ] as const) {
      const m = await nc.request(subject, new TextEncoder().encode(JSON.stringify(body)), { timeout: 3000 });
      expect(m.headers?.get('Tenure-Error')).toBe('Invalid');
      expect(JSON.parse(m.string())).toMatchObject({ field });
    }
    // JSON works end to end (what `nats req …lease.batch '{"ops":[…]}'` users do).
    const m = await nc.request(subject, new TextEncoder().encode(JSON.stringify({ ops: [{ op: 'claim', ...key('json-1'), holder: 'j', durationMs: 5000 }] })), { timeout: 3000 });
    expect(JSON.parse(m.string())).toMatchObject({ results: [{ result: { holder: 'j', extended: false } }] });
  });

  it('is idempotent per op: a retried batch returns the first outcomes', async () => {
    const body = { ops: [{ op: 'claim', ...key('idem'), holder: 'i/0', durationMs: 10_000, clientId: 'idem-client', seq: 7 }] };
    const subject = subjects(tc.cluster).lease('batch');
    const first = await bus.request<{ results: { result: { token: number } }[] }>(subject, body, { deadlineMs: 3000 });
    const again = await bus.request<{ results: { result: { token: number } }[] }>(subject, body, { deadlineMs: 3000 });
    expect(again.results[0].result.token).toBe(first.results[0].result.token);
  });
});

describe('client write coalescing', () => {
  it("sends one turn's writes from many clients on one connection as batch requests, each answered as if alone", async () => {
    const shared = await tc.bus();
    const clients = Array.from({ length: 50 }, () => new TenureClient(shared, { cluster: tc.cluster }));
    const counters = coalescerFor(shared, subjects(tc.cluster)).counters;
    const before = { ...counters };
    await clients[0].claim(key('co-held'), 'someone', 10_000);
    const results = await Promise.allSettled(clients.map((c, i) => c.claim(key(i === 7 ? 'co-held' : `co-${i}`), `c${i}`, 10_000)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(49);
    const rejected = results[7] as PromiseRejectedResult;
    expect(rejected.reason).toBeInstanceOf(TenureError);
    expect((rejected.reason as TenureError).code).toBe('Held');
    expect(counters.writes - before.writes).toBe(51);
    // The 50 concurrent claims left as one batch (the first, alone, as a batch of one).
    expect(counters.batches - before.batches).toBe(2);
    expect(counters.batchedWrites - before.batchedWrites).toBe(51);
    const check = await tc.client();
    expect(await check.get(key('co-3'), { linearizable: true })).toMatchObject({ holder: 'c3' });
  });

  it('sends a lone write as a batch of one, straight to the leader once a reply has named it', async () => {
    const own = await tc.bus();
    const client = new TenureClient(own, { cluster: tc.cluster });
    const route = coalescerFor(own, subjects(tc.cluster));
    const leader = await tc.leader();
    await client.claim(key('lone-1'), 'a', 10_000); // through the queue group: the reply names the leader
    expect(route.routes.leader).toBe(leader.id);
    expect(route.batchSubject()).toBe(subjects(tc.cluster).nodeLease(leader.id, 'batch'));
    const direct = () => tc.running().reduce((n, x) => n + (x.id === leader.id ? x.manager.counters.byOp.batch : 0), 0);
    const before = direct();
    await client.extend(key('lone-1'), 'a', 20_000);
    await expect(client.claim(key('lone-1'), 'b', 10_000)).rejects.toMatchObject({ code: 'Held' });
    expect(direct() - before).toBe(2);
    expect(route.counters.batchedWrites).toBe(3);
  });

  it('sends claims and other writes of one turn as separate batches', async () => {
    const shared = await tc.bus();
    const counters = coalescerFor(shared, subjects(tc.cluster)).counters;
    const owner = new TenureClient(shared, { cluster: tc.cluster });
    await Promise.all([0, 1, 2].map((i) => owner.claim(key(`split-x${i}`), 'o', 10_000)));
    const before = { ...counters };
    const clients = Array.from({ length: 6 }, () => new TenureClient(shared, { cluster: tc.cluster }));
    const out = await Promise.all([
      ...[0, 1, 2].map((i) => clients[i].extend(key(`split-x${i}`), 'o', 10_000)),
      ...[3, 4, 5].map((i) => clients[i].claim(key(`split-c${i}`), 'c', 10_000)),
    ]);
    expect(out.map((r) => r.holder)).toEqual(['o', 'o', 'o', 'c', 'c', 'c']);
    expect(counters.batches - before.batches).toBe(2);
    expect(counters.batchedWrites - before.batchedWrites).toBe(6);
  });

  it('can be turned off per client', async () => {
    const shared = await tc.bus();
    const clients = Array.from({ length: 5 }, () => new TenureClient(shared, { cluster: tc.cluster, coalesce: false }));
    const counters = coalescerFor(shared, subjects(tc.cluster)).counters;
    await Promise.all(clients.map((c, i) => c.claim(key(`nc-${i}`), 'x', 5000)));
    expect(counters.batches).toBe(0);
  });
});

describe('batches go to the leader directly', () => {
  it('learns the leader from a batch reply, addresses it, and falls back to any node when it is gone', async () => {
    const client = await tc.client();
    const route = coalescerFor(client.bus, subjects(tc.cluster));
    const leader = await tc.leader();
    const first = await client.batch([{ op: 'claim', key: key('d1'), holder: 'd', durationMs: 10_000 }]);
    expect(first[0].ok).toBe(true);
    expect(route.routes.leader).toBe(leader.id);
    expect(route.batchSubject()).toBe(`tenure.v1.${tc.cluster}.node.${leader.id}.lease.batch`);
    const servedBefore = leader.manager.counters.byOp.batch;
    await client.batch([{ op: 'extend', key: key('d1'), holder: 'd', durationMs: 10_000 }]);
    expect(leader.manager.counters.byOp.batch).toBe(servedBefore + 1);

    await tc.stop(leader.id);
    const out = await client.batch([{ op: 'claim', key: key('d2'), holder: 'd', durationMs: 10_000 }], { deadlineMs: 15_000 });
    expect(out[0]).toMatchObject({ ok: true });
    const next = await tc.leader();
    expect(route.routes.leader).toBe(next.id);
  });
});

describe('a node that does not answer', () => {
  it('names the voters in a batch reply when asked (members: true), and refuses a members that is not a boolean', async () => {
    const s = subjects(tc.cluster);
    const ids = [...tc.ids].sort();
    const op = (lease: string) => ({ op: 'claim', ...key(lease), holder: 'm', durationMs: 10_000 });
    const asked = await bus.request<{ nodes?: string[]; leader?: string }>(s.lease('batch'), { ops: [op('mem1')], members: true }, { deadlineMs: 3000 });
    expect([...asked.nodes!].sort()).toEqual(ids);
    expect(ids).toContain(asked.leader);
    const plain = await bus.request<{ nodes?: string[] }>(s.lease('batch'), { ops: [op('mem2')] }, { deadlineMs: 3000 });
    expect(plain.nodes).toBeUndefined();
    await expect(bus.request(s.lease('batch'), { ops: [op('mem3')], members: 'yes' }, { deadlineMs: 3000 })).rejects.toMatchObject({ code: 'Invalid', details: { field: 'members' } });
    expect(await (await tc.client()).get(key('mem3'))).toMatchObject({ holder: null });
  });

  it('is passed over after a direct batch timed out: the retry goes straight to another voter, not to the silent node', async () => {
    const client = await tc.client();
    const route = coalescerFor(client.bus, subjects(tc.cluster));
    const leader = await tc.leader();
    await client.claim(key('ghost-1'), 'g', 10_000); // the first batch asks for the voters
    expect([...route.routes.nodes].sort()).toEqual([...tc.ids].sort());
    // A node that takes requests and never answers: a process standing still keeps its subscriptions.
    let hits = 0;
    const silent = nc.subscribe(subjects(tc.cluster).nodeLease('ghost', 'batch'), { callback: () => void hits++ });
    await nc.flush();
    try {
      route.routes.leader = 'ghost'; // as if the leader a reply named had stopped
      const res = await client.extend(key('ghost-1'), 'g', 10_000, { deadlineMs: 3000 });
      expect(res.holder).toBe('g');
      expect(hits).toBe(1);
      // The reply that came through another node named the leader again: batches go straight to it.
      expect(route.routes.leader).toBe(leader.id);
      expect(route.batchSubject()).toBe(subjects(tc.cluster).nodeLease(leader.id, 'batch'));
      // Named as leader again while suspected, the silent node is still passed over.
      route.routes.leader = 'ghost';
      expect(route.batchSubject()).not.toBe(subjects(tc.cluster).nodeLease('ghost', 'batch'));
      expect((await client.extend(key('ghost-1'), 'g', 10_000, { deadlineMs: 3000 })).holder).toBe('g');
      expect(hits).toBe(1);
    } finally {
      silent.unsubscribe();
    }
  });
});

describe('requests addressed to one node', () => {
  it('every node serves the whole API on its own subjects; an unknown op there is Invalid naming op', async () => {
    const s = subjects(tc.cluster);
    const writer = await tc.client();
    await writer.claim(key('own-1'), 'o', 10_000);
    for (const { id } of tc.running()) {
      expect(await bus.request(s.nodeLease(id, 'get'), { ...key('own-1'), linearizable: true }, { deadlineMs: 3000 })).toMatchObject({ holder: 'o' });
      const st = await bus.request<{ node?: string; id?: string }>(s.nodeLease(id, 'status'), {}, { deadlineMs: 3000 });
      expect(JSON.stringify(st)).toContain(id);
    }
    await expect(bus.request(`${s.prefix}.node.${tc.running()[0].id}.lease.frobnicate`, {}, { deadlineMs: 3000 })).rejects.toMatchObject({ code: 'Invalid', details: { field: 'op' } });
  });

  it('names the leader and the voters in every status; a client that only reads learns them there and then reads by name', async () => {
    const s = subjects(tc.cluster);
    const leader = await tc.leader();
    const st = await bus.request<{ leader?: string; nodes?: string[] }>(s.lease('status'), {}, { deadlineMs: 3000 });
    expect(st.leader).toBe(leader.id);
    expect([...st.nodes!].sort()).toEqual([...tc.ids].sort());
    const reader = await tc.client(); // its own connection: nothing learned yet
    expect(reader.routes.nodes).toEqual([]);
    expect(await reader.get(key('reader-1'))).toMatchObject({ holder: null }); // through the queue group
    for (let i = 0; i < 100 && reader.routes.nodes.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect([...reader.routes.nodes].sort()).toEqual([...tc.ids].sort());
    expect(reader.routes.counters.discoveries).toBe(1);
    // Every get the reader sends from now on (a retry included) goes to a node by name, none to the queue group.
    const seen: string[] = [];
    let queued = 0;
    const spy = nc.subscribe(`${s.prefix}.node.*.lease.get`, { callback: (_e, m) => void seen.push(m.subject.split('.')[4]) });
    const spyQueue = nc.subscribe(s.lease('get'), { callback: () => void queued++ });
    await nc.flush();
    try {
      for (let i = 0; i < 3; i++) expect(await reader.get(key('reader-1'), { linearizable: true })).toMatchObject({ holder: null });
      await nc.flush();
      expect(seen.length).toBeGreaterThanOrEqual(3);
      expect(seen.every((id) => tc.ids.includes(id))).toBe(true);
      expect(queued).toBe(0);
    } finally {
      spy.unsubscribe();
      spyQueue.unsubscribe();
    }
  });

  it('reads and waits pass over a voter that let one time out', async () => {
    const client = await tc.client();
    const leader = await tc.leader();
    await client.claim(key('own-2'), 'o', 10_000); // the first batch names the voters
    expect([...client.routes.nodes].sort()).toEqual([...tc.ids].sort());
    // Requests the silent node took, its probes (`status`) apart: a suspected node is probed.
    let hits = 0;
    const silent = nc.subscribe(`${subjects(tc.cluster).prefix}.node.ghost.lease.*`, { callback: (_e, m) => void (m.subject.endsWith('.status') || hits++) });
    await nc.flush();
    try {
      client.routes.learn({ leader: leader.id, nodes: ['ghost'] }); // as if the only voter named had stopped
      expect(await client.get(key('own-2'), { deadlineMs: 3000 })).toMatchObject({ holder: 'o' });
      expect(hits).toBe(1);
      client.routes.learn({ leader: leader.id, nodes: ['ghost', ...tc.ids] });
      for (let i = 0; i < 6; i++) expect(await client.get(key('own-2'))).toMatchObject({ holder: 'o' });
      const waited = client.wait(key('own-2'), { deadlineMs: 5000 });
      await client.revoke(key('own-2'), 'o');
      expect(await waited).toMatchObject({ free: true });
      expect(hits).toBe(1);
    } finally {
      client.routes.learn({ leader: null, nodes: tc.ids }); // ends the probes of the ghost
      silent.unsubscribe();
    }
  });

  it('a wait parked at a node that stands still moves to another once a probe finds it silent', async () => {
    const client = await tc.client();
    await client.claim(key('own-3'), 'o', 30_000);
    const hits = { wait: 0, status: 0 };
    const silent = nc.subscribe(`${subjects(tc.cluster).prefix}.node.ghost.lease.*`, { callback: (_e, m) => void hits[m.subject.endsWith('.status') ? 'status' : 'wait']++ });
    await nc.flush();
    try {
      client.routes.learn({ leader: null, nodes: ['ghost'] }); // the only voter named stands still
      const waited = client.wait(key('own-3'), { deadlineMs: 20_000 });
      for (let i = 0; i < 100 && client.routes.counters.moved === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(client.routes.counters).toMatchObject({ probesFailed: 1, moved: 1 });
      await client.revoke(key('own-3'), 'o');
      expect(await waited).toMatchObject({ free: true });
      expect(hits.wait).toBe(1); // the wait moved, and no later request went there
      expect(hits.status).toBeGreaterThanOrEqual(1); // still silent, still probed
    } finally {
      client.routes.learn({ leader: null, nodes: tc.ids }); // ends the probes of the ghost
      silent.unsubscribe();
    }
  });
});

describe('a busy leader refuses direct batches unread', () => {
  const lag = { lagMs: 0 };
  const busy = new TestCluster('batchbusy', ['n1', 'n2', 'n3'], { lease: { loadMonitor: lag } });
  beforeAll(async () => {
    await busy.startAll();
    await busy.leader();
  });
  afterAll(() => busy.shutdown());

  it('refuses a direct claims-only batch while lagging (the client goes through the queue group) and keeps taking direct extensions', async () => {
    const client = await busy.client();
    const s = subjects(busy.cluster);
    const route = coalescerFor(client.bus, s);
    const leader = await busy.leader();
    expect((await client.batch([{ op: 'claim', key: key('busy1'), holder: 'b', durationMs: 10_000 }]))[0].ok).toBe(true);
    expect(route.routes.leader).toBe(leader.id);

    lag.lagMs = 120; // every node lags: claims are shed, extensions still served
    try {
      // Extensions sent straight to the leader are taken (a follower would only forward them).
      const handledBefore = leader.manager.counters.byOp.batch;
      const ext = await client.bus.request<{ results: { result?: unknown }[] }>(s.nodeLease(leader.id, 'batch'), { ops: [{ op: 'extend', ...key('busy1'), holder: 'b', durationMs: 10_000 }] }, { deadlineMs: 2000 });
      expect(ext.results[0].result).toMatchObject({ holder: 'b' });
      expect(leader.manager.counters.byOp.batch).toBe(handledBefore + 1);

      // A claims-only batch sent straight to it is refused unread, saying it was direct.
      const direct = await client.bus
        .request(s.nodeLease(leader.id, 'batch'), { ops: [{ op: 'claim', ...key('busy3'), holder: 'b', durationMs: 10_000 }] }, { deadlineMs: 2000, lane: 'claim' })
        .catch((e: unknown) => e as TenureError);
      expect(direct).toBeInstanceOf(TenureError);
      expect(direct).toMatchObject({ code: 'Overloaded', details: { direct: true, lane: 'claim' } });

      // Through the client: the refused direct claims make it send claims through the queue group
      // for a while; other writes still go straight to the leader.
      const claims = await client.batch([{ op: 'claim', key: key('busy2'), holder: 'b', durationMs: 10_000 }]);
      expect(claims[0]).toMatchObject({ ok: false, error: { code: 'Overloaded' } });
      expect(route.batchSubject(true)).toBe(s.lease('batch'));
      expect(route.batchSubject()).toBe(s.nodeLease(leader.id, 'batch'));
      const batches = () => busy.running().map((x) => x.manager.counters.byOp.batch);
      const before = batches();
      const out = await client.batch([
        { op: 'extend', key: key('busy1'), holder: 'b', durationMs: 10_000 },
        { op: 'claim', key: key('busy2'), holder: 'b', durationMs: 10_000 },
      ]);
      expect(out[0]).toMatchObject({ ok: true, value: { holder: 'b' } });
      expect(out[1]).toMatchObject({ ok: false, error: { code: 'Overloaded' } });
      // Only the leader handled it (a follower would have had to decode and forward it).
      expect(batches().map((n, i) => n - before[i])).toEqual(busy.running().map((x) => (x.id === leader.id ? 1 : 0)));
    } finally {
      lag.lagMs = 0;
    }
  });

  it('refuses a claims-only batch (Tenure-Lane: claim) unread while shedding claims, and keeps serving other batches', async () => {
    const client = await busy.client();
    const s = subjects(busy.cluster);
    const ops = Array.from({ length: 20 }, (_, i) => ({ op: 'claim', ...key(`lane-${i}`), holder: 'h', durationMs: 10_000 }));
    const nodes = busy.running();
    const handled = () => nodes.reduce((n, x) => n + x.manager.counters.byOp.batch, 0);
    const shedBefore = nodes.reduce((n, x) => n + x.manager.counters.shed, 0);
    const handledBefore = handled();
    lag.lagMs = 120;
    try {
      const refused = await client.bus.request(s.lease('batch'), { ops }, { deadlineMs: 2000, lane: 'claim' }).catch((e: unknown) => e as TenureError);
      expect(refused).toMatchObject({ code: 'Overloaded', details: { lane: 'claim' } });
      // Refused before decoding: no node's batch handler ran, one shed counted for the whole herd.
      expect(handled()).toBe(handledBefore);
      expect(nodes.reduce((n, x) => n + x.manager.counters.shed, 0)).toBe(shedBefore + 1);
      // The same ops without the hint are decoded and shed op by op (same outcome, more work).
      const unmarked = await client.bus.request<{ results: { error?: { code: string } }[] }>(s.lease('batch'), { ops }, { deadlineMs: 2000 });
      expect(unmarked.results.every((r) => r.error?.code === 'Overloaded')).toBe(true);
      expect(handled()).toBe(handledBefore + 1);
      // Through the client, claims-only batches are marked: each claim gets Overloaded.
      const viaClient = await client.batch(ops.map(({ op, namespace, model, lease, ...rest }) => ({ ...rest, op: op as 'claim', key: { namespace, model, lease } })));
      expect(viaClient.every((o) => !o.ok && o.error.code === 'Overloaded')).toBe(true);
      expect(handled()).toBe(handledBefore + 1);
    } finally {
      lag.lagMs = 0;
    }
    const ok = await client.bus.request<{ results: { result?: unknown }[] }>(s.lease('batch'), { ops }, { deadlineMs: 5000, lane: 'claim' });
    expect(ok.results.every((r) => r.result !== undefined)).toBe(true);
  });
});
