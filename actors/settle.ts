/**
 * The callback form of a promise, used on the leader's per-command path where a promise (and its
 * `then` closures) per command showed up as garbage-collection time in the profiles: `Settle` is
 * called exactly once, with an error or the result. `promiseOf` and `settleFrom` convert between
 * the two forms; `tally` answers many operations as one promise.
 */
export type Settle<T, E = unknown> = (err: E | null, result?: T) => void;

/**
 * A Settle shared by many operations started together, each answered with its slot: one callback
 * per batch instead of a closure per operation (the leader's path for `lease.batch`).
 */
export type SettleAt<T, E = unknown> = (slot: number, err: E | null, result?: T) => void;

/** Answers an operation that has either a Settle of its own or a shared SettleAt and its slot. */
export function settleOne<T, E>(settle: Settle<T, E> | null, at: SettleAt<T, E> | null, slot: number, err: E | null, result?: T): void {
  if (at) at(slot, err, result);
  else settle!(err, result);
}

/** The promise of an operation started with a Settle callback. */
export function promiseOf<T>(start: (settle: Settle<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => start((err, result) => (err ? reject(err) : resolve(result as T))));
}

/** Feeds a promise's outcome to a Settle callback (a rejection without a reason still counts as one). */
export function settleFrom<T>(promise: Promise<T>, settle: Settle<T>): void {
  promise.then(
    (result) => settle(null, result),
    (err: unknown) => settle(err ?? new Error('rejected without a reason')),
  );
}

/**
 * The outcomes of `n` operations answered in any order, resolved in order once the last is in.
 * `start` runs at once and gets one `finish(i, outcome)` for all of them (call it once per i, also
 * synchronously): one callback per batch, not a closure per operation.
 */
export function tally<T>(n: number, start: (finish: (i: number, outcome: T) => void) => void): Promise<T[]> {
  const out: T[] = new Array(n);
  if (n === 0) return Promise.resolve(out);
  return new Promise((resolve) => {
    let left = n;
    start((i, outcome) => {
      out[i] = outcome;
      if (--left === 0) resolve(out);
    });
  });
}
