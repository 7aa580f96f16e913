/**
 * The FSM's memory of each client's last command, so a retried command returns its first outcome
 * instead of applying twice. Bounded two ways, both deterministic: at most `maxClients` entries
 * (least recently used evicted first) and entries unused for `ttlMs` of global time are dropped
 * when time advances. The Map's insertion order is the recency order: every use moves an entry
 * to the end, and since global time never goes back, the front holds the oldest `lastUsed`.
 */
import type { CopyOnWrite } from './state.ts';
import type { LeaseResult } from './types.ts';

export interface ClientEntry {
  seq: number;
  result: LeaseResult;
  /** Global time of the last use. */
  lastUsed: number;
  epoch: number;
}

export class DedupeTable {
  private readonly entries = new Map<string, ClientEntry>();
  // Most recently used id: skips the delete+set move for a client sending several commands in a row.
  private lastId: string | undefined;

  constructor(
    readonly maxClients: number,
    readonly ttlMs: number,
    private readonly cow: CopyOnWrite,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(clientId: string): ClientEntry | undefined {
    return this.entries.get(clientId);
  }

  /** Records the outcome of a newly applied command. */
  remember(clientId: string, seq: number, result: LeaseResult, now: number): void {
    let entry = this.entries.get(clientId);
    if (entry === undefined) {
      this.trim(this.maxClients - 1);
      this.entries.set(clientId, { seq, result, lastUsed: now, epoch: this.cow.epoch });
      this.lastId = clientId;
      return;
    }
    if (this.cow.mustCopy(entry.epoch)) {
      entry = { seq, result, lastUsed: now, epoch: this.cow.epoch };
      this.moveToEnd(clientId, entry, true);
      return;
    }
    entry.seq = seq;
    entry.result = result;
    entry.lastUsed = now;
    this.moveToEnd(clientId, entry, false);
  }

  /** A duplicate arrived: the client is alive and still wants this result, so keep it longest. */
  touch(clientId: string, entry: ClientEntry, now: number): void {
    if (this.cow.mustCopy(entry.epoch)) {
      this.moveToEnd(clientId, { seq: entry.seq, result: entry.result, lastUsed: now, epoch: this.cow.epoch }, true);
      return;
    }
    entry.lastUsed = now;
    this.moveToEnd(clientId, entry, false);
  }

  /** Drops entries whose last use is more than ttlMs before `now`; returns how many. */
  expire(now: number): number {
    let dropped = 0;
    for (const [id, entry] of this.entries) {
      if (entry.lastUsed + this.ttlMs >= now) break;
      this.entries.delete(id);
      dropped++;
    }
    if (this.entries.size === 0) this.lastId = undefined;
    return dropped;
  }

  /** Ids and entries in recency order (least recent first), as the snapshot stores them. */
  capture(): { ids: string[]; entries: ClientEntry[] } {
    return { ids: Array.from(this.entries.keys()), entries: Array.from(this.entries.values()) };
  }

  /** Restore: entries arrive least recent first. */
  load(clientId: string, seq: number, result: LeaseResult, lastUsed: number): void {
    this.entries.delete(clientId);
    this.entries.set(clientId, { seq, result, lastUsed, epoch: this.cow.epoch });
    this.lastId = clientId;
  }

  private moveToEnd(clientId: string, entry: ClientEntry, replaced: boolean): void {
    if (clientId === this.lastId && !replaced) return;
    if (clientId === this.lastId) {
      this.entries.set(clientId, entry); // already last: set keeps the position
      return;
    }
    this.entries.delete(clientId);
    this.entries.set(clientId, entry);
    this.lastId = clientId;
  }

  /** Forgets least recently used entries until at most `limit` remain (also after a restore with a smaller maxClients). */
  trim(limit: number = this.maxClients): void {
    while (this.entries.size > limit) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      if (oldest === this.lastId) this.lastId = undefined;
    }
  }
}
