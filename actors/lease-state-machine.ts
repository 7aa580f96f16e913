import type { StateMachine } from './raft-node.ts';
import { LeaseFsm, type LeaseFsmOptions } from '../lease/fsm.ts';
import type { LeaseCommand, LeaseEvent, LeaseResult } from '../lease/types.ts';
import { TenureError } from '../errors/errors.ts';
import { decodeValidCommand, encodeLeaseCommand } from '../lease/command-codec.ts';
import { systemClock, type Clock } from '../clock/clock.ts';

export { encodeLeaseCommand };

/** Reassembles length-framed chunks from a byte stream cut at arbitrary points. */
async function* unframe(bytes: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  let buf = new Uint8Array(0);
  for await (const piece of bytes) {
    const joined = new Uint8Array(buf.byteLength + piece.byteLength);
    joined.set(buf, 0);
    joined.set(piece, buf.byteLength);
    buf = joined;
    let at = 0;
    while (buf.byteLength - at >= 4) {
      const len = new DataView(buf.buffer, buf.byteOffset + at, 4).getUint32(0);
      if (buf.byteLength - at - 4 < len) break;
      yield buf.slice(at + 4, at + 4 + len);
      at += 4 + len;
    }
    buf = buf.slice(at);
  }
  if (buf.byteLength) throw new Error(`lease snapshot: ${buf.byteLength} trailing bytes after the last frame`);
}

/**
 * How long a time heard from the leader (LeaseStateMachine.heardTime) counts. It is needed only for
 * the answer being built when it arrives; kept a little longer it covers reads answered just after.
 * Past a change of leader it may overstate global time (a new leader resumes from where the log
 * stopped): safe for holders, but it shortens what answers promise, so it lapses.
 */
export const HEARD_TIME_TTL_MS = 1000;

/** Called synchronously after every applied entry, in Raft order. Must not block (events, waiters). */
export type AppliedListener = (index: number, events: LeaseEvent[]) => void;

/**
 * Adapts the pure lease FSM to Raft's StateMachine: commands arrive encoded by
 * lease/command-codec.ts (older logs: msgpack), already validated
 * by the proposing lease manager; they are validated again as they are decoded (`decodeValidCommand`)
 * so that a bad entry yields an `Invalid` result on every node alike instead of diverging.
 */
export class LeaseStateMachine implements StateMachine {
  fsm: LeaseFsm;
  private listeners: AppliedListener[] = [];
  /** The FSM time last seen here, and the wall time (this node's clock) when it was first seen. */
  private timeSeen: number;
  private timeMovedAt: number;

  constructor(
    private readonly opts: LeaseFsmOptions = {},
    private readonly clock: Clock = systemClock,
  ) {
    this.fsm = new LeaseFsm(opts);
    this.timeSeen = this.fsm.time();
    this.timeMovedAt = clock.now();
  }

  /**
   * Global time as of now, for the time left that answers promise (`remainingMs`): the FSM's time
   * plus the wall time since it last moved here. Global time only moves at setTimes (the leader's
   * ticks, and its stamps ahead of client commands) and a claim's expiry counts from the last one's
   * time, so by the FSM's time alone a lease would be promised the time since then, which it does
   * not have (measured before stamps: gone 269 ms before the promise with 1 s ticks) — and another
   * unit could claim it while its holder still believes it leads. A lease expires at the first
   * setTime whose time is past its expiry, never before the moment this estimate reaches it (the
   * leader's next time is its own wall time since the last one). The wall time counts from the
   * latest of: when the time moved here; on the leader, when it last advanced it (setLeaderClock);
   * when the leader last told this node its time (heardTime). Wall time only: the FSM is not
   * touched.
   */
  timeNow(): number {
    const t = this.fsm.time();
    if (t !== this.timeSeen) this.noteTime();
    const now = this.clock.now();
    const own = t + Math.max(0, now - this.timeMovedAt);
    const led = this.leaderClock === null ? own : Math.max(own, this.leaderClock(now));
    return now - this.heardWall <= HEARD_TIME_TTL_MS ? Math.max(led, now + this.heardOffset) : led;
  }

  /**
   * Global time is at least `time` now: the leader's `timeNow()` carried by a reply just received
   * (lapses after HEARD_TIME_TTL_MS). A node whose
   * log lags the leader's (a follower that forwarded a write, answered after the leader applied
   * it) would otherwise count from its own older time and promise a holder more than the leader's
   * clock allows — found by the lease simulation (test/sim/lease-scenario.ts): a holder
   * believed 325 ms past the moment another holder was granted the lease.
   */
  heardTime(time: number): void {
    if (!Number.isFinite(time)) return;
    const wall = this.clock.now();
    const offset = time - wall;
    if (offset >= this.heardOffset || wall - this.heardWall > HEARD_TIME_TTL_MS) {
      this.heardOffset = offset;
      this.heardWall = wall;
    }
  }

  /**
   * While this node leads: the global time its clock updater's next setTime would propose as of
   * now (the FSM's time plus the wall time since the leader last advanced it, or since it became
   * leader). That is when this leader will expire leases, so answers count from it — not from when
   * a setTime came back applied (a slow commit would lengthen what they promise), nor from when a
   * previous leader's setTime applied here (the new leader counts from its election). Null when
   * this node does not lead. Found by the lease simulation (11–331 ms and 68 ms overlaps).
   */
  setLeaderClock(clock: ((now: number) => number) | null): void {
    this.leaderClock = clock;
  }

  /** Global time as of wall time `now` on this leader (setLeaderClock). */
  private leaderClock: ((now: number) => number) | null = null;

  /** The latest best `time − wall` heard (heardTime) and when: global time as of now is at least now + offset. */
  private heardOffset = -Infinity;
  private heardWall = -Infinity;

  private noteTime(): void {
    this.timeSeen = this.fsm.time();
    this.timeMovedAt = this.clock.now();
  }

  onApplied(listener: AppliedListener): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  apply(index: number, commands: Uint8Array[]): unknown[] {
    const cmds: LeaseCommand[] = [];
    const bad = new Map<number, LeaseResult>();
    for (let i = 0; i < commands.length; i++) {
      try {
        cmds.push(decodeValidCommand(commands[i]));
      } catch (err) {
        const e = err instanceof TenureError ? err : new TenureError('Invalid', 'undecodable command', { field: 'command' });
        bad.set(i, { ok: false, code: 'Invalid', message: e.message, field: String(e.details.field ?? 'command') } as LeaseResult);
      }
    }
    const out = this.fsm.apply(index, cmds);
    if (this.fsm.time() !== this.timeSeen) this.noteTime();
    let results: LeaseResult[] = out.results;
    if (bad.size) {
      results = [];
      let k = 0;
      for (let i = 0; i < commands.length; i++) results.push(bad.get(i) ?? out.results[k++]);
    }
    for (const l of this.listeners) l(index, out.events);
    return results;
  }

  /**
   * FSM chunks framed with a u32 length: storage and transfer may re-cut the byte stream freely.
   * The state is captured now (the FSM copies on write); the chunks are encoded as they are read.
   */
  snapshot(): Iterable<Uint8Array> {
    return frame(this.fsm.snapshotChunks());
  }

  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    this.fsm = await LeaseFsm.restore(unframe(chunks), this.opts);
    this.noteTime();
    for (const l of this.restoredListeners) l();
  }

  private restoredListeners: (() => void)[] = [];

  /** Called after the state was replaced by a snapshot (waiters must re-check everything). */
  onRestored(listener: () => void): void {
    this.restoredListeners.push(listener);
  }
}

// The length prefix and the chunk go out as two pieces (the stream may be cut anywhere): copying
// each chunk behind its prefix held a second copy of the whole snapshot while it was being saved.
function* frame(chunks: Iterable<Uint8Array>): Generator<Uint8Array> {
  for (const chunk of chunks) {
    const prefix = new Uint8Array(4);
    new DataView(prefix.buffer).setUint32(0, chunk.byteLength);
    yield prefix;
    yield chunk;
  }
}
