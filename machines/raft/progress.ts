/**
 * The leader's view of one follower (etcd's Progress): probe sends one append at a time until the
 * follower's position is known, replicate pipelines up to `maxInflight` appends, snapshot waits for
 * a streamed snapshot to finish.
 */
export class Progress {
  match = 0;
  next: number;
  state: 'probe' | 'replicate' | 'snapshot' = 'probe';
  /** Appends sent and not yet answered (each is one request on the bus). */
  inflight = 0;
  recentActive = false;
  pendingSnapshot = 0;
  /** Probing and a probe is out (or the follower looked unreachable): wait for any answer first. */
  probeSent = false;

  constructor(next: number) {
    this.next = next;
  }

  canSend(maxInflight: number): boolean {
    if (this.state === 'snapshot') return false;
    if (this.state === 'probe') return this.inflight === 0 && !this.probeSent;
    return this.inflight < maxInflight;
  }

  sent(lastIndex: number): void {
    this.inflight++;
    if (this.state === 'replicate') this.next = lastIndex + 1;
    else this.probeSent = true;
  }

  /** A successful append response; returns true when match advanced. */
  maybeUpdate(index: number): boolean {
    this.probeSent = false;
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
    }
    if (this.next < index + 1) this.next = index + 1;
    if (this.state === 'probe') {
      this.state = 'replicate';
      this.next = Math.max(this.next, this.match + 1);
    }
    return updated;
  }

  /** A rejected append for `rejected` (its prevIndex); `hintNext` from the fast back-off. */
  maybeDecrease(rejected: number, hintNext: number): void {
    this.probeSent = false;
    if (this.state === 'replicate') {
      if (rejected <= this.match) return; // stale rejection
      this.becomeProbe();
      return;
    }
    if (this.next - 1 !== rejected) return; // stale: not the probe we are waiting for
    this.next = Math.max(Math.min(rejected, hintNext), this.match + 1, 1);
  }

  becomeProbe(): void {
    this.state = 'probe';
    this.inflight = 0;
    this.probeSent = false;
    this.next = this.match + 1;
  }

  /** No answer: probe again only once the follower answers a heartbeat (no resend storm to a dead node). */
  pause(): void {
    this.becomeProbe();
    this.probeSent = true;
  }

  becomeSnapshot(index: number): void {
    this.state = 'snapshot';
    this.inflight = 0;
    this.pendingSnapshot = index;
  }

  snapshotDone(ok: boolean, index: number): void {
    if (ok) {
      this.match = Math.max(this.match, index);
    }
    this.pendingSnapshot = 0;
    if (ok) this.becomeProbe();
    else this.pause();
  }
}

export function quorum(voters: number): number {
  return Math.floor(voters / 2) + 1;
}
