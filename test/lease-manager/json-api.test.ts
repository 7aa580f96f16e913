/**
 * Runs the README's "Lease API (JSON examples)" verbatim: every `nats req` line, in order, as raw
 * JSON bytes on a plain NATS connection (what the `nats` CLI sends), against a fresh 3-node cluster.
 * Each answer must be JSON with the same fields as the documented sample (and the same values for
 * the fields that do not depend on timing), and errors must carry the `Tenure-Error` header.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Svcm } from '@nats-io/services';
import { connectBus, natsUrl, uniqueCluster } from '../support/nats.ts';
import { ProcessCluster } from '../support/process-cluster.ts';
import { TestCluster, delay, eventually } from './harness.ts';
import { LEASE_OPS } from '../../bus/subjects.ts';

interface Example {
  subject: string;
  op: string;
  json: string;
  answer: Record<string, unknown>;
}

function readmeExamples(): { examples: Example[]; event: Record<string, unknown>; eventsSubject: string } {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('## Lease API (JSON examples)');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const examples: Example[] = [];
  const re = /```sh\nnats req (tenure\.v1\.default\.lease\.(\w+)) '([^'\n]*)'\n```\n```json\n(.+)\n```/g;
  for (const m of section.matchAll(re)) examples.push({ subject: m[1], op: m[2], json: m[3], answer: JSON.parse(m[4]) });
  const ev = /```sh\nnats sub '([^']+)'\n```\n```json\n(.+)\n```/.exec(section);
  if (!ev) throw new Error('README has no events example');
  return { examples, eventsSubject: ev[1], event: JSON.parse(ev[2]) };
}

// Values that depend on timing, placement or history rather than on the request.
const VARIABLE = new Set(['expiry', 'remainingMs', 'time', 'node', 'role', 'leader', 'term', 'appliedIndex', 'commitIndex', 'clockLagMs', 'clock', 'events', 'leases', 'waiters', 'inFlight', 'index', 'token', 'cluster', 'transport']);

/** The same examples run against in-process nodes and against `tenure node` processes started the way `npm start` starts them. */
interface Target {
  cluster: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

function inProcess(): Target {
  const tc = new TestCluster('json');
  return {
    cluster: tc.cluster,
    start: async () => {
      await tc.startAll();
      await tc.leader();
    },
    stop: () => tc.shutdown(),
  };
}

function processes(): Target {
  const pc = new ProcessCluster(natsUrl(), uniqueCluster('jsonproc'));
  return {
    cluster: pc.cluster,
    start: async () => {
      await pc.start();
      const bus = await connectBus();
      try {
        await pc.waitForLeader(bus);
      } finally {
        await bus.close();
      }
    },
    stop: () => pc.stop(),
  };
}

describe.each([
  ['in-process nodes', inProcess],
  ['node processes (as npm start runs them)', processes],
])('the README JSON examples on %s', (_name, makeTarget) => {
  const tc = makeTarget();
  let nc: NatsConnection;

  beforeAll(async () => {
    await tc.start();
    nc = await connect({ servers: natsUrl() });
  }, 60_000);

  afterAll(async () => {
    await nc?.close();
    await tc.stop();
  });

  const { examples, event, eventsSubject } = readmeExamples();

  it('documents every operation', () => {
    expect(new Set(examples.map((e) => e.op))).toEqual(new Set(LEASE_OPS));
  });

  it('answers each documented request with the documented JSON shape', async () => {
    const events: Record<string, unknown>[] = [];
    const sub = nc.subscribe(eventsSubject.replace('.default.', `.${tc.cluster}.`), {
      callback: (_err, m) => {
        events.push(JSON.parse(m.string()));
      },
    });
    await nc.flush();
    const answers: Record<string, unknown>[] = [];
    for (const ex of examples) {
      const subject = ex.subject.replace('.default.', `.${tc.cluster}.`);
      const msg = await nc.request(subject, new TextEncoder().encode(ex.json), { timeout: 5000 });
      const text = msg.string();
      const body = JSON.parse(text) as Record<string, unknown>; // JSON in, JSON out
      const docCode = ex.answer.code as string | undefined;
      expect(msg.headers?.get('Tenure-Error') || undefined, `${ex.op} ${ex.json} → ${text}`).toBe(docCode);
      expect(Object.keys(body).sort(), `${ex.op} ${ex.json} → ${text}`).toEqual(Object.keys(ex.answer).sort());
      for (const [k, v] of Object.entries(ex.answer)) {
        if (VARIABLE.has(k) || k === 'message') continue;
        if (k === 'leases') continue;
        expect(body[k], `${ex.op}.${k}`).toEqual(v);
      }
      answers.push(body);
    }
    // The idempotent claim is documented once; running it again gives the same answer.
    const idem = examples.find((e) => e.json.includes('"clientId"'))!;
    const again = await nc.request(idem.subject.replace('.default.', `.${tc.cluster}.`), new TextEncoder().encode(idem.json), { timeout: 5000 });
    // (`remainingMs` is recomputed against the lease clock at answer time; the outcome is the same.)
    const { remainingMs: _a, ...repeated } = JSON.parse(again.string()) as Record<string, unknown>;
    const { remainingMs: _b, ...original } = answers[examples.indexOf(idem)] as Record<string, unknown>;
    expect(repeated).toEqual(original);

    // The events example has the same fields as what subscribers get.
    await eventually(() => events.length > 0, 5000, 'events');
    await delay(200);
    const claimed = events.find((e) => e.kind === 'claimed')!;
    expect(Object.keys(claimed).sort()).toEqual(Object.keys(event).sort());
    sub.unsubscribe();
  });

  it('serves the tenure micro service', async () => {
    const infos: { name: string; metadata?: Record<string, string>; endpoints: { subject: string }[] }[] = [];
    const client = new Svcm(nc as unknown as ConstructorParameters<typeof Svcm>[0]).client({ maxWait: 1000 } as never);
    for await (const info of await client.info('tenure')) infos.push(info);
    const ours = infos.filter((i) => i.metadata?.cluster === tc.cluster);
    expect(ours.map((i) => i.metadata?.node).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(ours[0].endpoints.map((e) => e.subject)).toEqual([`tenure.v1.${tc.cluster}.lease.*`]);
  });
});
