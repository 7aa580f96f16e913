/**
 * Fans one Raft node's leadership mailbox out to every component that follows leadership (clock
 * updater, event publisher, forwarders). The mailbox allows one consumer, and Raft must never
 * wait for any of them (Nomad PR 6977), so exactly one loop takes from it and calls listeners
 * synchronously; listeners only record the value and kick their own actor.
 */
import type { Leadership } from './raft-node.ts';
import type { LatestMailbox } from './latest-mailbox.ts';

export type LeadershipListener = (l: Leadership) => void;

/** What followers of leadership depend on (tests drive it by hand). */
export interface LeadershipSource {
  readonly current: Leadership;
  subscribe(listener: LeadershipListener): () => void;
}

export class LeadershipFeed implements LeadershipSource {
  current: Leadership = { role: 'follower', leader: null, term: 0 };
  private listeners: LeadershipListener[] = [];
  private running = false;

  constructor(
    private readonly mailbox: LatestMailbox<Leadership>,
    private readonly onError: (err: unknown, listener: LeadershipListener) => void = () => {},
  ) {}

  subscribe(listener: LeadershipListener): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.loop();
  }

  /** Stops delivering; the pending take() is simply abandoned (the mailbox never blocks Raft). */
  stop(): void {
    this.running = false;
    this.listeners = [];
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const l = await this.mailbox.take();
      if (!this.running) return;
      this.current = l;
      for (const listener of this.listeners) {
        try {
          listener(l);
        } catch (err) {
          this.onError(err, listener);
        }
      }
    }
  }
}

/** A hand-driven source for tests and for single-component setups. */
export class ManualLeadership implements LeadershipSource {
  current: Leadership = { role: 'follower', leader: null, term: 0 };
  private listeners: LeadershipListener[] = [];

  subscribe(listener: LeadershipListener): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  set(l: Leadership): void {
    this.current = l;
    for (const listener of this.listeners) listener(l);
  }
}
