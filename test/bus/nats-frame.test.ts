import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { frameProtocol, publishFrame, type FrameProtocol } from '../../bus/nats-frame.ts';
import { JSON_HEADER_BYTES, JSON_HEADERS, replyHeaderBlocks, replyHeaders } from '../../bus/nats-headers.ts';
import { ERROR_CODES, TenureError } from '../../errors/errors.ts';
import { connectBus, natsUrl, uniqueCluster } from '../support/nats.ts';
import { frameRecorder, openConnection, type NatsPublish } from '../support/frame-recorder.ts';


describe('publishing through the frame path (bus/nats-frame.ts)', () => {
  let nc: NatsConnection;
  let natsPublish: NatsPublish;

  beforeAll(async () => {
    nc = await connect({ servers: natsUrl(), noAsyncTraces: true });
    const protocol = frameProtocol(nc);
    expect(protocol).not.toBeNull(); // the nats.js in use has what the frame path needs
    natsPublish = Object.getPrototypeOf(protocol).publish as NatsPublish;
  });

  afterAll(async () => {
    await nc?.close();
  });

  it("sends the bytes nats.js's publish sends, for any subject, payload and headers it takes (property)", () => {
    const subject = fc.oneof(
      fc.stringMatching(/^[!-~]{1,60}$/),
      fc.constantFrom('tenure.v1.c.events.ns.m.lease-1', '_INBOX.abc.7', 'a b', 'é.x', '\t', 'x\ny', ''),
      fc.string({ maxLength: 20, unit: 'binary' }),
    );
    const payload = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 9000, maxLength: 9100 }));
    fc.assert(
      fc.property(subject, payload, fc.boolean(), fc.boolean(), fc.constantFrom(100, 1 << 20), (subj, data, withHeaders, serverHeaders, maxPayload) => {
        const info = { headers: serverHeaders, max_payload: maxPayload };
        const ours = frameRecorder(info);
        const theirs = frameRecorder(info);
        const headers = withHeaders ? JSON_HEADER_BYTES : undefined;
        const took = publishFrame(openConnection, ours.fake as FrameProtocol, subj, data, headers);
        let threw = false;
        try {
          if (/[ \n\r\t]/.test(subj) || subj.length === 0) throw new Error('nats.js refuses the subject (NatsConnection._check)');
          natsPublish.call(theirs.fake, subj, data, withHeaders ? { headers: JSON_HEADERS } : {});
        } catch {
          threw = true;
        }
        if (took) {
          // Taken: exactly what nats.js sends, and counted alike.
          expect(threw).toBe(false);
          expect(Buffer.concat(ours.sent)).toEqual(Buffer.concat(theirs.sent));
          expect([ours.fake.outMsgs, ours.fake.outBytes]).toEqual([theirs.fake.outMsgs, theirs.fake.outBytes]);
        } else {
          // Handed back untouched: nats.js answers it (sends it, or refuses it with its own error).
          expect(ours.sent).toEqual([]);
          expect([ours.fake.outMsgs, ours.fake.outBytes]).toEqual([0, 0]);
        }
        // What it hands back: only what nats.js refuses, or what it must encode itself.
        const plain = subj.length > 0 && /^[!-~]+$/.test(subj);
        const fits = data.length + (headers?.length ?? 0) <= maxPayload && (!withHeaders || serverHeaders);
        expect(took).toBe(plain && fits);
      }),
      { numRuns: 600 },
    );
  });

  it("NatsBus's connections use the frame path and write once per batch up to 1 MiB (nats.js still honours pendingLimit)", async () => {
    const bus = await connectBus({ name: 'frame-check' });
    try {
      const protocol = frameProtocol(bus.nc) as FrameProtocol & { pendingLimit?: number };
      expect(protocol).not.toBeNull();
      expect(protocol.pendingLimit).toBe(1024 * 1024);
    } finally {
      await bus.close();
    }
  });

  it('hands back a closed or draining connection, and one not yet told the server limits', () => {
    const { fake, sent } = frameRecorder({ headers: true, max_payload: 1 << 20 });
    const closed = { isClosed: () => true } as unknown as NatsConnection;
    expect(publishFrame(closed, fake as FrameProtocol, 'a.b', Uint8Array.of(1))).toBe(false);
    fake.noMorePublishing = true;
    expect(publishFrame(openConnection, fake as FrameProtocol, 'a.b', Uint8Array.of(1))).toBe(false);
    const noInfo = { ...fake, noMorePublishing: false, info: undefined };
    expect(publishFrame(openConnection, noInfo as FrameProtocol, 'a.b', Uint8Array.of(1))).toBe(false);
    expect(sent).toEqual([]);
  });

  it('delivers through a real server, in order with messages nats.js published, headers intact', async () => {
    const subject = `${uniqueCluster('frame')}.x`;
    const got: Msg[] = [];
    const sub = nc.subscribe(subject, {
      callback: (_err, m) => {
        got.push(m);
      },
    });
    await nc.flush();
    const protocol = frameProtocol(nc)!;
    const before = nc.stats().outMsgs;
    for (let i = 0; i < 30; i++) {
      const body = new TextEncoder().encode(JSON.stringify({ i }));
      if (i % 3 === 0) nc.publish(subject, body, { headers: JSON_HEADERS });
      else expect(publishFrame(nc, protocol, subject, body, i % 3 === 1 ? JSON_HEADER_BYTES : undefined)).toBe(true);
    }
    await nc.flush();
    for (let t = 0; t < 100 && got.length < 30; t++) await new Promise((r) => setTimeout(r, 10));
    sub.unsubscribe();
    expect(got.map((m) => JSON.parse(new TextDecoder().decode(m.data)).i)).toEqual([...Array(30).keys()]);
    got.forEach((m, i) => expect(m.headers?.get('Content-Type') ?? null).toBe(i % 3 === 2 ? null : 'application/json'));
    expect(nc.stats().outMsgs - before).toBe(30);
  });

  it("error answers take the frame path with nats.js's own encoding of their headers, and arrive typed and intact", async () => {
    const extra = (h: { set(k: string, v: string): void }, code: string) => h.set('Extra-Code', code);
    for (const [replyHeaderBytes, extraForErrors] of [[replyHeaderBlocks(), undefined], [replyHeaderBlocks(extra), extra]] as const) {
      for (const code of ERROR_CODES) {
        for (const json of [false, true]) {
          const reply = { bytes: new Uint8Array(), json, errorCode: code };
          const want = (replyHeaders(reply, extraForErrors) as unknown as { encode(): Uint8Array }).encode();
          expect(replyHeaderBytes(reply)).toEqual(want);
          expect(replyHeaderBytes(reply)).toBe(replyHeaderBytes(reply)); // encoded once, kept
        }
      }
      expect(replyHeaderBytes({ bytes: new Uint8Array(), json: true })).toBe(JSON_HEADER_BYTES);
      expect(replyHeaderBytes({ bytes: new Uint8Array(), json: false })).toBeUndefined();
    }
    const server = await connectBus({ name: 'frame-errors' });
    const client = await connectBus({ name: 'frame-errors-client' });
    const subject = `${uniqueCluster('frame-err')}.op`;
    const sub = server.serve(subject, (req) => {
      const code = (req.data as { code: (typeof ERROR_CODES)[number] }).code;
      throw new TenureError(code, `failed with ${code}`, { retryAfterMs: 7 });
    });
    const before = frameProtocol(server.nc)!.outMsgs;
    let viaNatsJs = 0;
    const publish = server.nc.publish.bind(server.nc);
    server.nc.publish = (...args: Parameters<typeof publish>) => {
      viaNatsJs++;
      publish(...args);
    };
    try {
      await server.nc.flush();
      for (const code of ['Held', 'Overloaded', 'DeadlineExceeded', 'Invalid'] as const) {
        // msgpack through the bus client: a typed error with its details.
        const err = await client.request(subject, { code }, { deadlineMs: 2000 }).then(() => null, (e: unknown) => e);
        expect(err).toBeInstanceOf(TenureError);
        expect(err).toMatchObject({ code, message: `failed with ${code}`, details: { retryAfterMs: 7 } });
        // JSON, as `nats req` sends it: the header names the code, the body is readable JSON.
        const m = await nc.request(subject, new TextEncoder().encode(JSON.stringify({ code })), { timeout: 2000 });
        expect(m.headers?.get('Tenure-Error')).toBe(code);
        expect(m.headers?.get('Content-Type')).toBe('application/json');
        expect(JSON.parse(new TextDecoder().decode(m.data))).toMatchObject({ code, message: `failed with ${code}`, retryAfterMs: 7 });
      }
      expect(frameProtocol(server.nc)!.outMsgs - before).toBe(8); // the answers, nothing else
      expect(viaNatsJs).toBe(0); // all through the frame path
    } finally {
      sub.unsubscribe();
      await Promise.all([server.close(), client.close()]);
    }
  });
});
