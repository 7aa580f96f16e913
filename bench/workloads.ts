/**
 * The load itself, as run inside one worker process through the public TenureClient:
 *
 * - closed loop (`claim`, `extend`, `mixed`, and `bulk`: each loop holds `batch` leases and
 *   extends them all with one `lease.batch` request): each loop sends its next request when the
 *   previous one is answered;
 * - open loop: sends at scheduled times (see open-loop.ts), latency from the scheduled time;
 * - leaseclaimer: Juju's `leadershipclaimer` — per lease U units; a unit claims, extends every
 *   renew interval while it holds, and when the lease is held by someone else waits for release
 *   and claims again.
 *
 * Every outcome is counted in a Recorder: `<op>.ok`, `<op>.err.<code>`, `claim.held`, ….
 */
import { NatsBus } from '../bus/nats-bus.ts';
import { TenureClient } from '../client/tenure-client.ts';
import { TenureError } from '../errors/errors.ts';
import { silentLogger } from '../log/logger.ts';
import type { LeaseKey } from '../lease/types.ts';
import { OpenLoopSchedule, scheduledLatency } from './open-loop.ts';
import type { ClosedWorkload, LeaseclaimerWorkload, OpenWorkload, WorkerInit } from './protocol.ts';
import type { Recorder } from './recorder.ts';

export /** Pause between one reader's reads (failover `--readers`). */
const READ_PAUSE_MS = 100;
const NAMESPACE = 'application-leadership';

export function errorCode(err: unknown): string {
  return err instanceof TenureError ? err.code : 'Error';
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `held`: how long the loops' own leases are claimed for, so that they stay held through any run. */
const HELD_FOR_MS = 60 * 60 * 1000;

/** A prepared workload: connected and set up (e.g. leases claimed), waiting for `run`. */
export interface PreparedWorkload {
  run(rec: Recorder, startAt: number): Promise<void>;
  /** Ends the load; `run` resolves once in-flight requests have settled (bounded). */
  stop(): void;
  /** leaseclaimer only. */
  addLeases?(from: number, to: number): void;
  dropLeases?(from: number, to: number): void;
  crashHolders?(fraction: number): void;
  gauges(): Record<string, number>;
  close(): Promise<void>;
}

async function connect(init: WorkerInit, n: number): Promise<NatsBus[]> {
  return Promise.all(
    Array.from({ length: Math.max(1, n) }, (_, i) => NatsBus.connect(init.natsUrl, { logger: silentLogger, name: `tenure-bench-w${init.worker}-${i}` })),
  );
}

function clientFor(init: WorkerInit, bus: NatsBus, id: string): TenureClient {
  return new TenureClient(bus, { cluster: init.cluster, clientId: `${init.runId}-${id}`, deadlineMs: init.deadlineMs, maxAttempts: init.maxAttempts, coalesce: init.coalesce });
}

export async function prepare(init: WorkerInit): Promise<PreparedWorkload> {
  switch (init.workload.kind) {
    case 'closed':
      return prepareClosed(init, init.workload);
    case 'open':
      return prepareOpen(init, init.workload);
    case 'leaseclaimer':
      return prepareLeaseclaimer(init, init.workload);
  }
}

/** Backoff after a final failure in a loop: the server's hint when it sent one, else 10 ms. */
function pauseAfter(err: unknown): number {
  if (err instanceof TenureError && typeof err.details.retryAfterMs === 'number') return Math.max(5, err.details.retryAfterMs);
  return 10;
}

// ---------------------------------------------------------------- closed loop

async function prepareClosed(init: WorkerInit, w: ClosedWorkload): Promise<PreparedWorkload> {
  const buses = await connect(init, Math.min(w.connections, w.clients));
  const clients = Array.from({ length: w.clients }, (_, i) => clientFor(init, buses[i % buses.length], `w${init.worker}c${i}`));
  const key = (i: number, n: number | string): LeaseKey => ({ namespace: NAMESPACE, model: init.runId, lease: `w${init.worker}c${i}n${n}` });
  const holder = (i: number) => `w${init.worker}c${i}/0`;
  if (w.op === 'extend' || w.op === 'held') {
    // Each loop holds one lease of its own and extends it; for `held`, others keep it for the run.
    const ms = w.op === 'held' ? HELD_FOR_MS : w.leaseMs;
    for (let i = 0; i < clients.length; i += 256) {
      await Promise.all(clients.slice(i, i + 256).map((c, k) => c.claim(key(i + k, 'x'), holder(i + k), ms, { deadlineMs: 10_000 })));
    }
  }
  const batchSize = w.batch ?? 512;
  const bulkOps = (i: number, op: 'claim' | 'extend') =>
    Array.from({ length: batchSize }, (_, n) => ({ op, key: key(i, n), holder: holder(i), durationMs: w.leaseMs }));
  if (w.op === 'bulk') {
    // Each loop holds `batch` leases of its own (claimed in batches) and extends them all at once.
    // Set-up claims arrive as one herd and may be shed (Overloaded): retry the shed ones until all
    // are held or 60 s pass.
    const giveUp = Date.now() + 60_000;
    let pending = clients.map((_, i) => bulkOps(i, 'claim'));
    for (;;) {
      const claimed = await Promise.all(clients.map((c, i) => (pending[i].length ? c.batch(pending[i], { deadlineMs: 30_000 }) : Promise.resolve([]))));
      const failed = claimed.flatMap((outs, i) => outs.flatMap((o, n) => (o.ok ? [] : [{ code: o.error.code, op: pending[i][n], client: i }])));
      if (!failed.length) break;
      const fatal = failed.filter((f) => f.code !== 'Overloaded' && f.code !== 'DeadlineExceeded' && f.code !== 'Timeout');
      if (fatal.length || Date.now() > giveUp) {
        throw new Error(`bulk set-up: ${failed.length} of ${clients.length * batchSize} claims failed (${[...new Set(failed.map((f) => f.code))].join(', ')})`);
      }
      pending = clients.map((_, i) => failed.filter((f) => f.client === i).map((f) => f.op));
      await sleep(200);
    }
  }
  let stopped = false;
  let inFlight = 0;
  const run = async (rec: Recorder, startAt: number) => {
    const wait = startAt - Date.now();
    if (wait > 0) await sleep(wait);
    const end = Date.now() + w.durationMs;
    const timed = async <T>(op: string, f: () => Promise<T>): Promise<boolean> => {
      const t0 = performance.now();
      inFlight++;
      try {
        await f();
        rec.latency(op, performance.now() - t0);
        rec.count(`${op}.ok`);
        return true;
      } catch (err) {
        const code = errorCode(err);
        rec.latency(`${op}.err`, performance.now() - t0);
        rec.count(`${op}.err.${code}`);
        await sleep(pauseAfter(err));
        return false;
      } finally {
        inFlight--;
      }
    };
    const loop = async (i: number) => {
      const c = clients[i];
      let n = 0;
      while (!stopped && Date.now() < end) {
        if (w.op === 'claim') {
          await timed('claim', () => c.claim(key(i, n++), holder(i), w.leaseMs));
        } else if (w.op === 'extend') {
          await timed('extend', () => c.extend(key(i, 'x'), holder(i), w.leaseMs));
        } else if (w.op === 'race') {
          // Three units claim a fresh lease at once: exactly one must win, the others be told Held.
          const k = key(i, n++);
          await timed('race', async () => {
            const outs = await Promise.allSettled([0, 1, 2].map((u) => c.claim(k, `${holder(i)}-u${u}`, w.leaseMs)));
            const won = outs.filter((o) => o.status === 'fulfilled').length;
            const held = outs.filter((o) => o.status === 'rejected' && o.reason instanceof TenureError && o.reason.code === 'Held').length;
            if (won === 1 && held === 2) return;
            const other = outs.find((o) => o.status === 'rejected' && !(o.reason instanceof TenureError && o.reason.code === 'Held'));
            throw other ? (other as PromiseRejectedResult).reason : new TenureError('Internal', `a race ended with ${won} winners and ${held} Held`);
          });
        } else if (w.op === 'held') {
          // A rival claims the loop's lease: `Held` is the expected answer, anything else a failure.
          await timed('held', () =>
            c.claim(key(i, 'x'), `${holder(i)}-rival`, w.leaseMs).then(
              () => Promise.reject(new TenureError('Internal', 'a claim of a held lease was granted')),
              (err: unknown) => (err instanceof TenureError && err.code === 'Held' ? undefined : Promise.reject(err)),
            ),
          );
        } else if (w.op === 'bulk') {
          const ops = bulkOps(i, 'extend');
          await timed('batch', async () => {
            const out = await c.batch(ops);
            let ok = 0;
            for (const o of out) {
              if (o.ok) ok++;
              else rec.count(`extend.err.${o.error.code}`);
            }
            rec.count('extend.ok', ok);
          });
        } else {
          // mixed: claim a fresh lease, extend it twice, revoke it (25 % claim, 50 % extend, 25 % revoke).
          const k = key(i, n++);
          if (!(await timed('claim', () => c.claim(k, holder(i), w.leaseMs)))) continue;
          for (let e = 0; e < 2 && !stopped && Date.now() < end; e++) await timed('extend', () => c.extend(k, holder(i), w.leaseMs));
          if (!stopped && Date.now() < end) await timed('revoke', () => c.revoke(k, holder(i)));
        }
      }
    };
    await Promise.all(clients.map((_, i) => loop(i)));
  };
  return {
    run,
    stop: () => {
      stopped = true;
    },
    gauges: () => ({ inFlight }),
    close: async () => {
      await Promise.all(buses.map((b) => b.close().catch(() => {})));
    },
  };
}

// ---------------------------------------------------------------- open loop

async function prepareOpen(init: WorkerInit, w: OpenWorkload): Promise<PreparedWorkload> {
  const buses = await connect(init, w.connections);
  const clients = buses.map((b, i) => clientFor(init, b, `w${init.worker}o${i}`));
  const heldKey = (i: number): LeaseKey => ({ namespace: NAMESPACE, model: init.runId, lease: `w${init.worker}h${i}` });
  const heldBy = (i: number) => `w${init.worker}h${i}/0`;
  for (let i = 0; i < w.heldLeases; i += 512) {
    const n = Math.min(512, w.heldLeases - i);
    await Promise.all(Array.from({ length: n }, (_, k) => clients[(i + k) % clients.length].claim(heldKey(i + k), heldBy(i + k), w.leaseMs, { deadlineMs: 10_000 })));
  }
  const lost = new Set<number>();
  let stopped = false;
  let outstanding = 0;
  let nextHeld = 0;
  let claims = 0;
  const run = async (rec: Recorder, startAt: number) => {
    const schedule = new OpenLoopSchedule(w.phases);
    // Sends scheduled in a phase that follows a load drop are also counted under `<op>.afterDrop`:
    // they show how fresh traffic fares while the overload's outstanding requests still drain.
    const afterDrop = w.afterDrop ?? w.phases.map((_, i) => schedule.isDrop(i));
    // Schedule time 0 = startAt on the wall clock, in performance.now() terms.
    const t0 = performance.now() + (startAt - Date.now());
    let settled: () => void = () => {};
    const allSettled = new Promise<void>((r) => (settled = r));
    const send = (op: string, at: number) => {
      // Only claims are capped: the (few) extends of held leases must always be offered.
      if (op !== 'extend' && outstanding >= w.maxOutstanding) {
        rec.count(`${op}.err.ClientBacklog`);
        return;
      }
      const c = clients[(claims + nextHeld) % clients.length];
      let p: Promise<unknown>;
      let label = op;
      if (op === 'extend' && w.heldLeases > 0) {
        const i = nextHeld++ % w.heldLeases;
        if (lost.has(i)) {
          // Lost earlier (NotHeld): win it back instead of extending.
          label = 'reclaim';
          p = c.claim(heldKey(i), heldBy(i), w.leaseMs).then(() => lost.delete(i));
        } else {
          p = c.extend(heldKey(i), heldBy(i), w.leaseMs).catch((err) => {
            if (err instanceof TenureError && err.code === 'NotHeld') lost.add(i);
            throw err;
          });
        }
      } else {
        label = 'claim';
        const n = claims++;
        p = c.claim({ namespace: NAMESPACE, model: init.runId, lease: `w${init.worker}o${n}` }, `w${init.worker}o${n}/0`, w.leaseMs);
      }
      outstanding++;
      rec.count(`${label}.sent`);
      // How late the generator itself sent it (included in latency, which runs from `at`): a starved
      // generator shows here, not as the service's delay.
      rec.latency('sendLag', Math.max(0, performance.now() - t0 - at));
      const fresh = afterDrop[schedule.phaseAt(at)];
      p.then(
        () => {
          const ms = scheduledLatency(at, performance.now() - t0);
          rec.latency(label, ms);
          rec.count(`${label}.ok`);
          if (fresh) {
            rec.latency(`${label}.afterDrop`, ms);
            rec.count(`${label}.afterDrop.ok`);
          }
        },
        (err) => {
          rec.latency(`${label}.err`, scheduledLatency(at, performance.now() - t0));
          rec.count(`${label}.err.${errorCode(err)}`);
          if (fresh) rec.count(`${label}.afterDrop.failed.${errorCode(err)}`);
        },
      ).finally(() => {
        outstanding--;
        if (stopped && outstanding === 0) settled();
      });
    };
    while (!stopped) {
      const now = performance.now() - t0;
      if (now >= schedule.totalMs) break;
      if (now >= 0) for (const d of schedule.due(now)) send(d.op, d.at);
      // ~1 ms granularity; sends that are late keep their scheduled time.
      await sleep(1);
    }
    stopped = true;
    if (outstanding > 0) await Promise.race([allSettled, sleep(init.deadlineMs + 2000)]);
  };
  return {
    run,
    stop: () => {
      stopped = true;
    },
    gauges: () => ({ outstanding, lost: lost.size }),
    close: async () => {
      await Promise.all(buses.map((b) => b.close().catch(() => {})));
    },
  };
}

// ---------------------------------------------------------------- leaseclaimer

/** What one leaseclaimer unit believes about its lease (`validUntil`: epoch ms). */
export interface Belief {
  leading: boolean;
  validUntil: number;
  /** The unit's process died (crashHolders): it stops at once and believes nothing. */
  crashed?: boolean;
}

/**
 * The service's promise, checked as a holder sees it: a unit believes it holds its lease from an
 * ok answer until `sent + remainingMs` of its latest ok answer (or until told `NotHeld`), and no
 * two units of a lease may believe at the same moment. Belief starts only at an answer, so an
 * overlap shows at the start of the later belief: an ok answer while a rival's belief still runs.
 * Every unit of a lease lives in one worker process, so one clock judges them. Returns, for each
 * rival still believing at `now` (the ok answer to `me`), how much longer it believes (ms).
 */
export function rivalBeliefs(peers: readonly Belief[], me: Belief, now: number): number[] {
  const out: number[] = [];
  for (const p of peers) if (p !== me && p.leading && p.validUntil > now) out.push(p.validUntil - now);
  return out;
}

interface Block {
  abort: AbortController;
  done: Promise<unknown>;
  beliefs: Belief[];
  /** When its holder was crashed (epoch ms), until another unit has claimed it. */
  crashedAt: number | null;
}

async function prepareLeaseclaimer(init: WorkerInit, w: LeaseclaimerWorkload): Promise<PreparedWorkload> {
  const buses = await connect(init, Math.min(w.connections, w.processes.length));
  const clients = new Map(w.processes.map((p, i) => [p, clientFor(init, buses[i % buses.length], `p${p}`)]));
  // `--readers-alone`: the readers' own connection, on which no batch is ever sent.
  const readersBus = w.readersAlone && (w.readers ?? 0) > 0 ? (await connect(init, 1))[0] : null;
  if (readersBus) buses.push(readersBus);
  const readerClients = readersBus ? [clientFor(init, readersBus, 'readers')] : [...clients.values()];
  const blocks = new Map<string, Block>();
  let rec: Recorder | null = null;
  let units = 0;
  let held = 0;
  let waiting = 0;
  let stopped = false;

  const checkOverlap = (peers: readonly Belief[], me: Belief, now: number) => {
    for (const ms of rivalBeliefs(peers, me, now)) {
      rec!.count('lease.overlap');
      rec!.latency('overlap', ms);
    }
  };

  const unit = async (client: TenureClient, key: LeaseKey, holder: string, signal: AbortSignal, block: Block, me: Belief) => {
    const peers = block.beliefs;
    units++;
    let lastGood = 0;
    const r = () => rec!;
    const setLeading = (v: boolean) => {
      if (v !== me.leading) held += v ? 1 : -1;
      me.leading = v;
    };
    try {
      await sleep(Math.random() * 1000); // processes do not all start in the same millisecond
      while (!signal.aborted && !stopped && !me.crashed) {
        if (!me.leading) {
          const t0 = performance.now();
          const sent = Date.now();
          try {
            const res = await client.claim(key, holder, w.claimMs, { signal, deadlineMs: Math.min(init.deadlineMs, w.renewMs) });
            r().latency('claim', performance.now() - t0);
            if (me.crashed) break; // its process is gone: the answer reaches nobody
            r().count('claim.ok');
            checkOverlap(peers, me, Date.now());
            if (block.crashedAt !== null) {
              r().count('takeover.ok');
              r().latency('takeover', Date.now() - block.crashedAt);
              block.crashedAt = null;
            }
            setLeading(true);
            me.validUntil = sent + res.remainingMs;
            lastGood = sent;
          } catch (err) {
            if (signal.aborted) break;
            const code = errorCode(err);
            if (code === 'Held') {
              r().latency('claim.held', performance.now() - t0);
              r().count('claim.held');
              waiting++;
              const tw = performance.now();
              try {
                await client.wait(key, { signal, deadlineMs: w.waitMs });
                r().count('wait.ok');
              } catch (e) {
                const c = errorCode(e);
                if (c !== 'Cancelled') r().count(c === 'DeadlineExceeded' ? 'wait.timeout' : `wait.err.${c}`);
                if (c !== 'DeadlineExceeded' && !signal.aborted) await sleep(pauseAfter(e) * (1 + Math.random()));
              } finally {
                waiting--;
                r().latency('wait', performance.now() - tw);
              }
            } else {
              r().latency('claim.err', performance.now() - t0);
              r().count(`claim.err.${code}`);
              await sleep(pauseAfter(err) * (1 + Math.random()));
            }
          }
        } else {
          const due = lastGood + w.renewMs - Date.now();
          if (due > 0) await sleep(due);
          if (signal.aborted || stopped || me.crashed) break;
          const t0 = performance.now();
          const sent = Date.now();
          const budget = Math.max(1, Math.min(w.renewMs, me.validUntil - sent, init.deadlineMs));
          r().latency('extend.budget', budget);
          try {
            const res = await client.extend(key, holder, w.claimMs, { signal, deadlineMs: budget });
            if (me.crashed) break;
            r().latency('extend', performance.now() - t0);
            r().count('extend.ok');
            checkOverlap(peers, me, Date.now());
            me.validUntil = sent + res.remainingMs;
            lastGood = sent;
          } catch (err) {
            if (signal.aborted) break;
            const code = errorCode(err);
            r().latency('extend.err', performance.now() - t0);
            r().latency('extend.err.budget', budget);
            r().count(`extend.err.${code}`);
            if (code === 'NotHeld') {
              r().count('lease.lost');
              setLeading(false);
            } else if (Date.now() >= me.validUntil) {
              r().count('lease.lost');
              setLeading(false);
            } else {
              // Try again soon, never later than half the remaining validity.
              lastGood = Date.now() - w.renewMs + Math.max(5, Math.min(pauseAfter(err), (me.validUntil - Date.now()) / 2));
            }
          }
        }
      }
    } finally {
      setLeading(false);
      units--;
    }
  };

  const addLeases = (from: number, to: number) => {
    for (const p of w.processes) {
      const client = clients.get(p)!;
      for (let j = from; j < to; j++) {
        const id = `a${p}-${j}`;
        if (blocks.has(id)) continue;
        const abort = new AbortController();
        const key: LeaseKey = { namespace: NAMESPACE, model: init.runId, lease: id };
        const block: Block = { abort, done: Promise.resolve(), beliefs: Array.from({ length: w.units }, () => ({ leading: false, validUntil: 0 })), crashedAt: null };
        block.done = Promise.all(block.beliefs.map((me, u) => unit(client, key, `${id}/${u}`, abort.signal, block, me)));
        blocks.set(id, block);
      }
    }
  };
  const dropLeases = (from: number, to: number) => {
    for (const p of w.processes)
      for (let j = from; j < to; j++) {
        const b = blocks.get(`a${p}-${j}`);
        if (!b) continue;
        b.abort.abort();
        blocks.delete(`a${p}-${j}`);
      }
  };
  // Every k-th lease whose holder is alive loses it at once, spread over the leases.
  const crashHolders = (fraction: number) => {
    const all = [...blocks.values()];
    const want = Math.round(all.length * Math.min(1, Math.max(0, fraction)));
    const step = want > 0 ? all.length / want : Infinity;
    const now = Date.now();
    for (let i = 0; i < want; i++) {
      const b = all[Math.floor(i * step)];
      const holder = b.beliefs.find((x) => x.leading && !x.crashed);
      if (!holder) continue;
      holder.crashed = true;
      held--;
      holder.leading = false;
      b.crashedAt = now;
      rec?.count('holder.crashed');
    }
  };
  /** Reads a random lease of the run linearizably every READ_PAUSE_MS until the run stops. */
  const reader = async (client: TenureClient, recorder: Recorder) => {
    await sleep(Math.random() * READ_PAUSE_MS);
    while (!stopped) {
      const ids = [...blocks.keys()];
      if (ids.length) {
        const key: LeaseKey = { namespace: NAMESPACE, model: init.runId, lease: ids[Math.floor(Math.random() * ids.length)] };
        const t0 = performance.now();
        try {
          await client.get(key, { linearizable: true, deadlineMs: init.deadlineMs });
          recorder.latency('read', performance.now() - t0);
          recorder.count('read.ok');
        } catch (err) {
          recorder.count(`read.err.${errorCode(err)}`);
        }
      }
      await sleep(READ_PAUSE_MS);
    }
  };
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => (finish = r));
  return {
    run: async (recorder: Recorder) => {
      rec = recorder;
      // The clients' routing work (client/routes.ts), per second: probes of nodes holding waits, and waits moved off silent nodes.
      const routes = [...new Set([...clients.values(), ...readerClients].map((c) => c.routes))];
      const last = { probes: 0, probesFailed: 0, moved: 0, discoveries: 0 };
      const countRoutes = () => {
        for (const k of Object.keys(last) as (keyof typeof last)[]) {
          const now = routes.reduce((a, r) => a + r.counters[k], 0);
          if (now > last[k]) recorder.count(`routes.${k}`, now - last[k]);
          last[k] = now;
        }
      };
      const routeTimer = setInterval(countRoutes, 1000);
      // Linearizable readers (failover `--readers`): what a read costs while nodes fail.
      const readers = Array.from({ length: w.readers ?? 0 }, (_, i) => reader(readerClients[i % readerClients.length], recorder));
      await finished;
      clearInterval(routeTimer);
      countRoutes();
      await Promise.allSettled(readers);
      const all = [...blocks.values()];
      for (const b of all) b.abort.abort();
      await Promise.race([Promise.allSettled(all.map((b) => b.done)), sleep(3000)]);
    },
    stop: () => {
      stopped = true;
      finish();
    },
    addLeases,
    dropLeases,
    crashHolders,
    gauges: () => ({ units, held, waiting, leases: blocks.size }),
    close: async () => {
      await Promise.all(buses.map((b) => b.close().catch(() => {})));
    },
  };
}
