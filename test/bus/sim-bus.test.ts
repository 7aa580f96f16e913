import { describe, expect, it } from 'vitest';
import { SimClock } from '../../clock/clock.ts';
import { SimNetwork, type SimNetworkOptions, type SimTraceEvent } from '../../bus/sim-bus.ts';
import type { Bus, IncomingRequest } from '../../bus/types.ts';
import { TenureError } from '../../errors/errors.ts';

type Outcome = { ok: unknown } | { err: string };

function settleOutcome(p: Promise<unknown>): Promise<Outcome> {
  return p.then(
    (ok) => ({ ok }),
    (err) => ({ err: err instanceof TenureError ? err.code : String(err) }),
  );
}

function setup(opts: Partial<SimNetworkOptions> = {}) {
  const clock = new SimClock(0);
  const net = new SimNetwork({ seed: 1, clock, trace: true, ...opts });
  return { clock, net };
}

/** Three servers in a queue group plus a client firing requests; returns the trace and outcomes. */
async function scenario(seed: number): Promise<{ trace: SimTraceEvent[]; outcomes: Outcome[] }> {
  const clock = new SimClock(0);
  const net = new SimNetwork({ seed, clock, trace: true, minDelayMs: 1, maxDelayMs: 20, dropRate: 0.1, duplicateRate: 0.1 });
  for (const name of ['n1', 'n2', 'n3']) {
    const ep = net.endpoint(name);
    ep.serve('svc.echo', (req) => ({ by: name, data: req.data }), { queue: 'svc' });
    ep.subscribe('events.>', () => {});
  }
  const client = net.endpoint('client');
  const pending: Promise<Outcome>[] = [];
  for (let i = 0; i < 30; i++) {
    pending.push(settleOutcome(client.request('svc.echo', { i }, { deadlineMs: 100 })));
    client.publish(`events.e${i % 3}`, { i });
  }
  await clock.advance(200);
  return { trace: net.trace, outcomes: await Promise.all(pending) };
}

describe('SimNetwork', () => {
  it('is deterministic: same seed, same delivery trace', async () => {
    const a = await scenario(42);
    const b = await scenario(42);
    expect(a.trace.length).toBeGreaterThan(50);
    expect(b.trace).toEqual(a.trace);
    expect(b.outcomes).toEqual(a.outcomes);
  });

  it('different seeds give different traces', async () => {
    const a = await scenario(1);
    const b = await scenario(2);
    expect(b.trace).not.toEqual(a.trace);
  });

  it('reorders messages with random delays', async () => {
    const { clock, net } = setup({ minDelayMs: 1, maxDelayMs: 50 });
    const got: number[] = [];
    net.endpoint('rx').subscribe('x', (d) => got.push((d as { i: number }).i));
    const tx = net.endpoint('tx');
    for (let i = 0; i < 20; i++) tx.publish('x', { i });
    await clock.advance(100);
    expect([...got].sort((p, q) => p - q)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(got).not.toEqual([...got].sort((p, q) => p - q));
  });

  it('answers requests, copying payloads (no shared objects)', async () => {
    const { clock, net } = setup();
    let seen: IncomingRequest | undefined;
    net.endpoint('server').serve('svc', (req) => {
      seen = req;
      (req.data as { list: number[] }).list.push(99);
      return { got: req.data };
    });
    const payload = { list: [1] };
    const p = net.endpoint('client').request('svc', payload, { deadlineMs: 1000 });
    await clock.advance(20);
    await expect(p).resolves.toEqual({ got: { list: [1, 99] } });
    expect(payload.list).toEqual([1]);
    expect(seen!.json).toBe(false);
    expect(seen!.deadline).toBeGreaterThan(clock.now());
  });

  it('gives NoResponders on the next tick when nothing subscribes', async () => {
    const { clock, net } = setup();
    const p = settleOutcome(net.endpoint('client').request('nobody', {}, { deadlineMs: 10_000 }));
    await clock.advance(0);
    expect(await p).toEqual({ err: 'NoResponders' });
    expect(clock.now()).toBe(0);
    expect(net.trace.some((e) => e.kind === 'no-responders')).toBe(true);
  });

  it('times out on the clock and cancels on abort', async () => {
    const { clock, net } = setup();
    net.endpoint('server').serve('hang', () => new Promise(() => {}));
    const client = net.endpoint('client');
    const timedOut = settleOutcome(client.request('hang', {}, { deadlineMs: 500 }));
    await clock.advance(499);
    const ac = new AbortController();
    const cancelled = settleOutcome(client.request('hang', {}, { deadlineMs: 500, signal: ac.signal }));
    ac.abort();
    expect(await cancelled).toEqual({ err: 'Cancelled' });
    await clock.advance(1);
    expect(await timedOut).toEqual({ err: 'Timeout' });
  });

  it('partition blocks delivery and heal restores it', async () => {
    const { clock, net } = setup();
    const hits: string[] = [];
    for (const n of ['a', 'b']) {
      const ep = net.endpoint(n);
      ep.serve(`to.${n}`, () => ({ from: n }));
      ep.subscribe('bcast', () => hits.push(n));
    }
    const c = net.endpoint('c');

    net.partition([['a', 'c'], ['b']]);
    const toA = settleOutcome(c.request('to.a', {}, { deadlineMs: 100 }));
    const toB = settleOutcome(c.request('to.b', {}, { deadlineMs: 100 }));
    c.publish('bcast', {});
    await clock.advance(200);
    expect(await toA).toEqual({ ok: { from: 'a' } });
    expect(await toB).toEqual({ err: 'Timeout' });
    expect(hits).toEqual(['a']);
    expect(net.trace.some((e) => e.kind === 'drop' && e.reason === 'partition' && e.to === 'b')).toBe(true);

    net.heal();
    const again = settleOutcome(c.request('to.b', {}, { deadlineMs: 100 }));
    c.publish('bcast', {});
    await clock.advance(200);
    expect(await again).toEqual({ ok: { from: 'b' } });
    expect(hits.sort()).toEqual(['a', 'a', 'b']);
  });

  it('isolate and block cut links; unreachable can be NoResponders', async () => {
    const { clock, net } = setup({ unreachable: 'no-responders' });
    net.endpoint('a').serve('svc', () => ({ ok: 1 }));
    const c = net.endpoint('c');
    net.isolate('a');
    const p1 = settleOutcome(c.request('svc', {}, { deadlineMs: 100 }));
    await clock.advance(1);
    expect(await p1).toEqual({ err: 'NoResponders' });
    net.heal();
    net.block('c', 'a');
    const p2 = settleOutcome(c.request('svc', {}, { deadlineMs: 100 }));
    await clock.advance(1);
    expect(await p2).toEqual({ err: 'NoResponders' });
    net.unblock('c', 'a');
    const p3 = settleOutcome(c.request('svc', {}, { deadlineMs: 100 }));
    await clock.advance(20);
    expect(await p3).toEqual({ ok: { ok: 1 } });
  });

  it('a cut reply path loses the reply (the request still ran)', async () => {
    const { clock, net } = setup();
    let ran = 0;
    net.endpoint('s').serve('svc', () => ({ n: ++ran }));
    const c = net.endpoint('c');
    net.block('s', 'c', { oneWay: true });
    const p = settleOutcome(c.request('svc', {}, { deadlineMs: 100 }));
    await clock.advance(200);
    expect(await p).toEqual({ err: 'Timeout' });
    expect(ran).toBe(1);
  });

  it('drops and duplicates messages at the configured rates', async () => {
    const { clock, net } = setup({ seed: 7, dropRate: 0.3 });
    let received = 0;
    net.endpoint('rx').subscribe('x', () => received++);
    const tx = net.endpoint('tx');
    for (let i = 0; i < 1000; i++) tx.publish('x', { i });
    await clock.advance(10);
    expect(received).toBeGreaterThan(600);
    expect(received).toBeLessThan(800);

    net.setFaults({ dropRate: 0, duplicateRate: 0.5 });
    received = 0;
    for (let i = 0; i < 1000; i++) tx.publish('x', { i });
    await clock.advance(10);
    expect(received).toBeGreaterThan(1400);
    expect(received).toBeLessThan(1600);
    expect(net.stats().duplicated).toBeGreaterThan(400);
  });

  it('a duplicated request runs the handler twice but settles the caller once', async () => {
    const { clock, net } = setup({ duplicateRate: 1 });
    let ran = 0;
    net.endpoint('s').serve('svc', () => ({ n: ++ran }));
    const c = net.endpoint('c');
    const p = c.request('svc', {}, { deadlineMs: 100 });
    await clock.advance(50);
    expect(ran).toBe(2);
    await expect(p).resolves.toMatchObject({ n: expect.any(Number) });
    expect(c.stats().lateReplies).toBeGreaterThanOrEqual(1);
  });

  it('queue groups deliver to one member; plain subscriptions all get a copy', async () => {
    const { clock, net } = setup();
    const hits: Record<string, number> = {};
    const count = (k: string) => () => {
      hits[k] = (hits[k] ?? 0) + 1;
      return {};
    };
    for (const n of ['a', 'b', 'c']) {
      const ep = net.endpoint(n);
      ep.serve('work', count(`q-${n}`), { queue: 'g' });
      ep.subscribe('work', count(`plain-${n}`));
    }
    const client = net.endpoint('client');
    await Promise.all([
      ...Array.from({ length: 30 }, () => client.request('work', {}, { deadlineMs: 100 })),
      clock.advance(50),
    ]);
    expect((hits['q-a'] ?? 0) + (hits['q-b'] ?? 0) + (hits['q-c'] ?? 0)).toBe(30);
    expect(Object.keys(hits).filter((k) => k.startsWith('q-')).length).toBeGreaterThan(1);
    expect([hits['plain-a'], hits['plain-b'], hits['plain-c']]).toEqual([30, 30, 30]);
  });

  it('matches * and > wildcards', async () => {
    const { clock, net } = setup();
    const got: string[] = [];
    const rx = net.endpoint('rx');
    rx.subscribe('a.*.c', (_d, s) => got.push(`star:${s}`));
    rx.subscribe('a.>', (_d, s) => got.push(`gt:${s}`));
    const tx = net.endpoint('tx');
    tx.publish('a.b.c', {});
    tx.publish('a.b.c.d', {});
    tx.publish('x.b.c', {});
    await clock.advance(10);
    expect(got.sort()).toEqual(['gt:a.b.c', 'gt:a.b.c.d', 'star:a.b.c']);
  });

  it('maps handler errors, bad payloads and oversize payloads like NATS does', async () => {
    const { clock, net } = setup();
    const s = net.endpoint('s');
    s.serve('held', () => {
      throw new TenureError('Held', 'held', { holder: 'x' });
    });
    s.serve('boom', async () => {
      throw new Error('boom');
    });
    s.serve('small', () => ({}), { maxPayloadBytes: 64 });
    const c: Bus = net.endpoint('c');
    const r = [
      settleOutcome(c.request('held', {}, { deadlineMs: 100, json: true })),
      settleOutcome(c.request('boom', {}, { deadlineMs: 100 })),
      settleOutcome(c.request('small', { blob: 'x'.repeat(100) }, { deadlineMs: 100 })),
      settleOutcome(c.request('small', { ok: 1 }, { deadlineMs: 100 })),
    ];
    await clock.advance(20);
    expect(await Promise.all(r)).toEqual([{ err: 'Held' }, { err: 'Internal' }, { err: 'Invalid' }, { ok: {} }]);
    const held = c.request('held', {}, { deadlineMs: 100 }).catch((e) => e as TenureError);
    await clock.advance(20);
    expect(await held).toMatchObject({ code: 'Held', message: 'held', details: { holder: 'x' } });
  });

  it('a closed endpoint drops what is sent to it; its name can be reused', async () => {
    const { clock, net } = setup();
    const a = net.endpoint('a');
    a.serve('svc', () => ({ v: 1 }));
    const c = net.endpoint('c');
    const inFlight = settleOutcome(c.request('svc', {}, { deadlineMs: 100 }));
    const mine = settleOutcome(a.request('svc', {}, { deadlineMs: 100 }));
    await a.close();
    expect(await mine).toEqual({ err: 'Cancelled' });
    await clock.advance(200);
    expect(await inFlight).toEqual({ err: 'Timeout' });
    const after = settleOutcome(c.request('svc', {}, { deadlineMs: 100 }));
    await clock.advance(1);
    expect(await after).toEqual({ err: 'NoResponders' });
    expect(() => net.endpoint('c')).toThrow(/already exists/);
    const a2 = net.endpoint('a');
    a2.serve('svc', () => ({ v: 2 }));
    const again = settleOutcome(c.request('svc', {}, { deadlineMs: 100 }));
    await clock.advance(20);
    expect(await again).toEqual({ ok: { v: 2 } });
  });

  it('unsubscribe stops delivery', async () => {
    const { clock, net } = setup();
    let n = 0;
    const rx = net.endpoint('rx');
    const sub = rx.subscribe('x', () => n++);
    const tx = net.endpoint('tx');
    tx.publish('x', {});
    await clock.advance(10);
    sub.unsubscribe();
    tx.publish('x', {});
    await clock.advance(10);
    expect(n).toBe(1);
  });

  it('validates faults', () => {
    const { net } = setup();
    expect(() => net.setFaults({ dropRate: 2 })).toThrow(/dropRate/);
    expect(() => net.setFaults({ minDelayMs: 10, maxDelayMs: 5 })).toThrow(/maxDelayMs/);
    expect(() => net.partition([['a'], ['a']])).toThrow(/more than one group/);
  });
});
