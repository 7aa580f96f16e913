import { describe, expect, it } from 'vitest';
import { NatsTrafficWindow, natsLine, natsPerOp, parseVarz, type NatsCounters } from '../../bench/nats-traffic.ts';

const counters = (inMsgs: number, outMsgs: number, inBytes: number, outBytes: number): NatsCounters => ({ inMsgs, outMsgs, inBytes, outBytes });

describe('NATS traffic per op (bench/nats-traffic.ts)', () => {
  it('reads the four counters of a /varz answer, and nothing from an answer without them', () => {
    expect(parseVarz({ in_msgs: 10, out_msgs: 4, in_bytes: 1000, out_bytes: 300, server_id: 'x' })).toEqual(counters(10, 4, 1000, 300));
    expect(parseVarz({ in_msgs: 10, out_msgs: 4, in_bytes: 1000 })).toBeNull();
    expect(parseVarz({ in_msgs: '10', out_msgs: 4, in_bytes: 1000, out_bytes: 300 })).toBeNull();
    expect(parseVarz(null)).toBeNull();
    expect(parseVarz('varz')).toBeNull();
  });

  it('divides what the server carried between two readings by the ok answers, and gives its rates', () => {
    const n = natsPerOp(counters(100, 50, 10_000, 5_000), counters(3_100, 250, 730_000, 45_000), 2_000, 2)!;
    expect(n).toEqual({ ops: 2_000, seconds: 2, inMsgs: 1.5, outMsgs: 0.1, inBytes: 360, outBytes: 20, inMsgsPerSec: 1_500, outMsgsPerSec: 100 });
    expect(natsLine(n)).toBe('NATS per ok op: in 1.5 msgs, 360 B · out 0.1 msgs, 20 B (server: 1,500 msgs/s in, 100 out)');
  });

  it('has no figure without answers, or when the counters went back (another server)', () => {
    expect(natsPerOp(counters(0, 0, 0, 0), counters(10, 10, 10, 10), 0, 1)).toBeNull();
    expect(natsPerOp(counters(100, 0, 0, 0), counters(10, 10, 10, 10), 5, 1)).toBeNull();
  });

  it('a window uses the reading at its start and the last readable one at or before its end', async () => {
    const readings: Array<NatsCounters | null> = [counters(0, 0, 0, 0), counters(100, 10, 1_000, 100), counters(200, 20, 2_000, 200), null];
    let k = 0;
    const w = new NatsTrafficWindow(async () => readings[k++] ?? null);
    for (let s = 0; s < 4; s++) w.mark(s);
    // Second 3's reading failed: the window [0, 3) ends at second 2, with the answers of seconds 0 and 1.
    const okBetween = (f: number, t: number) => (t - f) * 50;
    expect(await w.result(0, 3, okBetween)).toMatchObject({ ops: 100, seconds: 2, inMsgs: 2, outMsgs: 0.2 });
    expect(await w.result(5, 6, okBetween)).toBeNull();
  });
});
