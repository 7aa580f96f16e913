/**
 * The FSM's memory of each client's last command, so a retried command returns its first outcome
 * instead of applying twice. Bounded two ways, both deterministic: at most `maxClients` entries
 * (least recently used evicted first) and entries unused for `ttlMs` of global time are dropped
 * when time advances. Recency is a doubly linked list of nodes (the Map only finds them): every use
 * moves a node to the tail, and since global time never goes back, the head holds the oldest
 * `lastUsed`. (Keeping the order as the Map's insertion order cost a delete and a set per command,
 * and the hash table's rebuilds as deletions piled up.)
 *
 * Entries follow the FSM's copy-on-write: one captured by a snapshot in progress is replaced, never
 * changed. Nodes are never captured (`capture` copies ids and entries out), so they are relinked freely.
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

class Node {
  prev: Node | null = null;
  next: Node | null = null;
  constructor(
    readonly id: string,
    public entry: ClientEntry,
  ) {}
}

export class DedupeTable {
  private readonly nodes = new Map<string, Node>();
  private head: Node | null = null;
  private tail: Node | null = null;
  // The node the last `get` found: `remember` and `touch` for the same id follow at once (no second lookup).
  private found: Node | null = null;

  constructor(
    readonly maxClients: number,
    readonly ttlMs: number,
    private readonly cow: CopyOnWrite,
  ) {}

  get size(): number {
    return this.nodes.size;
  }

  get(clientId: string): ClientEntry | undefined {
    const node = this.nodes.get(clientId);
    this.found = node ?? null;
    return node?.entry;
  }

  /** `get` without remembering the node for a following `remember`/`touch` (a look from outside `apply`). */
  peek(clientId: string): ClientEntry | undefined {
    return this.nodes.get(clientId)?.entry;
  }

  /** Records the outcome of a newly applied command. */
  remember(clientId: string, seq: number, result: LeaseResult, now: number): void {
    const node = this.lookup(clientId);
    if (node === undefined) {
      this.trim(this.maxClients - 1);
      const added = new Node(clientId, { seq, result, lastUsed: now, epoch: this.cow.epoch });
      this.nodes.set(clientId, added);
      this.append(added);
      return;
    }
    const entry = node.entry;
    if (this.cow.mustCopy(entry.epoch)) {
      node.entry = { seq, result, lastUsed: now, epoch: this.cow.epoch };
    } else {
      entry.seq = seq;
      entry.result = result;
      entry.lastUsed = now;
    }
    this.moveToTail(node);
  }

  /** A duplicate arrived: the client is alive and still wants this result, so keep it longest. */
  touch(clientId: string, entry: ClientEntry, now: number): void {
    const node = this.lookup(clientId);
    if (node === undefined || node.entry !== entry) throw new Error(`dedupe: touch of ${clientId} without its entry`);
    if (this.cow.mustCopy(entry.epoch)) node.entry = { seq: entry.seq, result: entry.result, lastUsed: now, epoch: this.cow.epoch };
    else entry.lastUsed = now;
    this.moveToTail(node);
  }

  /** Drops entries whose last use is more than ttlMs before `now`; returns how many. */
  expire(now: number): number {
    let dropped = 0;
    while (this.head !== null && this.head.entry.lastUsed + this.ttlMs < now) {
      this.remove(this.head);
      dropped++;
    }
    return dropped;
  }

  /** Ids and entries in recency order (least recent first), as the snapshot stores them. */
  capture(): { ids: string[]; entries: ClientEntry[] } {
    const ids: string[] = new Array(this.nodes.size);
    const entries: ClientEntry[] = new Array(this.nodes.size);
    let i = 0;
    for (let n = this.head; n !== null; n = n.next, i++) {
      ids[i] = n.id;
      entries[i] = n.entry;
    }
    return { ids, entries };
  }

  /** Restore: entries arrive least recent first. */
  load(clientId: string, seq: number, result: LeaseResult, lastUsed: number): void {
    const old = this.nodes.get(clientId);
    if (old !== undefined) this.remove(old);
    const node = new Node(clientId, { seq, result, lastUsed, epoch: this.cow.epoch });
    this.nodes.set(clientId, node);
    this.append(node);
  }

  /** Forgets least recently used entries until at most `limit` remain (also after a restore with a smaller maxClients). */
  trim(limit: number = this.maxClients): void {
    while (this.nodes.size > limit && this.head !== null) this.remove(this.head);
  }

  private lookup(clientId: string): Node | undefined {
    const f = this.found;
    return f !== null && f.id === clientId ? f : this.nodes.get(clientId);
  }

  private append(node: Node): void {
    node.prev = this.tail;
    node.next = null;
    if (this.tail === null) this.head = node;
    else this.tail.next = node;
    this.tail = node;
  }

  private unlink(node: Node): void {
    if (node.prev === null) this.head = node.next;
    else node.prev.next = node.next;
    if (node.next === null) this.tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = node.next = null;
  }

  private moveToTail(node: Node): void {
    if (node === this.tail) return;
    this.unlink(node);
    this.append(node);
  }

  private remove(node: Node): void {
    this.unlink(node);
    this.nodes.delete(node.id);
    if (node === this.found) this.found = null;
  }
}
