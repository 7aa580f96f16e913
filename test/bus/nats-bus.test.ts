import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { NatsBus } from '../../bus/nats-bus.ts';
import { decode, DEADLINE_HEADER, encode, ERROR_HEADER } from '../../bus/codec.ts';
import { subjects } from '../../bus/subjects.ts';
import { TenureError } from '../../errors/errors.ts';
import type { IncomingRequest } from '../../bus/types.ts';
import { JSON_HEADERS } from '../../bus/nats-headers.ts';
import { connectBus, natsUrl, uniqueCluster } from '../support/nats.ts';
import { freePort } from '../support/nats-server.ts';

async function rejection(p: Promise<unknown>): Promise<TenureError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(TenureError);
    return err as TenureError;
  }
  throw new Error('expected the promise to reject');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('NatsBus', () => {
  const s = subjects(uniqueCluster('nb'));
  const subj = (name: string) => `${s.prefix}.test.${name}`;
  let server: NatsBus;
  let client: NatsBus;
  let raw: NatsConnection;
  const seen: IncomingRequest[] = [];

  beforeAll(async () => {
    server = await connectBus({ name: 'server' });
    client = await connectBus({ name: 'client' });
    raw = await connect({ servers: natsUrl(), noAsyncTraces: true });

    server.serve(subj('echo'), (req) => {
      seen.push(req);
      return { echo: req.data, json: req.json, size: req.size };
    }, { maxPayloadBytes: 1024 });
    server.serve(subj('held'), () => {
      throw new TenureError('Held', 'held by app1/0', { holder: 'app1/0' });
    });
    let calls = 0;
    server.serve(subj('flaky'), async () => {
      calls++;
      if (calls % 2 === 1) throw new RangeError('kaboom');
      return { calls };
    });
    server.serve(subj('never'), () => new Promise(() => {}));
    server.serve(subj('slow'), async () => {
      await sleep(300);
      return { ok: true };
    });
    server.serve(subj('primitive'), () => 42);
    await server.flush();
  });

  afterAll(async () => {
    await client?.close();
    await server?.close();
    await raw?.close();
  });

  it('round-trips a msgpack request', async () => {
    const reply = await client.request<{ echo: unknown; json: boolean }>(subj('echo'), { a: 1, b: ['x'] }, { deadlineMs: 5000 });
    expect(reply).toEqual({ echo: { a: 1, b: ['x'] }, json: false, size: expect.any(Number) });
  });

  it('fails at once with NoResponders when nobody serves the subject', async () => {
    const err = await rejection(client.request(subj('nobody-home'), { a: 1 }, { deadlineMs: 10_000 }));
    expect(err.code).toBe('NoResponders');
    expect(err.message).toContain(subj('nobody-home'));
  });

  it('answers JSON in JSON and msgpack in msgpack (raw client)', async () => {
    const body = '{"namespace":"application-leadership","lease":"app1"}';
    const j = await raw.request(subj('echo'), body, { timeout: 5000 });
    expect(j.data[0]).toBe(0x7b);
    expect(j.headers?.get('Content-Type')).toBe('application/json');
    expect(JSON.parse(j.string())).toEqual({ echo: { namespace: 'application-leadership', lease: 'app1' }, json: true, size: body.length });

    const m = await raw.request(subj('echo'), encode({ lease: 'app1' }, false), { timeout: 5000 });
    expect(m.data[0]).not.toBe(0x7b);
    expect(m.headers?.get(ERROR_HEADER) ?? '').toBe('');
    expect(decode(m.data)).toEqual({ value: { echo: { lease: 'app1' }, json: false, size: expect.any(Number) }, json: false });
  });

  it('treats an empty request as {} in JSON (nats req subj "")', async () => {
    const r = await raw.request(subj('echo'), new Uint8Array(0), { timeout: 5000 });
    expect(JSON.parse(r.string())).toEqual({ echo: {}, json: true, size: 0 });
  });

  it('sends JSON when asked and the handler sees it', async () => {
    const reply = await client.request(subj('echo'), { x: 'y' }, { deadlineMs: 5000, json: true });
    expect(reply).toEqual({ echo: { x: 'y' }, json: true, size: 9 });
  });

  it('answers garbage bytes with Invalid (payload) and keeps serving', async () => {
    for (const bytes of [new Uint8Array([0xc1, 0x00, 0xff]), new TextEncoder().encode('{"unterminated'), new TextEncoder().encode('hello')]) {
      const r = await raw.request(subj('echo'), bytes, { timeout: 5000 });
      expect(r.headers?.get(ERROR_HEADER)).toBe('Invalid');
      const body = JSON.parse(r.string());
      expect(body).toMatchObject({ code: 'Invalid', field: 'payload' });
    }
    const ok = await client.request(subj('echo'), { still: 'alive' }, { deadlineMs: 5000 });
    expect(ok).toMatchObject({ echo: { still: 'alive' } });
  });

  it('rejects oversize payloads with Invalid (payload) without calling the handler', async () => {
    const before = seen.length;
    const err = await rejection(client.request(subj('echo'), { blob: 'x'.repeat(5000) }, { deadlineMs: 5000 }));
    expect(err.code).toBe('Invalid');
    expect(err.details.field).toBe('payload');
    expect(err.message).toMatch(/too large/);
    expect(seen.length).toBe(before);
  });

  it('turns a thrown TenureError into the same typed error for the caller', async () => {
    for (const json of [false, true]) {
      const err = await rejection(client.request(subj('held'), {}, { deadlineMs: 5000, json }));
      expect(err.code).toBe('Held');
      expect(err.message).toBe('held by app1/0');
      expect(err.details).toEqual({ holder: 'app1/0' });
    }
    const r = await raw.request(subj('held'), '{}', { timeout: 5000 });
    expect(r.headers?.get(ERROR_HEADER)).toBe('Held');
    expect(JSON.parse(r.string())).toEqual({ code: 'Held', message: 'held by app1/0', holder: 'app1/0' });
  });

  it('turns other exceptions into Internal and keeps the subscription alive', async () => {
    const err = await rejection(client.request(subj('flaky'), {}, { deadlineMs: 5000 }));
    expect(err.code).toBe('Internal');
    expect(err.message).toBe('kaboom');
    expect(await client.request(subj('flaky'), {}, { deadlineMs: 5000 })).toEqual({ calls: 2 });
    expect(server.stats().internalErrors).toBeGreaterThanOrEqual(1);
  });

  it('replies Internal when a handler returns a non-object', async () => {
    const err = await rejection(client.request(subj('primitive'), {}, { deadlineMs: 5000 }));
    expect(err.code).toBe('Internal');
  });

  it('times out with Timeout', async () => {
    const err = await rejection(client.request(subj('never'), {}, { deadlineMs: 150 }));
    expect(err.code).toBe('Timeout');
    const late = await rejection(client.request(subj('slow'), {}, { deadlineMs: 50 }));
    expect(late.code).toBe('Timeout');
    await sleep(400); // the late reply arrives and is ignored
    expect(client.stats().lateReplies).toBeGreaterThanOrEqual(1);
  });

  it('rejects a request with no budget left as Timeout without sending it', async () => {
    expect((await rejection(client.request(subj('echo'), {}, { deadlineMs: 0 }))).code).toBe('Timeout');
  });

  it('sends the remaining budget; the server sees an absolute deadline', async () => {
    const before = Date.now();
    await client.request(subj('echo'), { d: 1 }, { deadlineMs: 2000 });
    const req = seen.at(-1)!;
    expect(req.deadline).toBeGreaterThanOrEqual(before + 1900);
    expect(req.deadline).toBeLessThanOrEqual(Date.now() + 2000);

    const r = await raw.request(subj('echo'), '{}', { timeout: 5000 }); // no header: no deadline
    expect(r.data.length).toBeGreaterThan(0);
    expect(seen.at(-1)!.deadline).toBe(Infinity);

    const h = headers();
    h.set(DEADLINE_HEADER, '750');
    await raw.request(subj('echo'), '{}', { timeout: 5000, headers: h });
    expect(seen.at(-1)!.deadline).toBeGreaterThan(Date.now() + 500);
  });

  it('cancels with Cancelled, at once, while waiting', async () => {
    const ac = new AbortController();
    const p = client.request(subj('never'), {}, { deadlineMs: 10_000, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('caller went away')), 30);
    const err = await rejection(p);
    expect(err.code).toBe('Cancelled');
    expect(err.message).toContain('caller went away');

    const pre = new AbortController();
    pre.abort();
    expect((await rejection(client.request(subj('echo'), {}, { deadlineMs: 1000, signal: pre.signal }))).code).toBe('Cancelled');
  });

  it('delivers each request to one member of a queue group', async () => {
    const other = await connectBus({ name: 'other' });
    try {
      const hits = { a: 0, b: 0 };
      server.serve(subj('q'), () => ({ by: 'a', n: ++hits.a }), { queue: 'workers' });
      other.serve(subj('q'), () => ({ by: 'b', n: ++hits.b }), { queue: 'workers' });
      await server.flush();
      await other.flush();
      await Promise.all(Array.from({ length: 40 }, () => client.request(subj('q'), {}, { deadlineMs: 5000 })));
      expect(hits.a + hits.b).toBe(40);
    } finally {
      await other.close();
    }
  });

  it('publishes and subscribes with wildcards; undecodable messages are dropped and counted', async () => {
    const got: Array<[unknown, string]> = [];
    const sub = client.subscribe(`${s.prefix}.events.>`, (data, subject) => got.push([data, subject]));
    await client.flush();
    server.publish(s.events('application-leadership', 'm1', 'app1'), { type: 'claimed', holder: 'app1/0' }, { json: true });
    server.publish(s.events('singular-controller', 'c1', 'lead'), { type: 'expired' });
    raw.publish(s.events('ns', 'm', 'garbage'), new Uint8Array([0xc1]));
    await server.flush();
    await raw.flush();
    for (let i = 0; i < 100 && got.length + client.stats().undecodable < 3; i++) await sleep(10);
    expect(got).toEqual([
      [{ type: 'claimed', holder: 'app1/0' }, s.events('application-leadership', 'm1', 'app1')],
      [{ type: 'expired' }, s.events('singular-controller', 'c1', 'lead')],
    ]);
    expect(client.stats().undecodable).toBe(1);
    sub.unsubscribe();
  });

  it('marks every JSON publish with Content-Type for other clients (headers encoded once, shared)', async () => {
    const seen: Array<{ ct: string; body: string }> = [];
    const sub = raw.subscribe(`${s.prefix}.events.hdr.>`, { callback: (_err, m) => void seen.push({ ct: m.headers?.get('Content-Type') ?? '', body: m.string() }) });
    await raw.flush();
    for (let i = 0; i < 3; i++) server.publish(s.events('hdr', 'm', `l${i}`), { n: i, name: 'é€😀' }, { json: true });
    server.publish(s.events('hdr', 'm', 'packed'), { n: 9 });
    await server.flush();
    for (let i = 0; i < 100 && seen.length < 4; i++) await sleep(10);
    expect(seen).toEqual([
      { ct: 'application/json', body: '{"n":0,"name":"é€😀"}' },
      { ct: 'application/json', body: '{"n":1,"name":"é€😀"}' },
      { ct: 'application/json', body: '{"n":2,"name":"é€😀"}' },
      { ct: '', body: expect.any(String) }, // msgpack: no header
    ]);
    expect(() => JSON_HEADERS.set('Content-Type', 'text/plain')).toThrow(/frozen/);
    expect(JSON_HEADERS.get('Content-Type')).toBe('application/json');
    sub.unsubscribe();
  });

  it('maps an invalid subject to Invalid', async () => {
    const err = await rejection(client.request('bad subject', {}, { deadlineMs: 1000 }));
    expect(err.code).toBe('Invalid');
    expect(err.details.field).toBe('subject');
  });

  it('rejects pending requests with Cancelled on close', async () => {
    const bus = await connectBus({ name: 'closing' });
    const p = rejection(bus.request(subj('never'), {}, { deadlineMs: 10_000 }));
    await bus.flush();
    await bus.close();
    expect((await p).code).toBe('Cancelled');
    expect((await rejection(bus.request(subj('echo'), {}, { deadlineMs: 1000 }))).code).toBe('Cancelled');
    bus.publish(subj('after-close'), {}); // a no-op, not a throw
  });

  it('names the URL when the server is unreachable, without hanging', async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}`;
    await expect(NatsBus.connect(url, { connectTimeoutMs: 2000 })).rejects.toThrow(url);
  });
});
