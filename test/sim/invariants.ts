import type { SimCluster } from './cluster.ts';

/**
 * Raft's safety properties, checked against the live nodes after every simulated step:
 * election safety, log matching, leader completeness, state-machine safety (applied prefixes
 * agree) and monotonic commit per incarnation.
 */
export class InvariantChecker {
  readonly violations: string[] = [];
  private leaderOfTerm = new Map<number, string>();
  /** index -> term of every entry any node has committed. */
  private committed = new Map<number, number>();
  private lastCommit = new Map<string, number>();
  private longestApplied: string[] = [];

  constructor(private readonly cluster: SimCluster) {}

  nodeStarted(id: string): void {
    this.lastCommit.delete(id);
  }

  private violate(what: string): void {
    if (this.violations.length < 20) this.violations.push(`t=${this.cluster.clock.now()} ${what}`);
  }

  check(): void {
    const live = this.cluster.live();
    for (const { id, node, fsm } of live) {
      const core = node.raftCore;
      const log = core.log;

      // Election safety: one leader per term.
      if (core.role === 'leader') {
        const other = this.leaderOfTerm.get(core.term);
        if (other === undefined) {
          this.leaderOfTerm.set(core.term, id);
          // Leader completeness: a new leader holds every entry committed so far.
          for (const [index, term] of this.committed) {
            if (index <= log.snapshot.index) continue;
            if (log.term(index) !== term) this.violate(`leader completeness: ${id} (term ${core.term}) lacks committed ${index}@${term}`);
          }
        } else if (other !== id) this.violate(`two leaders in term ${core.term}: ${other} and ${id}`);
      }

      // Commit never decreases within an incarnation.
      const prev = this.lastCommit.get(id) ?? 0;
      if (log.committed < prev) this.violate(`${id} commit went back from ${prev} to ${log.committed}`);
      this.lastCommit.set(id, log.committed);

      // Record committed entries; a committed index must never change term.
      for (let i = Math.max(log.firstIndex(), prev + 1); i <= log.committed; i++) {
        const t = log.term(i);
        if (t === undefined) continue;
        const known = this.committed.get(i);
        if (known === undefined) this.committed.set(i, t);
        else if (known !== t) this.violate(`committed index ${i} has term ${t} on ${id}, ${known} elsewhere`);
      }

      // State-machine safety: every applied sequence is a prefix of the longest.
      const a = fsm.applied;
      const longest = this.longestApplied;
      const n = Math.min(a.length, longest.length);
      for (let i = Math.max(0, n - 64); i < n; i++) {
        if (a[i] !== longest[i]) {
          this.violate(`applied sequences diverge at ${i} on ${id}: ${a[i]} vs ${longest[i]}`);
          break;
        }
      }
      if (a.length > longest.length) this.longestApplied = a.slice();
    }

    // Log matching: same index and term => same prefix (checked on the overlapping window).
    for (let x = 0; x < live.length; x++) {
      for (let y = x + 1; y < live.length; y++) {
        const la = live[x].node.raftCore.log;
        const lb = live[y].node.raftCore.log;
        const lo = Math.max(la.firstIndex(), lb.firstIndex());
        const hi = Math.min(la.lastIndex(), lb.lastIndex());
        let matched = false;
        for (let i = hi; i >= lo; i--) {
          const ta = la.term(i);
          const tb = lb.term(i);
          if (!matched) {
            if (ta === tb) matched = true;
          } else if (ta !== tb) {
            this.violate(`log matching: ${live[x].id} and ${live[y].id} agree above ${i} but differ at ${i} (${ta} vs ${tb})`);
            break;
          }
        }
      }
    }
  }
}
