/**
 * A caller whose event loop stalls past a request's deadline while the reply is already in its
 * socket gets the reply, not `Timeout` (bus/io-timeout.ts): Node runs expired timers before it
 * reads sockets, so the timeout used to win and the reply — the operation applied — was dropped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { NatsBus } from '../../bus/nats-bus.ts';
import { connectBus, natsUrl, uniqueCluster } from '../support/nats.ts';

const subject = `${uniqueCluster('iot')}.echo`;
let responder: ChildProcess;
let bus: NatsBus;

// The responder runs in another process, so it answers while this one is stalled.
const script = `
import { connect } from '@nats-io/transport-node';
const nc = await connect({ servers: process.env.IOT_URL });
nc.subscribe(process.env.IOT_SUBJECT, { callback: (_err, msg) => msg.respond(msg.data) });
nc.subscribe(process.env.IOT_SUBJECT + '.silent', { callback: () => {} });
await nc.flush();
console.log('ready');
`;

beforeAll(async () => {
  responder = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, IOT_URL: natsUrl(), IOT_SUBJECT: subject },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await once(responder.stdout!, 'data');
  bus = await connectBus({ name: 'io-timeout' });
}, 30_000);

afterAll(async () => {
  await bus?.close();
  responder?.kill();
});

/** Blocks this process's event loop for `ms`, from the check phase, so the next turn runs timers before it polls sockets. */
const stallFromCheckPhase = (ms: number) =>
  new Promise<void>((resolve) =>
    setImmediate(() => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        /* stalled */
      }
      resolve();
    }),
  );

it('delivers a reply that arrived during a stall longer than the deadline', async () => {
  for (let i = 0; i < 3; i++) {
    const reply = bus.request(subject, { n: i }, { deadlineMs: 100 });
    await stallFromCheckPhase(500); // the request leaves first (nats.js flushes in a microtask)
    await expect(reply).resolves.toEqual({ n: i });
  }
});

it('still times out when no reply comes', async () => {
  const started = Date.now();
  await expect(bus.request(`${subject}.silent`, {}, { deadlineMs: 100 })).rejects.toMatchObject({ code: 'Timeout' });
  expect(Date.now() - started).toBeGreaterThanOrEqual(99);
});
