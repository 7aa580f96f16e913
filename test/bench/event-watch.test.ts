import { describe, expect, it } from 'vitest';
import { OrderCheck, eventWatchLine } from '../../bench/event-watch.ts';

describe('event watch (bench/event-watch.ts)', () => {
  it('counts an event at or below the highest (index, n) seen as out of order', () => {
    const o = new OrderCheck();
    for (const [index, n] of [[4, 0], [4, 1], [7, 0], [7, 0], [6, 3], [7, 1], [9, 0]]) o.see(index, n);
    expect(o.outOfOrder).toBe(2); // the repeated 7/0 and the late 6/3
  });

  it('says what a subscriber saw against what was published', () => {
    expect(eventWatchLine({ delivered: 1_000, expected: 1_200, missing: 200, outOfOrder: 3, undecodable: 0, perSecond: [] })).toBe(
      'events seen by a subscriber: 1,000 of 1,200 published, 200 missing, 3 out of order',
    );
    expect(eventWatchLine({ delivered: 5, expected: null, missing: null, outOfOrder: 0, undecodable: 1, perSecond: [] })).toBe('events seen by a subscriber: 5, 0 out of order, 1 undecodable');
  });
});
