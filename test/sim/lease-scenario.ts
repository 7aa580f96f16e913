import { Rng } from '../../clock/clock.ts';
import { TenureClient } from '../../client/tenure-client.ts';
import type { LeadershipHandle } from '../../client/leadership.ts';
import { TenureError } from '../../errors/errors.ts';
import type { LeaseKey } from '../../lease/types.ts';
import { LeaseSimCluster, LEASE_SIM_CLUSTER } from './lease-cluster.ts';
import type { TenureNode } from '../../node/tenure-node.ts';
import { checkBeliefs, checkWaits, type Belief, type FreeAnswer } from './lease-checker.ts';
import type { SimTraceEvent } from '../../bus/sim-bus.ts';
import type { Bus } from '../../bus/types.ts';
import { SkewedClock } from './skewed-clock.ts';

export interface LeaseSeedResult {
  seed: number;
  nodes: number;
  violations: string[];
  /** Tenures believed (acquisitions by helpers, successful claims/extends by raw units). */
  beliefs: number;
  /** Distinct holders that held some lease. */
  holders: number;
  /** Waits that answered "free" (checked against the beliefs). */
  freeWaits: number;
  terms: number;
  /** Claims answered `Held` to a client (each checked never to have been applied as a grant). */
  toldHeld: number;
  /** Claims the leaders answered `Held` without a log entry (actors/held-claims.ts). */
  heldWithoutLog: number;
}

export interface LeaseScenarioOptions {
  nodes?: 3 | 5;
  faultMs?: number;
  /** Remove and re-add nodes during the fault phase (default true). */
  membership?: boolean;
  /** Every network event (debugging a seed). */
  trace?: (event: SimTraceEvent) => void;
  /**
   * Clock skew: every node and client gets its own clock, running at 1 ± up to `skewPpm` parts per
   * million of true time and offset by up to ± `offsetMs` (default 0 and 0: one shared clock).
   */
  skewPpm?: number;
  offsetMs?: number;
}

const NAMESPACE = 'sim';
const MODEL = 'm';
const LEASES = ['a', 'b'];

/**
 * One seeded run of the whole service: TenureNodes under a fault phase (partitions that also cut
 * clients off, leader isolation, crash/restart, drops/duplicates/delays, leadership transfer,
 * membership changes) while units contend for two leases — some through the `leadership()` helper, some with raw
 * claim/extend/revoke calls that believe they hold until `sent + remainingMs` — then healing. The
 * checker requires that no two holders ever believed they held the same lease at the same moment,
 * that a `wait` never answered "free" while one holder believed it held the lease all along,
 * that tokens grow from one tenure to the next, that every node ends with the same lease table,
 * and that after healing there is one leader and every lease is held again.
 */
export async function runLeaseSeed(seed: number, opts: LeaseScenarioOptions = {}): Promise<LeaseSeedResult> {
  const rng = new Rng(seed);
  // The client's jitter uses Math.random: seeded too, so a seed replays the same run.
  const random = Math.random;
  const jitter = new Rng(seed ^ 0x1ea5e);
  Math.random = () => jitter.next();
  const n = opts.nodes ?? (seed % 2 === 0 ? 3 : 5);
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const timing = {
    clockIntervalMs: rng.pick([100, 300, 1000]),
    clockStampMs: rng.pick([0, 20, 100]),
    // One seed in four forwards through the legacy pubsub path (its losses are silent, not unsafe).
    transport: seed % 4 === 3 ? ('legacy-pubsub' as const) : ('facade' as const),
  };
  // Skewed clocks come from a generator of their own, so a seed without skew runs as before.
  const skewRng = new Rng(seed ^ 0x5ce3);
  const clocks = new Map<string, SkewedClock>();
  const clockOf = (name: string): SkewedClock | null => {
    if (!opts.skewPpm && !opts.offsetMs) return null;
    let clk = clocks.get(name);
    if (!clk) {
      const rate = 1 + ((skewRng.next() * 2 - 1) * (opts.skewPpm ?? 0)) / 1e6;
      clk = new SkewedClock(c.clock, rate, Math.round((skewRng.next() * 2 - 1) * (opts.offsetMs ?? 0)));
      clocks.set(name, clk);
    }
    return clk;
  };
  const c: LeaseSimCluster = new LeaseSimCluster(seed, ids, { ...timing, clockOf: (id) => clockOf(id) ?? c.clock }, opts.trace);
  /** True time: beliefs and waits are checked on it. */
  const now = () => c.clock.now();
  const beliefs: Belief[] = [];
  const waits: FreeAnswer[] = [];
  const violations: string[] = [];
  const clients: string[] = [];
  /** `clientId#seq` of every claim a client was answered `Held`: none may ever be applied as a grant. */
  const toldHeld = new Set<string>();
  let clientSeq = 0;
  /** Each client's clock rate (1 on the shared clock): a raw unit counts `remainingMs` at it. */
  const rates = new Map<TenureClient, number>();
  const newClient = () => {
    const name = `c${++clientSeq}`;
    clients.push(name);
    const own = clockOf(name);
    const clock = own ?? c.clock;
    const client = new TenureClient(noteHeld(c.net.endpoint(name, clock), toldHeld), { cluster: LEASE_SIM_CLUSTER, clock, clientId: `${name}-${seed}`, deadlineMs: 1000 });
    rates.set(client, own?.rate ?? 1);
    return client;
  };
  const keyOf = (lease: string): LeaseKey => ({ namespace: NAMESPACE, model: MODEL, lease });

  // ---- helpers: the leadership() API, belief = isLeader (acquired → lost) ----
  interface Helper {
    handle: LeadershipHandle;
    lease: string;
    open: Belief | null;
    stopping: Promise<void> | null;
  }
  const helpers: Helper[] = [];
  let holderSeq = 0;
  const startHelper = (lease: string) => {
    const holder = `h${++holderSeq}`;
    const durationMs = rng.pick([300, 600, 1200]);
    const client = newClient();
    const h: Helper = { handle: null as unknown as LeadershipHandle, lease, open: null, stopping: null };
    h.handle = client.leadership(NAMESPACE, MODEL, lease, holder, {
      durationMs,
      waitMs: 2000,
      onAcquired: (ch) => {
        h.open = { lease, holder, token: ch.token, from: now(), to: Infinity, via: 'helper' };
        beliefs.push(h.open);
      },
      onLost: () => {
        if (h.open) h.open.to = now();
        h.open = null;
      },
    });
    helpers.push(h);
  };
  const stopHelper = (h: Helper, revoke: boolean) => {
    if (h.stopping) return;
    h.stopping = h.handle.stop({ revoke });
  };

  // ---- raw units: claim / extend / revoke, belief = [answer, sent + remainingMs] ----
  let rawRunning = true;
  const rawUnit = async (lease: string) => {
    const holder = `r${++holderSeq}`;
    const client = newClient();
    // `sent + remainingMs` on this client's own clock, in true time.
    const rate = rates.get(client)!;
    const until = (sent: number, remainingMs: number) => sent + remainingMs / rate;
    const key = keyOf(lease);
    const sleep = (ms: number) => new Promise<void>((r) => c.clock.setTimeout(r, ms));
    let current: Belief | null = null;
    while (rawRunning) {
      const durationMs = rng.pick([250, 500, 1000]);
      try {
        if (!current) {
          const sent = now();
          const r = await client.claim(key, holder, durationMs, { deadlineMs: rng.pick([200, 600]) });
          current = { lease, holder, token: r.token, from: now(), to: until(sent, r.remainingMs), via: 'raw claim' };
          beliefs.push(current);
          continue;
        }
        // Renew somewhere in the believed span, sometimes just after it (the lease may still be held).
        const left = current.to - now();
        await sleep(Math.max(1, left * (0.2 + rng.next() * 1.0)));
        if (!rawRunning) break;
        if (rng.chance(0.15)) {
          current.to = Math.min(current.to, now()); // a holder that revokes stops believing first
          current = null;
          await client.revoke(key, holder, { deadlineMs: 300 }).catch(() => {});
          continue;
        }
        const sent = now();
        const r = await client.extend(key, holder, durationMs, { deadlineMs: Math.max(50, Math.min(400, current.to - sent)) });
        if (now() < current.to) current.to = Math.max(current.to, until(sent, r.remainingMs));
        else {
          // The belief had lapsed; an extend that still found the lease held starts a new one.
          current = { lease, holder, token: r.token, from: now(), to: until(sent, r.remainingMs), via: 'raw extend' };
          beliefs.push(current);
        }
      } catch (err) {
        if (!(err instanceof TenureError)) throw err;
        if (err.code === 'NotHeld') current = null;
        else if (current && now() >= current.to) current = null;
        if (err.code === 'Held') {
          const asked = now();
          const free = await client.wait(key, { deadlineMs: 1000 }).then(
            () => true,
            () => false,
          );
          if (free) waits.push({ lease, from: asked, to: now() });
        } else await sleep(rng.int(5, 100));
      }
    }
  };

  /** A removed node back: restarted on its own disk, then added by the leader. */
  const addBack = async (leader: TenureNode, id: string) => {
    await c.start(id);
    leader.raft.changeMembership({ add: id }).catch(() => {});
  };
  let terms = 0;
  try {
    await c.startAll();
    for (const lease of LEASES) {
      for (let i = 0; i < 2; i++) startHelper(lease);
      void rawUnit(lease).catch((e) => void violations.push(`raw unit crashed: ${(e as Error).stack}`));
    }
    const faultMs = opts.faultMs ?? 4000;
    while (now() < faultMs) {
      const r = rng.next();
      const live = c.live();
      if (r < 0.06) {
        const names = [...ids, ...clients].sort(() => rng.next() - 0.5);
        const cut = rng.int(1, names.length - 1);
        c.net.partition([names.slice(0, cut), names.slice(cut)]);
      } else if (r < 0.11) {
        const leader = c.leaders()[0];
        if (leader) c.net.isolate(leader.id);
      } else if (r < 0.16) {
        if (live.length > 1) c.crash(rng.pick(live).id);
      } else if (r < 0.24) {
        const dead = ids.filter((id) => !c.slots.get(id)!.node);
        if (dead.length) await c.start(rng.pick(dead));
      } else if (r < 0.3) {
        c.net.setFaults({ dropRate: rng.next() * 0.15, duplicateRate: rng.next() * 0.1, minDelayMs: 1, maxDelayMs: rng.int(2, 40) });
      } else if (r < 0.38) {
        c.net.heal();
      } else if (r < 0.41) {
        const leader = c.leaders()[0];
        if (leader) leader.raft.transferLeadership(rng.pick(ids)).catch(() => {});
      } else if (r < 0.48 && opts.membership !== false) {
        // Membership: remove a follower (once committed it shuts down), or add a removed one back
        // (restarted on its own disk: wiping a disk that may still be a voter's is not Raft's to survive).
        const leader = c.leaders()[0];
        const out = leader ? ids.filter((id) => !leader.raft.status().voters.includes(id)) : [];
        if (leader && out.length) await addBack(leader, rng.pick(out));
        else if (leader) {
          const id = rng.pick(leader.raft.status().voters.filter((v) => v !== leader.id));
          leader.raft.changeMembership({ remove: id }).then(
            () => c.crash(id),
            () => {},
          );
        }
      } else if (r < 0.52) {
        const running = helpers.filter((h) => !h.stopping);
        if (running.length > 2) {
          const h = rng.pick(running);
          stopHelper(h, rng.chance(0.7));
          startHelper(h.lease);
        }
      }
      await c.run(rng.int(20, 250));
    }

    // Heal: every lease that still has helpers must get a holder again.
    c.net.heal();
    c.net.setFaults({ dropRate: 0, duplicateRate: 0, minDelayMs: 1, maxDelayMs: 5 });
    for (const id of ids) if (!c.slots.get(id)!.node) await c.start(id);
    // Every node a voter again: a removed one is restarted and added back.
    for (let round = 0; round < 20; round++) {
      await c.run(200);
      const leader = c.leaders()[0];
      if (!leader) continue;
      const out = ids.filter((id) => !leader.raft.status().voters.includes(id));
      if (!out.length) break;
      await addBack(leader, out[0]);
    }
    const healed = now();
    await c.run(4000);
    const leaders = c.leaders();
    if (leaders.length !== 1) violations.push(`after healing: ${leaders.length} leaders`);
    for (const lease of LEASES) {
      if (!beliefs.some((b) => b.lease === lease && b.to > healed + 2000 && b.from < healed + 4000 && b.to > b.from)) violations.push(`after healing: nobody held ${lease} in its last 2 s`);
    }

    // Quiesce, then every node must hold the same lease table at the same applied index.
    rawRunning = false;
    for (const h of helpers) stopHelper(h, false);
    await c.run(2000);
    // Clock ticks keep coming: compare at a moment when every node has applied the same index.
    const live = c.live();
    const applied = () => new Set(live.map((node) => node.raft.appliedIndex));
    for (let i = 0; i < 200 && applied().size !== 1; i++) await c.run(5);
    if (applied().size !== 1) violations.push(`after quiescing: applied indexes never met (${[...applied()].join(', ')})`);
    else {
      const tables = live.map((node) => JSON.stringify({ time: node.stateMachine.fsm.time(), leases: node.stateMachine.fsm.list() }));
      if (new Set(tables).size !== 1) {
        const where = live.map((node) => {
          const st = node.raft.status();
          return `${node.id} (${st.role}, applied ${st.applied}, snapshot ${st.snapshotIndex}, voters ${st.voters.join(',')})`;
        });
        violations.push(`after quiescing: lease tables differ: ${tables.map((t, i) => `${where[i]}: ${t}`).join(' | ')}`);
      }
    }
    violations.push(...c.failedNodes().map((f) => `node failed: ${f}`));
    terms = Math.max(0, ...live.map((node) => node.raft.term));
  } finally {
    rawRunning = false;
    for (const h of helpers) stopHelper(h, false);
    // Stopping helpers may wait on simulated time (a revoke in flight): run the clock until they are done.
    let stopped = false;
    void Promise.all(helpers.map((h) => h.stopping)).finally(() => (stopped = true));
    for (let i = 0; i < 100 && !stopped; i++) await c.run(50);
    await c.shutdown();
    Math.random = random;
  }
  const end = now();
  for (const b of beliefs) if (b.to === Infinity) b.to = end;
  violations.push(...checkBeliefs(beliefs), ...checkWaits(waits, beliefs));
  for (const id of toldHeld) if (c.grantedClaims.has(id)) violations.push(`claim ${id} was answered Held but applied as a grant`);
  return { seed, nodes: n, violations, beliefs: beliefs.length, holders: new Set(beliefs.map((b) => b.holder)).size, freeWaits: waits.length, terms, toldHeld: toldHeld.size, heldWithoutLog: c.heldWithoutLog() };
}

export function leaseReplayCommand(seed: number, skew: { skewPpm?: number; offsetMs?: number } = {}): string {
  const extra = `${skew.skewPpm ? ` --skew-ppm ${skew.skewPpm}` : ''}${skew.offsetMs ? ` --offset-ms ${skew.offsetMs}` : ''}`;
  return `npm run test:sim -- --lease --seed ${seed}${extra}`;
}

/**
 * The client's bus, noting every claim answered `Held` (`clientId#seq`), whether it went alone
 * (`lease.claim`) or in a `lease.batch`.
 */
function noteHeld(bus: Bus, toldHeld: Set<string>): Bus {
  const request = bus.request.bind(bus);
  const idOf = (b: unknown) => {
    const { clientId, seq } = (b ?? {}) as { clientId?: unknown; seq?: unknown };
    return typeof clientId === 'string' && typeof seq === 'number' ? `${clientId}#${seq}` : null;
  };
  bus.request = (async (subject: string, data: unknown, opts?: unknown) => {
    try {
      const reply = await request(subject, data, opts as never);
      const ops = (data as { ops?: unknown[] } | null)?.ops;
      const results = (reply as { results?: { error?: { code?: string } }[] } | null)?.results;
      if (Array.isArray(ops) && Array.isArray(results)) {
        for (let i = 0; i < ops.length; i++) {
          const id = idOf(ops[i]);
          if (id && (ops[i] as { op?: string }).op === 'claim' && results[i]?.error?.code === 'Held') toldHeld.add(id);
        }
      }
      return reply;
    } catch (err) {
      const id = subject.endsWith('.lease.claim') ? idOf(data) : null;
      if (id && err instanceof TenureError && err.code === 'Held') toldHeld.add(id);
      throw err;
    }
  }) as Bus['request'];
  return bus;
}
