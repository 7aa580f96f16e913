import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { watchAbort } from '../../bus/abort-watch.ts';

describe('watchAbort', () => {
  it('gives a shared signal one listener however many calls watch it, and calls those still watching in order when it aborts', () => {
    const ac = new AbortController();
    const called: number[] = [];
    const offs = Array.from({ length: 5_000 }, (_, i) => watchAbort(ac.signal, () => called.push(i)));
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1);
    for (let i = 0; i < 5_000; i++) if (i % 2 === 0) offs[i]();
    offs[1]();
    offs[1](); // idempotent
    ac.abort();
    expect(called).toHaveLength(2_499);
    expect(called.slice(0, 3)).toEqual([3, 5, 7]);
    expect(called).toEqual([...called].sort((a, b) => a - b));
    ac.abort();
    expect(called).toHaveLength(2_499); // once
  });

  it('keeps separate signals apart, and the same function watched twice is two watches', () => {
    const a = new AbortController();
    const b = new AbortController();
    let n = 0;
    const fn = () => n++;
    watchAbort(a.signal, fn);
    const off = watchAbort(a.signal, fn);
    watchAbort(b.signal, () => (n += 100));
    off();
    a.abort();
    expect(n).toBe(1);
    b.abort();
    expect(n).toBe(101);
  });
});
