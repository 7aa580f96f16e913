/**
 * The lease API's serving path (actors/micro-service.ts): answers leave through the frame path —
 * success and error, JSON and msgpack — with the headers nats.js would have sent: `Content-Type`
 * for JSON, `Tenure-Error` plus the micro-service error headers for errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Service } from '@nats-io/services';
import { pack, unpack } from 'msgpackr';
import { startMicroService } from '../../actors/micro-service.ts';
import { frameProtocol, type FrameProtocol } from '../../bus/nats-frame.ts';
import { TenureError, type ErrorCode } from '../../errors/errors.ts';
import { silentLogger } from '../../log/logger.ts';
import { natsUrl, uniqueCluster } from '../support/nats.ts';

const prefix = uniqueCluster('micro');
let server: NatsConnection;
let client: NatsConnection;
let svc: Service;
let viaNatsJs = 0;

beforeAll(async () => {
  server = await connect({ servers: natsUrl(), noAsyncTraces: true });
  client = await connect({ servers: natsUrl(), noAsyncTraces: true });
  svc = await startMicroService(
    { nc: server, name: 'tenure-micro-test', version: '0.0.1', description: 'test', queue: prefix, maxPayloadBytes: 1024, metadata: {}, logger: silentLogger },
    [
      {
        name: 'op',
        subject: `${prefix}.op`,
        handler: (req) => {
          const { code } = req.data as { code?: ErrorCode };
          if (code) throw new TenureError(code, `failed with ${code}`, { retryAfterMs: 5 });
          return { ok: true, echo: req.data };
        },
      },
    ],
  );
  await server.flush();
  // Counted from here: every answer below should go through the frame path, none through nats.js's
  // publish (which `nc.publish` and `msg.respond` both end in: the protocol handler's).
  const protocol = frameProtocol(server) as FrameProtocol & { publish(...args: unknown[]): void };
  const publish = protocol.publish.bind(protocol);
  protocol.publish = (...args: unknown[]) => {
    viaNatsJs++;
    publish(...args);
  };
});

afterAll(async () => {
  await svc?.stop();
  await Promise.all([server?.close(), client?.close()]);
});

describe('lease API answers (micro service endpoint)', () => {
  it('go through the frame path with the headers nats.js would send, success and error, JSON and msgpack', async () => {
    const subject = `${prefix}.op`;
    const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

    const okJson = await client.request(subject, json({ a: 1 }), { timeout: 2000 });
    expect(okJson.headers?.get('Content-Type')).toBe('application/json');
    expect(JSON.parse(okJson.string())).toEqual({ ok: true, echo: { a: 1 } });

    const okPack = await client.request(subject, pack({ a: 2 }), { timeout: 2000 });
    expect(okPack.headers).toBeUndefined();
    expect(unpack(okPack.data)).toEqual({ ok: true, echo: { a: 2 } });

    for (const [code, status] of [['NotHeld', '409'], ['DeadlineExceeded', '504'], ['Overloaded', '503']] as const) {
      const e1 = await client.request(subject, json({ code }), { timeout: 2000 });
      expect([e1.headers?.get('Tenure-Error'), e1.headers?.get('Nats-Service-Error'), e1.headers?.get('Nats-Service-Error-Code')]).toEqual([code, code, status]);
      expect(e1.headers?.get('Content-Type')).toBe('application/json');
      expect(JSON.parse(e1.string())).toEqual({ code, message: `failed with ${code}`, retryAfterMs: 5 });

      const e2 = await client.request(subject, pack({ code }), { timeout: 2000 });
      expect([e2.headers?.get('Tenure-Error'), e2.headers?.get('Nats-Service-Error-Code')]).toEqual([code, status]);
      expect(e2.headers?.get('Content-Type')).toBe(''); // nats.js: '' for a header not sent
      expect(unpack(e2.data)).toEqual({ code, message: `failed with ${code}`, retryAfterMs: 5 });
    }

    // Undecodable bytes: a typed Invalid in JSON, and the endpoint keeps serving.
    const bad = await client.request(subject, Uint8Array.of(0xc1, 0xff, 0x00), { timeout: 2000 });
    expect(bad.headers?.get('Tenure-Error')).toBe('Invalid');
    expect((await client.request(subject, json({ a: 3 }), { timeout: 2000 })).string()).toContain('"ok":true');
    expect(viaNatsJs).toBe(0);
  });
});
