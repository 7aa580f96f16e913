/**
 * What a lease service promises its holders, checked on what they believed: for each lease, the
 * spans during which some holder believed it held the lease (from the answer that gave it the lease
 * to the moment it stopped believing) never overlap between two holders, and a later tenure always
 * carries a larger fencing token. All times are the one simulated clock.
 */
export interface Belief {
  lease: string;
  holder: string;
  token: number;
  from: number;
  /** When the holder stopped believing (Infinity: still believes at the end of the run). */
  to: number;
  /** How the belief was formed, for the report: 'helper' (leadership()) or 'raw' (claim/extend). */
  via: string;
}

export function checkBeliefs(beliefs: readonly Belief[]): string[] {
  const out: string[] = [];
  const byLease = new Map<string, Belief[]>();
  for (const b of beliefs) {
    // An answer that arrives after the time it promised has run out gives no belief at all.
    if (b.to <= b.from) continue;
    let list = byLease.get(b.lease);
    if (!list) byLease.set(b.lease, (list = []));
    list.push(b);
  }
  for (const [lease, list] of byLease) {
    list.sort((a, b) => a.from - b.from || a.to - b.to);
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length && list[j].from < list[i].to; j++) {
        const a = list[i];
        const b = list[j];
        if (a.holder === b.holder) continue;
        if (b.from < a.to) out.push(`${lease}: ${a.holder} (${a.via}, token ${a.token}) believed ${a.from}–${a.to} and ${b.holder} (${b.via}, token ${b.token}) believed ${b.from}–${b.to}: both held it for ${Math.min(a.to, b.to) - b.from} ms`);
      }
      for (let j = i + 1; j < list.length; j++) {
        const a = list[i];
        const b = list[j];
        if (a.holder !== b.holder && a.to <= b.from && !(a.token < b.token)) {
          out.push(`${lease}: ${b.holder}'s tenure from ${b.from} has token ${b.token}, not above ${a.holder}'s ${a.token} that ended at ${a.to}`);
        }
      }
    }
  }
  return out;
}

/** A `wait` that answered "free": asked at `from`, answered at `to` (simulated clock). */
export interface FreeAnswer {
  lease: string;
  from: number;
  to: number;
}

/**
 * A wait answers "free" only if the lease was free at some moment while it waited: never while a
 * single holder believed it held the lease from before the wait was asked until after it was
 * answered (its release would have had to happen inside that span).
 */
export function checkWaits(waits: readonly FreeAnswer[], beliefs: readonly Belief[]): string[] {
  const out: string[] = [];
  for (const w of waits) {
    const b = beliefs.find((b) => b.lease === w.lease && b.to > b.from && b.from <= w.from && b.to >= w.to);
    if (b) out.push(`${w.lease}: a wait asked at ${w.from} answered free at ${w.to}, but ${b.holder} (${b.via}, token ${b.token}) believed it held the lease ${b.from}–${b.to}`);
  }
  return out;
}
