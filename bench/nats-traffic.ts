/**
 * What the bench's own nats-server carried per successful operation, from its monitoring endpoint
 * (`/varz`, served on loopback only) read at whole seconds of a run, like the CPU account
 * (bench/cpu-account.ts):
 * - in: messages and bytes every client published — requests, replies, Raft messages and lease
 *   events (an event nobody subscribes to still costs the server a parse and a lookup);
 * - out: messages and bytes the server delivered to subscribers.
 * Each side's bytes are payload plus headers, not protocol lines. Per op the figures say where a
 * workload's messaging goes: in a claim run with batched clients nearly every message in is a lease
 * event (docs/benchmarks.md, twenty-seventh session). Null where the cluster is not the bench's own
 * (`--nats-url`) or the endpoint could not be read.
 */

export interface NatsCounters {
  inMsgs: number;
  outMsgs: number;
  inBytes: number;
  outBytes: number;
}

export interface NatsPerOp {
  ops: number;
  seconds: number;
  /** Per ok op. */
  inMsgs: number;
  outMsgs: number;
  inBytes: number;
  outBytes: number;
  /** Server-wide rates over the window. */
  inMsgsPerSec: number;
  outMsgsPerSec: number;
}

/** The four counters of a /varz answer; null if any is missing or not a number. */
export function parseVarz(v: unknown): NatsCounters | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  const num = (k: string) => (typeof o[k] === 'number' && Number.isFinite(o[k]) ? (o[k] as number) : null);
  const inMsgs = num('in_msgs');
  const outMsgs = num('out_msgs');
  const inBytes = num('in_bytes');
  const outBytes = num('out_bytes');
  if (inMsgs === null || outMsgs === null || inBytes === null || outBytes === null) return null;
  return { inMsgs, outMsgs, inBytes, outBytes };
}

const round2 = (v: number) => Math.round(v * 100) / 100;

/** Per ok op between readings `a` and `b`, `ops` ok answers and `seconds` apart; null if nothing to divide or the counters went back (a restarted server). */
export function natsPerOp(a: NatsCounters, b: NatsCounters, ops: number, seconds: number): NatsPerOp | null {
  if (ops <= 0 || seconds <= 0) return null;
  const d = { inMsgs: b.inMsgs - a.inMsgs, outMsgs: b.outMsgs - a.outMsgs, inBytes: b.inBytes - a.inBytes, outBytes: b.outBytes - a.outBytes };
  if (Object.values(d).some((x) => x < 0)) return null;
  return {
    ops,
    seconds,
    inMsgs: round2(d.inMsgs / ops),
    outMsgs: round2(d.outMsgs / ops),
    inBytes: Math.round(d.inBytes / ops),
    outBytes: Math.round(d.outBytes / ops),
    inMsgsPerSec: Math.round(d.inMsgs / seconds),
    outMsgsPerSec: Math.round(d.outMsgs / seconds),
  };
}

/** Reads `<monitorUrl>/varz`, giving up after `timeoutMs`; null on any failure (the run goes on without the figure). */
export function varzReader(monitorUrl: string, timeoutMs = 800): () => Promise<NatsCounters | null> {
  return async () => {
    try {
      const res = await fetch(`${monitorUrl}/varz`, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) return null;
      return parseVarz(await res.json());
    } catch {
      return null;
    }
  };
}

/**
 * Readings taken at whole seconds of a run, for the figures over its measured window [from, to).
 * A reading is asynchronous (HTTP); `mark` starts it at once and `result` waits for the ones it uses.
 */
export class NatsTrafficWindow {
  private readonly readings = new Map<number, Promise<NatsCounters | null>>();

  constructor(private readonly read: () => Promise<NatsCounters | null>) {}

  /** Starts the reading for second `k`. */
  mark(k: number): void {
    this.readings.set(k, this.read());
  }

  /** From the reading at `from` to the last readable one at or before `to`; `okBetween(f, t)` counts ok answers in seconds [f, t). */
  async result(from: number, to: number, okBetween: (f: number, t: number) => number): Promise<NatsPerOp | null> {
    const a = await this.readings.get(from);
    if (!a) return null;
    for (let end = to; end > from; end--) {
      const b = await this.readings.get(end);
      if (b) return natsPerOp(a, b, okBetween(from, end), end - from);
    }
    return null;
  }
}

/** "NATS per ok op: in 1.45 msgs, 720 B · out 0.08 msgs, 160 B (server: 33,512 msgs/s in, 1,902 out)". */
export function natsLine(n: NatsPerOp): string {
  const f = (v: number) => v.toLocaleString('en-US');
  return `NATS per ok op: in ${n.inMsgs} msgs, ${f(n.inBytes)} B · out ${n.outMsgs} msgs, ${f(n.outBytes)} B (server: ${f(n.inMsgsPerSec)} msgs/s in, ${f(n.outMsgsPerSec)} out)`;
}
