/** Headline numbers of bench runs: per-op rates and errors, overload findings, the console summary. */
import { sumSeries } from './aggregate.ts';
import { OpenLoopSchedule, type RatePhase } from './open-loop.ts';
import type { RunResult } from './run.ts';
import type { CpuPerOp } from './cpu-account.ts';
import { natsLine, type NatsPerOp } from './nats-traffic.ts';
import { eventWatchLine, type EventWatchResult } from './event-watch.ts';
import { RESULT_OPS } from './protocol.ts';
import type { FaultRecord } from './faults.ts';

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** Sum of a per-second count series over seconds [from, to). */
function rangeSum(counts: Record<string, number[]>, key: string, from: number, to: number): number {
  return (counts[key] ?? []).slice(from, to).reduce((a, v) => a + v, 0);
}

/** Largest value of a per-second series over seconds [from, to); null when it has none there. */
function rangeMax(series: number[] | undefined, from: number, to: number): number | null {
  const vals = (series ?? []).slice(from, to).filter((v) => v > 0);
  return vals.length ? Math.max(...vals) : null;
}

/** Every series whose key starts with `prefix`, summed over [from, to), by the rest of its key; zeros left out. */
function sumsByPrefix(counts: Record<string, number[]>, prefix: string, from: number, to: number): Record<string, number> {
  return Object.fromEntries(Object.keys(counts).filter((k) => k.startsWith(prefix)).map((k) => [k.slice(prefix.length), rangeSum(counts, k, from, to)]).filter(([, v]) => Number(v) > 0));
}

/** Headline numbers of a run (over its window). */
export function summarizeRun(r: Pick<RunResult, 'totals' | 'series' | 'restarts'> & Partial<Pick<RunResult, 'cpuPerOp' | 'natsPerOp' | 'eventWatch'>>): Record<string, unknown> {
  const t = r.totals;
  const ops: Record<string, unknown> = {};
  for (const op of RESULT_OPS) {
    const okCount = t.counts[`${op}.ok`] ?? 0;
    const errs = Object.fromEntries(Object.entries(t.counts).filter(([k]) => k.startsWith(`${op}.err.`)).map(([k, v]) => [k.slice(op.length + 5), v]));
    const errTotal = Object.values(errs).reduce((a, b) => a + b, 0);
    if (!okCount && !errTotal) continue;
    // bulk: extends travel in lease.batch requests; their latency is the batch's.
    const perBatch = !t.latency[op] && op === 'extend' && !!t.latency.batch;
    const l = perBatch ? t.latency.batch : t.latency[op];
    ops[op] = {
      ...(perBatch ? { latencyOf: 'batch' } : {}),
      okPerSec: t.perSec[`${op}.ok`] ?? 0,
      ok: okCount,
      failed: errTotal,
      errors: errs,
      successRate: okCount + errTotal ? Math.round((okCount / (okCount + errTotal)) * 1e6) / 1e6 : null,
      p50ms: l?.p50 ?? null,
      p99ms: l?.p99 ?? null,
      maxMs: l?.max ?? null,
    };
  }
  const peakRssMB: Record<string, number | null> = {};
  const peakRssAnonMB: Record<string, number | null> = {};
  const peakRssFileMB: Record<string, number | null> = {};
  const meanCpuPct: Record<string, number | null> = {};
  const peakLoopDelayMs: Record<string, number | null> = {};
  const peak = (xs: (number | null)[] | undefined) => {
    const v = (xs ?? []).filter((x): x is number => x !== null);
    return v.length ? Math.max(...v) : null;
  };
  for (const [id, n] of Object.entries(r.series.nodes)) {
    peakRssMB[id] = peak(n.rssMB);
    peakRssAnonMB[id] = peak(n.rssAnonMB);
    peakRssFileMB[id] = peak(n.rssFileMB);
    peakLoopDelayMs[id] = peak(n.loopMaxMs);
    const cpu = n.cpuPct.filter((v): v is number => v !== null);
    meanCpuPct[id] = cpu.length ? Math.round((cpu.reduce((a, b) => a + b, 0) / cpu.length) * 10) / 10 : null;
  }
  // CPU the hypervisor gave to other guests during the run (bench/steal.ts): runs with much of it are not comparable.
  const steal = r.series.gauges.machineStealPctMax;
  const meanStealPct = steal?.length ? Math.round((steal.reduce((a, b) => a + b, 0) / steal.length) * 10) / 10 : null;
  // Claims the leaders answered `Held` without a log entry, and those they sent on to the log (whole run).
  const heldClaims = { answered: 0, admitted: 0 };
  for (const n of Object.values(r.series.nodes)) {
    for (const k of ['answered', 'admitted'] as const) for (const v of n.heldClaims?.[k] ?? []) heldClaims[k] += v ?? 0;
  }
  return { ops, heldClaims, peakRssMB, peakRssAnonMB, peakRssFileMB, meanCpuPct, peakLoopDelayMs, meanStealPct, restarts: r.restarts.length, terms: termSpan(r.series.nodes), raftStages: raftStages(r.series.nodes), raftRounds: raftRounds(r.series.nodes), events: eventTotals(r.series.nodes), cpuPerOp: r.cpuPerOp ?? null, natsPerOp: r.natsPerOp ?? null, eventWatch: r.eventWatch ? { ...r.eventWatch, perSecond: undefined } : null };
}

/**
 * Lease events over the whole run, all nodes (only a leader publishes): how many went out and how
 * many were lost — dropped by the publisher's bound or a failed publish. Null when no node reported
 * its publisher (older nodes, a cluster on `--nats-url` running other code).
 */
export function eventTotals(nodes: RunResult['series']['nodes']): { published: number; lost: number } | null {
  let seen = false;
  let published = 0;
  let lost = 0;
  for (const n of Object.values(nodes)) {
    for (const v of n.eventsPublished ?? []) if (v !== null) (seen = true), (published += v);
    for (const v of n.eventsLost ?? []) if (v !== null) lost += v;
  }
  return seen ? { published, lost } : null;
}

/**
 * Where a Raft round went, per node: for each stage the median over the run's seconds of that
 * second's p50 (ms), rounded to 0.01 ms; stages a node never reported are left out.
 */
export function raftStages(nodes: RunResult['series']['nodes']): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [id, n] of Object.entries(nodes)) {
    for (const [stage, v] of Object.entries(n.stages ?? {})) {
      const xs = v.p50Ms.filter((x): x is number => x !== null).sort((a, b) => a - b);
      if (xs.length) (out[id] ??= {})[stage] = Math.round(xs[Math.floor((xs.length - 1) / 2)] * 100) / 100;
    }
  }
  return out;
}

/**
 * How many Raft rounds a node ran, per node: the median over the run's seconds of that second's
 * count of `write` (disk writes, every node) and, on a leader, `ownWrite` (entries appended). Per-
 * round costs (a message per follower, a transaction, an fsync, a reply) are paid this often, so
 * ok ops ÷ entries is how well the load batched. Seconds with no count are left out.
 */
export function raftRounds(nodes: RunResult['series']['nodes']): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [id, n] of Object.entries(nodes)) {
    for (const [stage, v] of Object.entries(n.stages ?? {})) {
      if (stage !== 'write' && stage !== 'ownWrite') continue;
      const xs = (v.count ?? []).filter((x): x is number => typeof x === 'number' && x > 0).sort((a, b) => a - b);
      if (xs.length) (out[id] ??= {})[stage === 'ownWrite' ? 'entries' : 'writes'] = xs[Math.floor((xs.length - 1) / 2)];
    }
  }
  return out;
}

/**
 * The highest Raft term any node reported in the first and in the last second of the run: a rise
 * is that many elections that raised the term (pre-vote keeps a lost election from raising it).
 */
export function termSpan(nodes: RunResult['series']['nodes']): { first: number; last: number; elections: number } | null {
  const highest = (i: (n: number) => number): number | null => {
    let best: number | null = null;
    for (const n of Object.values(nodes)) {
      const v = n.term[i(n.term.length)];
      if (typeof v === 'number' && (best === null || v > best)) best = v;
    }
    return best;
  };
  const first = highest(() => 0);
  const last = highest((len) => len - 1);
  return first === null || last === null ? null : { first, last, elections: last - first };
}

/** Overload findings from an open-loop run with baseline / overload / recovery phases. */
export function overloadSummary(r: RunResult, phases: RatePhase[], workers: number): Record<string, unknown> {
  const s = r.series;
  const n = s.t.length;
  const b = Math.round(phases[0].durationMs / 1000);
  const ov = Math.round(phases[1].durationMs / 1000);
  const drop = b + ov;
  const inRange = (k: string, from: number, to: number) => rangeSum(s.counts, k, from, to);
  const errKeys = (op: string) => Object.keys(s.counts).filter((k) => k.startsWith(`${op}.err.`));
  const sumErr = (op: string, from: number, to: number) => errKeys(op).reduce((a, k) => a + inRange(k, from, to), 0);
  // Extends answered during the overload phase and until its late answers are in.
  const late = Math.ceil(r.params.deadlineMs ? Number(r.params.deadlineMs) / 1000 : 5);
  const extOk = inRange('extend.ok', b, Math.min(n, drop + late));
  const extErr = sumErr('extend', b, Math.min(n, drop + late));
  const extErrByCode = sumsByPrefix(s.counts, 'extend.err.', b, Math.min(n, drop + late));
  const claimErrByCode = sumsByPrefix(s.counts, 'claim.err.', b, n);
  // Recovery: first second after the drop from which, for 3 s in a row, successes reach 95 % of the
  // offered rate, nothing fails, and claim p99 is back under max(3 × baseline p99, 50 ms).
  const sched = new OpenLoopSchedule(phases);
  const offered = (sec: number) => ['claim', 'extend'].reduce((a, op) => a + sched.offered(op, sec * 1000, (sec + 1) * 1000), 0);
  const ok = sumSeries(s.counts, ['claim.ok', 'extend.ok', 'reclaim.ok'], n);
  const errs = sumSeries(s.counts, [...errKeys('claim'), ...errKeys('extend'), ...errKeys('reclaim')], n);
  const baseP99 = s.latency.claim ? Math.max(...s.latency.claim.p99.slice(1, b).filter(Number.isFinite), 0) : 0;
  const p99Limit = Math.max(3 * baseP99, 50);
  // Strict: all traffic. Throughput: successes only, however many overload-era requests still fail
  // on their own timers. Fresh: only sends scheduled after the drop (`<op>.afterDrop.*`), by the
  // second they completed — whatever the overload's own outstanding requests do.
  // null: that part is not judged.
  const healthy = (okS: number[] | null, failS: number[] | null, p99S: number[] | undefined) => (sec: number) =>
    (okS === null || okS[sec] >= 0.95 * offered(sec)) && (failS === null || failS[sec] === 0) && !((p99S?.[sec] ?? 0) > p99Limit);
  // The first 3 s window after the drop that `good` accepts, in seconds after the drop.
  const firstWindow = (good: (sec: number) => boolean): number | null => {
    for (let sec = drop; sec + 2 < n; sec++) if (good(sec)) return sec - drop;
    return null;
  };
  const recoveredAfter = (good: (sec: number) => boolean) => firstWindow((sec) => good(sec) && good(sec + 1) && good(sec + 2));
  // Windowed: no failures and p99 under the limit in each second as above, but successes counted
  // over the window instead of per 1 s bin (answers that fall just across a bin edge no longer fail
  // one second and pass the next).
  const calm = healthy(null, errs, s.latency.claim?.p99);
  const sum3 = (f: (t: number) => number, sec: number) => f(sec) + f(sec + 1) + f(sec + 2);
  const windowedRecovery = () =>
    firstWindow((sec) => sum3((t) => ok[t], sec) >= 0.95 * sum3(offered, sec) && calm(sec) && calm(sec + 1) && calm(sec + 2));
  const freshOk = sumSeries(s.counts, ['claim.afterDrop.ok', 'extend.afterDrop.ok', 'reclaim.afterDrop.ok'], n);
  const freshFailKeys = Object.keys(s.counts).filter((k) => k.includes('.afterDrop.failed.'));
  const freshSent = freshOk.some((v) => v > 0) || freshFailKeys.length > 0;
  const freshFailedByCode = Object.fromEntries(freshFailKeys.map((k) => [k, inRange(k, drop, n)]).filter(([, v]) => Number(v) > 0));
  const offeredOverload = ['claim', 'extend'].reduce((a, op) => a + sched.offered(op, b * 1000, drop * 1000), 0) / ov;
  const sentOverload = (inRange('claim.sent', b, drop) + inRange('extend.sent', b, drop) + inRange('reclaim.sent', b, drop)) / ov;
  return {
    offeredPerSecDuringOverload: Math.round(offeredOverload),
    actuallySentPerSecDuringOverload: Math.round(sentOverload),
    generatorWorkers: workers,
    extendSuccessRateDuringOverload: extOk + extErr ? Math.round((extOk / (extOk + extErr)) * 1e6) / 1e6 : null,
    extendsDuringOverload: { ok: extOk, failed: extErr, byCode: extErrByCode },
    claimsDuringAndAfterOverload: { ok: inRange('claim.ok', b, n), byCode: claimErrByCode },
    claimsRefusedOverloaded: claimErrByCode.Overloaded ?? 0,
    peakRssMB: (r.summary as { peakRssMB?: unknown }).peakRssMB,
    baselineClaimP99Ms: baseP99,
    recoverySeconds: recoveredAfter(healthy(ok, errs, s.latency.claim?.p99)),
    recoveryCriterion: `from the drop until 3 s in a row with successes ≥ 95 % of offered, no failures, claim p99 ≤ ${p99Limit.toFixed(1)} ms (1 s resolution)`,
    recoverySecondsWindowed: windowedRecovery(),
    windowedRecoveryCriterion: 'as recoverySeconds, but successes ≥ 95 % of offered summed over the 3 s window rather than in each 1 s bin',
    throughputRecoverySeconds: recoveredAfter(healthy(ok, null, undefined)),
    freshRecoverySeconds: freshSent ? recoveredAfter(healthy(freshOk, sumSeries(s.counts, freshFailKeys, n), s.latency['claim.afterDrop']?.p99)) : null,
    freshRecoveryCriterion: 'sends scheduled after the drop only: from the drop until 3 s in a row with their successes ≥ 95 % of offered, none failed, their claim p99 under the same limit',
    freshAfterDrop: { ok: freshOk.slice(drop).reduce((a, v) => a + v, 0), failedByCode: freshFailedByCode },
    restarts: r.restarts,
  };
}

/** One fault and what the holders saw from it until the next fault (or the end of the run). */
export interface FaultOutcome extends FaultRecord {
  /** The seconds counted, [from, to). */
  seconds: [number, number];
  extends: { ok: number; failed: number; byCode: Record<string, number> };
  leasesLost: number;
  claimErrors: Record<string, number>;
  /** Holding units that died with this fault, and how many of their leases another unit claimed in the window. */
  holdersCrashed: number;
  takenOver: number;
  /** Linearizable reads (`--readers`) in the window: ok, failed by code, and the slowest second's max (ms). */
  reads?: { ok: number; errors: Record<string, number>; maxMs: number | null };
}

/**
 * failover: what the holders saw while nodes failed. Per fault, over the seconds from it to the next
 * fault (or the end): extends that failed and by which code, leases whose holders gave up, claims
 * that failed other than `Held`. Over the whole run: the holders' overlaps (two units of a lease
 * believing at the same moment; must be 0) and every outcome.
 */
export interface FailoverSummary {
  faults: FaultOutcome[];
  overlaps: number;
  maxOverlapMs: number | null;
  extends: { ok: number; failed: number; byCode: Record<string, number> };
  leasesLost: number;
  claims: { ok: number; held: number; errors: Record<string, number> };
  waits: { released: number; deadline: number; errors: Record<string, number> };
  /** The clients' probes of nodes holding waits (failed: no answer in time), and waits moved off a node found silent. */
  routes: { probes: number; probesFailed: number; moved: number; discoveries: number };
  /** Linearizable reads (`--readers`), when the run had readers. */
  reads?: { ok: number; errors: Record<string, number>; p50Ms: number | null; p99Ms: number | null; maxMs: number | null };
  restarts: number;
  /** From a holder's death to another unit's claim of its lease (ms), over the run. */
  takeover: { crashed: number; takenOver: number; p50Ms: number | null; p99Ms: number | null; maxMs: number | null };
}

export function failoverSummary(r: RunResult): { failover: FailoverSummary } {
  const s = r.series;
  const n = s.t.length;
  const sumRange = (k: string, from: number, to: number) => rangeSum(s.counts, k, from, to);
  const byPrefix = (prefix: string, from: number, to: number) => sumsByPrefix(s.counts, prefix, from, to);
  const total = (o: Record<string, number>) => Object.values(o).reduce((a, v) => a + v, 0);
  const reading = (r.totalsAll.counts['read.ok'] ?? 0) > 0 || Object.keys(r.totalsAll.counts).some((k) => k.startsWith('read.err.'));
  const faults = (r.faults ?? []).map((f, i, all): FaultOutcome => {
    const from = Math.floor(f.atMs / 1000);
    const to = i + 1 < all.length ? Math.floor(all[i + 1].atMs / 1000) : n;
    const extendErrors = byPrefix('extend.err.', from, to);
    return {
      ...f,
      seconds: [from, to],
      extends: { ok: sumRange('extend.ok', from, to), failed: total(extendErrors), byCode: extendErrors },
      leasesLost: sumRange('lease.lost', from, to),
      claimErrors: byPrefix('claim.err.', from, to),
      holdersCrashed: sumRange('holder.crashed', from, to),
      takenOver: sumRange('takeover.ok', from, to),
      ...(reading ? { reads: { ok: sumRange('read.ok', from, to), errors: byPrefix('read.err.', from, to), maxMs: rangeMax(s.latency?.read?.max, from, to) } } : {}),
    };
  });
  const t = r.totalsAll;
  const extendErrors = byPrefix('extend.err.', 0, n);
  return {
    failover: {
      faults,
      overlaps: t.counts['lease.overlap'] ?? 0,
      maxOverlapMs: t.latency.overlap?.max ?? null,
      extends: { ok: t.counts['extend.ok'] ?? 0, failed: total(extendErrors), byCode: extendErrors },
      leasesLost: t.counts['lease.lost'] ?? 0,
      claims: { ok: t.counts['claim.ok'] ?? 0, held: t.counts['claim.held'] ?? 0, errors: byPrefix('claim.err.', 0, n) },
      waits: { released: t.counts['wait.ok'] ?? 0, deadline: t.counts['wait.timeout'] ?? 0, errors: byPrefix('wait.err.', 0, n) },
      routes: { probes: t.counts['routes.probes'] ?? 0, probesFailed: t.counts['routes.probesFailed'] ?? 0, moved: t.counts['routes.moved'] ?? 0, discoveries: t.counts['routes.discoveries'] ?? 0 },
      ...(reading ? { reads: { ok: t.counts['read.ok'] ?? 0, errors: byPrefix('read.err.', 0, n), p50Ms: t.latency.read?.p50 ?? null, p99Ms: t.latency.read?.p99 ?? null, maxMs: t.latency.read?.max ?? null } } : {}),
      restarts: r.restarts.length,
      takeover: {
        crashed: t.counts['holder.crashed'] ?? 0,
        takenOver: t.counts['takeover.ok'] ?? 0,
        p50Ms: t.latency.takeover?.p50 ?? null,
        p99Ms: t.latency.takeover?.p99 ?? null,
        maxMs: t.latency.takeover?.max ?? null,
      },
    },
  };
}

/** "kill n1 at 15.0 s: n2 led after 1,234 ms (term 1 → 2); restarted after 10.1 s, caught up 412 ms later; extends failed 0, leases lost 0". */
export function faultLine(f: FaultOutcome): string {
  const led = f.newLeader ? `${f.newLeader} led after ${fmt(f.newLeaderMs ?? 0)} ms` : f.target === 'leader' ? 'no other leader seen' : `${f.leaderBefore} kept leading`;
  const heal = f.kind === 'kill' ? 'restarted' : 'resumed';
  const back = f.rejoinedMs === null ? 'not caught up within the watch' : `caught up ${fmt(f.rejoinedMs)} ms later`;
  const codes = Object.entries(f.extends.byCode).map(([c, v]) => `${c}=${v}`).join(' ');
  const holders = f.holdersCrashed ? `; holders died ${f.holdersCrashed}, taken over ${f.takenOver}` : '';
  const reads = f.reads ? `; reads ok ${fmt(f.reads.ok)} failed ${JSON.stringify(f.reads.errors)}, slowest ${f.reads.maxMs === null ? '-' : fmt(Math.round(f.reads.maxMs))} ms` : '';
  return `${f.kind} ${f.node} (${f.target}) at ${(f.atMs / 1000).toFixed(1)} s: ${led} (term ${f.termBefore ?? '-'} → ${f.termAfter ?? '-'}); ${heal} after ${(f.healedMs / 1000).toFixed(1)} s, ${back}; extends ok ${fmt(f.extends.ok)} failed ${f.extends.failed}${codes ? ` (${codes})` : ''}, leases lost ${f.leasesLost}${holders}${reads}`;
}

export function printSummary(r: RunResult): void {
  const lines = [`${r.title} [${r.transport}] → ${r.files.json}`];
  const ops = (r.summary.ops ?? {}) as Record<string, { okPerSec: number; failed: number; errors: Record<string, number>; p50ms: number | null; p99ms: number | null }>;
  for (const [op, s] of Object.entries(ops)) {
    const errs = Object.entries(s.errors).map(([c, v]) => `${c}=${v}`).join(' ');
    const of = (s as { latencyOf?: string }).latencyOf ? ' (per batch)' : '';
    lines.push(`  ${op.padEnd(8)} ${fmt(s.okPerSec).padStart(8)}/s  p50 ${s.p50ms ?? '-'} ms  p99 ${s.p99ms ?? '-'} ms${of}  failed ${s.failed}${errs ? ` (${errs})` : ''}`);
  }
  const terms = r.summary.terms as ReturnType<typeof termSpan> | undefined;
  const elections = terms ? `  elections ${terms.elections} (term ${terms.first} → ${terms.last})` : '';
  lines.push(`  peak RSS MB ${JSON.stringify(r.summary.peakRssMB)} (anon ${JSON.stringify(r.summary.peakRssAnonMB)}, file ${JSON.stringify(r.summary.peakRssFileMB)})  mean CPU % ${JSON.stringify(r.summary.meanCpuPct)}  restarts ${r.restarts.length}${elections}`);
  const ov = r.summary as {
    extendSuccessRateDuringOverload?: number | null;
    recoverySeconds?: number | null;
    recoverySecondsWindowed?: number | null;
    throughputRecoverySeconds?: number | null;
    freshRecoverySeconds?: number | null;
  };
  const fo = (r.summary as { failover?: FailoverSummary }).failover;
  if (fo) {
    for (const f of fo.faults) lines.push(`  ${faultLine(f)}`);
    const tk = fo.takeover;
    if (tk.crashed) lines.push(`  takeover after a holder died: ${fmt(tk.takenOver)} of ${fmt(tk.crashed)} leases, p50 ${tk.p50Ms ?? '-'} ms, p99 ${tk.p99Ms ?? '-'} ms, max ${tk.maxMs ?? '-'} ms`);
    lines.push(`  holders: overlaps ${fo.overlaps}${fo.maxOverlapMs !== null ? ` (longest ${fo.maxOverlapMs} ms)` : ''}; extends ok ${fmt(fo.extends.ok)} failed ${fo.extends.failed}; leases lost ${fo.leasesLost}; claims ok ${fmt(fo.claims.ok)} Held ${fmt(fo.claims.held)} failed ${JSON.stringify(fo.claims.errors)}; unexpected restarts ${fo.restarts}`);
    const w = fo.waits;
    if (fo.reads) lines.push(`  linearizable reads: ok ${fmt(fo.reads.ok)}, failed ${JSON.stringify(fo.reads.errors)}, p50 ${fo.reads.p50Ms ?? '-'} ms, p99 ${fo.reads.p99Ms ?? '-'} ms, max ${fo.reads.maxMs ?? '-'} ms`);
    lines.push(`  waits: released ${fmt(w.released)}, ran out ${fmt(w.deadline)}, failed ${JSON.stringify(w.errors)}; probes of nodes holding waits ${fmt(fo.routes.probes)} (unanswered ${fmt(fo.routes.probesFailed)}), waits moved off silent nodes ${fmt(fo.routes.moved)}; voters asked of a node's status ${fmt(fo.routes.discoveries)} times`);
  }
  if ('recoverySeconds' in ov) {
    lines.push(`  overload: extends ok ${ov.extendSuccessRateDuringOverload === null || ov.extendSuccessRateDuringOverload === undefined ? '-' : (ov.extendSuccessRateDuringOverload * 100).toFixed(3) + ' %'}; recovered after ${ov.recoverySeconds ?? '-'} s (3 s window ${ov.recoverySecondsWindowed ?? '-'} s, throughput ${ov.throughputRecoverySeconds ?? '-'} s, fresh traffic ${ov.freshRecoverySeconds ?? '-'} s)`);
  }
  // Per node, `n1 write 1.28 appendReply 1.52; n2 …`.
  const perNode = (label: string, byNode: unknown) => {
    const nodes = byNode as Record<string, Record<string, number>> | undefined;
    if (!nodes || Object.keys(nodes).length === 0) return;
    const per = Object.entries(nodes).map(([id, st]) => `${id} ${Object.entries(st).map(([k, v]) => `${k} ${v}`).join(' ')}`);
    lines.push(`  ${label}: ${per.join('; ')}`);
  };
  perNode('Raft round, median per-second p50 ms', r.summary.raftStages);
  perNode('Raft rounds per second (median)', r.summary.raftRounds);
  const ev = r.summary.events as ReturnType<typeof eventTotals> | undefined;
  if (ev) lines.push(`  lease events published ${fmt(ev.published)}, lost ${fmt(ev.lost)} (whole run, all nodes)`);
  const watched = r.summary.eventWatch as EventWatchResult | null | undefined;
  if (watched) lines.push(`  ${eventWatchLine(watched)}`);
  if (r.summary.peakLoopDelayMs) lines.push(`  longest event-loop delay ms ${JSON.stringify(r.summary.peakLoopDelayMs)}`);
  const cpu = r.summary.cpuPerOp as CpuPerOp | null | undefined;
  if (cpu) lines.push(`  ${cpuLine(cpu)}`);
  const nats = r.summary.natsPerOp as NatsPerOp | null | undefined;
  if (nats) lines.push(`  ${natsLine(nats)}`);
  if (typeof r.summary.meanStealPct === 'number') lines.push(`  machine CPU steal (other guests) ${r.summary.meanStealPct} % on average`);
  if (r.workerErrors.length) lines.push(`  worker errors: ${r.workerErrors.join('; ').slice(0, 500)}`);
  console.log(lines.join('\n'));
}

/** "CPU per ok op, µs: n1 18.0 (main 12.1) · … → processes 101, machine 108 (busy 93 %, steal 8 %); at this cost …". */
export function cpuLine(c: CpuPerOp): string {
  const us = (v: number | null) => (v === null ? '-' : v >= 100 ? String(Math.round(v)) : v.toFixed(1));
  const main = (k: string) => (c.mainMicros?.[k] != null ? ` (main ${us(c.mainMicros[k])})` : '');
  const parts = Object.entries(c.micros).map(([k, v]) => `${k} ${us(v)}${main(k)}`);
  const machine = c.machineMicros === null ? '' : `, machine ${us(c.machineMicros)} (busy ${c.machineBusyPct} %, steal ${c.stealPct} %)`;
  const ceiling = c.ceilingPerSec === null ? '' : `; at this cost ${c.cores} cores answer at most ≈ ${fmt(c.ceilingPerSec)}/s`;
  return `CPU per ok op, µs: ${parts.join(' · ')} → processes ${us(c.processesMicros)}${machine}${ceiling}`;
}
