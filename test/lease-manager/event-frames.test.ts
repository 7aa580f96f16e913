import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { EventFrames } from '../../actors/event-frames.ts';
import { wireEvent } from '../../actors/event-wire.ts';
import { encode } from '../../bus/codec.ts';
import { frameProtocol, type FrameProtocol } from '../../bus/nats-frame.ts';
import { JSON_HEADER_BYTES, JSON_HEADERS } from '../../bus/nats-headers.ts';
import { subjects, tokenProblem } from '../../bus/subjects.ts';
import type { LeaseEvent } from '../../lease/types.ts';
import { natsUrl } from '../support/nats.ts';
import { frameRecorder, openConnection, type NatsPublish } from '../support/frame-recorder.ts';

const subj = subjects('c1');

// Names mostly plain subject tokens, some that the subject or JSON refuses or must escape.
const name = fc.oneof(
  { weight: 6, arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/) },
  { weight: 1, arbitrary: fc.constantFrom('', 'a.b', 'a*', '>', 'a b', 'é', 'q"x', 'b\\s', 'x'.repeat(257), 'tab\t') },
);
const num = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }) }, { weight: 1, arbitrary: fc.constantFrom(0, 1_763_750_000_007, -1, 2 ** 53) });
const event = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constantFrom('claimed', 'extended', 'revoked', 'expired'), key: fc.record({ namespace: name, model: name, lease: name }), holder: name, expiry: num, token: num, index: fc.nat() }) },
  fc.record({ kind: fc.constant('pinned'), key: fc.record({ namespace: name, model: name, lease: name }), holder: fc.constant(null), expiry: fc.constant(null), token: fc.constant(null), index: fc.nat(), entity: name, pinnedBy: fc.array(name, { maxLength: 2 }) }),
) as fc.Arbitrary<LeaseEvent>;

describe('lease events as whole messages (actors/event-frames.ts)', () => {
  let nc: NatsConnection;
  let natsPublish: NatsPublish;

  beforeAll(async () => {
    nc = await connect({ servers: natsUrl(), noAsyncTraces: true });
    natsPublish = Object.getPrototypeOf(frameProtocol(nc)).publish as NatsPublish;
  });

  afterAll(async () => {
    await nc?.close();
  });

  it("sends, run by run, the bytes nats.js's publish sends for each event, in order, counted alike (property)", () => {
    let takenAll = 0;
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 40 }), fc.constantFrom(250, 1 << 20), (events, maxPayload) => {
        const info = { headers: true, max_payload: maxPayload };
        const ours = frameRecorder(info);
        const theirs = frameRecorder(info);
        const frames = new EventFrames(openConnection, ours.fake as FrameProtocol, subj.prefix);
        // What the publisher does with an event `add` refuses: the usual publish (nats.js here).
        const usual = (target: typeof ours.fake, e: LeaseEvent, n: number) => {
          const k = e.key;
          if ([k.namespace, k.model, k.lease].some((t) => tokenProblem(t) !== undefined)) return; // refused: a publish error
          const data = encode(wireEvent(e, e.index, n), true);
          if (data.length + JSON_HEADER_BYTES.length > maxPayload) return; // nats.js refuses it (MaxPayloadExceeded)
          natsPublish.call(target, subj.events(k.namespace, k.model, k.lease), data, { headers: JSON_HEADERS });
        };
        let taken = 0;
        events.forEach((e, n) => {
          usual(theirs.fake, e, n);
          if (frames.add(e, e.index, n)) taken++;
          else {
            frames.flush();
            usual(ours.fake, e, n);
          }
        });
        frames.flush();
        takenAll += taken;
        expect(Buffer.concat(ours.sent)).toEqual(Buffer.concat(theirs.sent));
        expect([ours.fake.outMsgs, ours.fake.outBytes]).toEqual([theirs.fake.outMsgs, theirs.fake.outBytes]);
        // A run per call: fewer calls than messages whenever two in a row were taken.
        expect(ours.fake.calls).toBeLessThanOrEqual(ours.fake.outMsgs - taken + Math.max(1, taken));
      }),
      { numRuns: 400 },
    );
    expect(takenAll).toBeGreaterThan(400); // not vacuous: most events go the whole-message way
  });

  it('takes nothing when the server lacks headers or the connection is closed or draining', () => {
    const e: LeaseEvent = { kind: 'claimed', key: { namespace: 'ns', model: 'm', lease: 'l' }, holder: 'h', expiry: 5, token: 1, index: 3 };
    const noHeaders = frameRecorder({ headers: false, max_payload: 1 << 20 });
    expect(new EventFrames(openConnection, noHeaders.fake as FrameProtocol, subj.prefix).add(e, 3, 0)).toBe(false);
    const closed = frameRecorder({ headers: true, max_payload: 1 << 20 });
    expect(new EventFrames({ isClosed: () => true } as unknown as NatsConnection, closed.fake as FrameProtocol, subj.prefix).add(e, 3, 0)).toBe(false);
    const draining = frameRecorder({ headers: true, max_payload: 1 << 20 });
    draining.fake.noMorePublishing = true;
    expect(new EventFrames(openConnection, draining.fake as FrameProtocol, subj.prefix).add(e, 3, 0)).toBe(false);
    for (const r of [noHeaders, closed, draining]) expect(r.sent).toEqual([]);
  });

  it('a subscriber on a real server receives every event of a run, in order, with its JSON header', async () => {
    const protocol = frameProtocol(nc)!;
    const frames = new EventFrames(nc, protocol, subj.prefix);
    const got: { subject: string; json: unknown; type: string | undefined }[] = [];
    const sub = nc.subscribe(subj.eventsAll(), {
      callback: (_err, m) => {
        got.push({ subject: m.subject, json: m.json(), type: m.headers?.get('Content-Type') });
      },
    });
    await nc.flush();
    const events: LeaseEvent[] = [];
    for (let i = 0; i < 600; i++) events.push({ kind: i % 2 ? 'expired' : 'claimed', key: { namespace: 'ns', model: 'm', lease: `l${i}` }, holder: `h${i}`, expiry: 1_763_750_000_000 + i, token: i + 1, index: 10 + (i >> 2) });
    events.forEach((e, n) => expect(frames.add(e, e.index, n)).toBe(true));
    frames.flush();
    await nc.flush();
    for (let i = 0; i < 50 && got.length < events.length; i++) await new Promise((r) => setTimeout(r, 20));
    sub.unsubscribe();
    expect(got).toHaveLength(events.length);
    got.forEach((g, i) => {
      expect(g.subject).toBe(subj.events('ns', 'm', `l${i}`));
      expect(g.type).toBe('application/json');
      expect(g.json).toMatchObject({ kind: events[i].kind, lease: `l${i}`, holder: `h${i}`, token: i + 1, n: i });
    });
  });
});
