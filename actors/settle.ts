/**
 * The callback form of a promise, used on the leader's per-command path where a promise (and its
 * `then` closures) per command showed up as garbage-collection time in the profiles: `Settle` is
 * called exactly once, with an error or the result. `promiseOf` and `settleFrom` convert between
 * the two forms; `collect` answers many callbacks as one promise.
 */
export type Settle<T, E = unknown> = (err: E | null, result?: T) => void;

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

/** Starts `n` operations (`each(i, done)`, `done` called once per operation) and resolves with their outcomes in order. */
export function collect<T>(n: number, each: (i: number, done: (outcome: T) => void) => void): Promise<T[]> {
  const out: T[] = new Array(n);
  if (n === 0) return Promise.resolve(out);
  return new Promise((resolve) => {
    let left = n;
    for (let i = 0; i < n; i++) {
      each(i, (outcome) => {
        out[i] = outcome;
        if (--left === 0) resolve(out);
      });
    }
  });
}
