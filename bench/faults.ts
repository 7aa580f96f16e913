/**
 * Faults the `failover` workload injects into a private bench cluster while holders keep their
 * leases: a node killed (SIGKILL, then started again on its data) or paused (SIGSTOP, then SIGCONT:
 * a long GC pause or a frozen VM, with its sockets left open), the leader or a follower.
 *
 * Spec: comma-separated `<kind>[:<target>]@<at>+<down>`, seconds from the run's start, e.g.
 * `kill@15+10,pause@40+5,kill:follower@60+5`. kind = kill | pause, target = leader (default) | follower.
 *
 * Each fault is watched from the bench with status polls every 100 ms (control.<node>.status; the
 * victim is left out until the heal, so a paused one does not hold a poll to its deadline): how long
 * until another node leads, and after the heal how long until the victim is back as a member with
 * everything the leader had committed when it was healed. A figure is good to about a poll's period.
 */
import type { BenchCluster, NodeSample } from './cluster.ts';

export type FaultKind = 'kill' | 'pause';
export type FaultTarget = 'leader' | 'follower';

export interface FaultSpec {
  kind: FaultKind;
  target: FaultTarget;
  /** From the run's start. */
  atMs: number;
  /** How long the node stays dead or paused. */
  downMs: number;
}

export interface FaultRecord extends FaultSpec {
  node: string;
  /** Who led, in which term, just before the fault. */
  leaderBefore: string | null;
  termBefore: number | null;
  /** The first node other than the victim seen leading in a higher term, and ms from the fault until then (null: none seen). */
  newLeader: string | null;
  newLeaderMs: number | null;
  /** ms from the fault until it was healed (the restart's "ready", or SIGCONT). */
  healedMs: number;
  /** ms from the heal until the victim answered as follower or leader with commit ≥ the leader's commit at the heal (null: not within the watch). */
  rejoinedMs: number | null;
  /** Highest term any node reported at the end of the watch. */
  termAfter: number | null;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function parseFaults(spec: string): FaultSpec[] {
  const out: FaultSpec[] = [];
  for (const tok of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^(kill|pause)(?::(leader|follower))?@(\d+(?:\.\d+)?)\+(\d+(?:\.\d+)?)$/.exec(tok);
    if (!m) throw new Error(`bad fault ${JSON.stringify(tok)} (expected kill|pause[:leader|:follower]@<at s>+<down s>, e.g. kill@15+10)`);
    const f: FaultSpec = { kind: m[1] as FaultKind, target: (m[2] ?? 'leader') as FaultTarget, atMs: Number(m[3]) * 1000, downMs: Number(m[4]) * 1000 };
    if (f.downMs <= 0) throw new Error(`bad fault ${JSON.stringify(tok)}: the node must stay down for more than 0 s`);
    const prev = out[out.length - 1];
    if (prev && f.atMs < prev.atMs + prev.downMs) throw new Error(`bad fault ${JSON.stringify(tok)}: starts before the previous one is healed`);
    out.push(f);
  }
  return out;
}

const highestTerm = (ss: NodeSample[]) => ss.reduce<number | null>((a, s) => (s.term !== null && (a === null || s.term > a) ? s.term : a), null);

/**
 * Runs one fault at `startAt + f.atMs` and watches it. `mark` is told when the fault and the heal
 * happen (seconds since startAt), for the chart; `onFault` runs right after the node is hit.
 */
export async function runFault(cluster: BenchCluster, f: FaultSpec, startAt: number, mark: (sec: number, label: string) => void, onFault: () => void = () => {}, pollMs = 100, watchMs = 30_000): Promise<FaultRecord> {
  const wait = startAt + f.atMs - Date.now();
  if (wait > 0) await sleep(wait);
  const before = await cluster.sample(500);
  const leader = before.find((s) => s.role === 'leader') ?? null;
  const followers = before.filter((s) => s.up && s.role !== 'leader').map((s) => s.id);
  const node = f.target === 'leader' ? leader?.id : followers[0];
  if (!node) throw new Error(`fault ${f.kind}:${f.target}: no ${f.target} to hit (${before.map((s) => `${s.id} ${s.role}`).join(', ')})`);
  const termBefore = leader?.term ?? highestTerm(before);
  const t0 = Date.now();
  if (f.kind === 'kill') await cluster.crash(node);
  else cluster.pause(node);
  onFault();
  mark((t0 - startAt) / 1000, `${f.kind} ${node}`);

  let newLeader: string | null = null;
  let newLeaderMs: number | null = null;
  const lookForLeader = (ss: NodeSample[], at: number) => {
    if (newLeader !== null) return;
    const l = ss.find((s) => s.role === 'leader' && s.id !== node && s.term !== null && (termBefore === null || s.term > termBefore));
    if (l) (newLeader = l.id), (newLeaderMs = at - t0);
  };
  // Until the heal: who leads now, asking only the others (a paused node would hold each poll to its deadline).
  const others = cluster.ids.filter((id) => id !== node);
  while (Date.now() < t0 + f.downMs) {
    const ss = await cluster.sample(Math.min(300, pollMs * 3), others);
    lookForLeader(ss, Date.now());
    const left = t0 + f.downMs - Date.now();
    if (left > 0) await sleep(Math.min(pollMs, left));
  }
  if (f.kind === 'kill') await cluster.restart(node);
  else cluster.resume(node);
  const healedAt = Date.now();
  mark((healedAt - startAt) / 1000, f.kind === 'kill' ? `restart ${node}` : `resume ${node}`);

  // After the heal: the victim back with what the leader had committed then.
  const atHeal = await cluster.sample(500);
  const leaderNow = atHeal.find((s) => s.role === 'leader' && s.id !== node) ?? atHeal.find((s) => s.role === 'leader');
  const target = leaderNow?.commit ?? null;
  lookForLeader(atHeal, Date.now());
  let rejoinedMs: number | null = null;
  let last = atHeal;
  while (Date.now() < healedAt + watchMs) {
    const ss = await cluster.sample(Math.min(300, pollMs * 3));
    last = ss;
    lookForLeader(ss, Date.now());
    const v = ss.find((s) => s.id === node);
    if (v?.up && (v.role === 'follower' || v.role === 'leader') && v.commit !== null && target !== null && v.commit >= target) {
      rejoinedMs = Date.now() - healedAt;
      break;
    }
    await sleep(pollMs);
  }
  return { ...f, node, leaderBefore: leader?.id ?? null, termBefore, newLeader, newLeaderMs, healedMs: healedAt - t0, rejoinedMs, termAfter: highestTerm(last) };
}
