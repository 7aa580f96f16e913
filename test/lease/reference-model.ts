/**
 * An obviously-correct lease state machine: arrays, linear scans, no cleverness. The property
 * tests run it beside LeaseFsm and demand identical results, events and reads.
 */
import type { LeaseCommand, LeaseEvent, LeaseInfo, LeaseKey, LeaseListFilter, LeaseResult } from '../../lease/types.ts';

interface Lease {
  key: LeaseKey;
  holder: string;
  expiry: number;
  token: number;
}

interface Pin {
  key: LeaseKey;
  entity: string;
}

interface Client {
  clientId: string;
  seq: number;
  result: LeaseResult;
  lastUsed: number;
}

const sameKey = (a: LeaseKey, b: LeaseKey) => a.namespace === b.namespace && a.model === b.model && a.lease === b.lease;

function compareKeys(a: LeaseKey, b: LeaseKey): number {
  for (const f of ['namespace', 'model', 'lease'] as const) {
    if (a[f] < b[f]) return -1;
    if (a[f] > b[f]) return 1;
  }
  return 0;
}

export class ReferenceModel {
  time = 0;
  nextToken = 0;
  leases: Lease[] = [];
  pins: Pin[] = [];
  /** Least recently used first. */
  clients: Client[] = [];

  constructor(
    readonly maxClients: number,
    readonly clientTtlMs: number,
  ) {}

  apply(index: number, cmds: LeaseCommand[]): { results: LeaseResult[]; events: LeaseEvent[] } {
    const results: LeaseResult[] = [];
    const events: LeaseEvent[] = [];
    for (const cmd of cmds) {
      const known = this.clients.find((c) => c.clientId === cmd.clientId);
      if (known && cmd.seq === known.seq) {
        this.clients = this.clients.filter((c) => c !== known);
        this.clients.push({ ...known, lastUsed: this.time });
        results.push(known.result);
        continue;
      }
      if (known && cmd.seq < known.seq) {
        results.push({ ok: false, code: 'Invalid', field: 'seq', message: 'stale sequence' });
        continue;
      }
      const result = this.execute(cmd, index, events);
      const stillKnown = this.clients.some((c) => c.clientId === cmd.clientId);
      this.clients = this.clients.filter((c) => c.clientId !== cmd.clientId);
      if (!stillKnown && this.clients.length >= this.maxClients) this.clients.shift();
      this.clients.push({ clientId: cmd.clientId, seq: cmd.seq, result, lastUsed: this.time });
      results.push(result);
    }
    return { results, events };
  }

  private execute(cmd: LeaseCommand, index: number, events: LeaseEvent[]): LeaseResult {
    if (cmd.op === 'setTime') {
      if (cmd.oldTime !== this.time || cmd.newTime <= cmd.oldTime) {
        return { ok: false, code: 'OutOfSync', message: 'x', current: this.time };
      }
      this.time = cmd.newTime;
      const expired = this.leases
        .filter((l) => l.expiry < cmd.newTime && this.pinnedBy(l.key).length === 0)
        .sort((a, b) => a.expiry - b.expiry || a.token - b.token);
      for (const l of expired) events.push({ kind: 'expired', key: l.key, holder: l.holder, expiry: l.expiry, token: l.token, index });
      this.leases = this.leases.filter((l) => !expired.includes(l));
      this.clients = this.clients.filter((c) => !(c.lastUsed + this.clientTtlMs < cmd.newTime));
      return { ok: true, time: this.time, expired: expired.length };
    }
    const lease = this.leases.find((l) => sameKey(l.key, cmd.key));
    switch (cmd.op) {
      case 'claim': {
        if (lease && lease.holder !== cmd.holder) return { ok: false, code: 'Held', message: 'x', holder: lease.holder };
        if (lease) {
          this.lengthen(lease, cmd.durationMs, index, events);
          return { ok: true, holder: lease.holder, expiry: lease.expiry, token: lease.token, extended: true };
        }
        const fresh = { key: cmd.key, holder: cmd.holder, expiry: this.time + cmd.durationMs, token: ++this.nextToken };
        this.leases.push(fresh);
        events.push({ kind: 'claimed', key: fresh.key, holder: fresh.holder, expiry: fresh.expiry, token: fresh.token, index });
        return { ok: true, holder: fresh.holder, expiry: fresh.expiry, token: fresh.token, extended: false };
      }
      case 'extend': {
        if (!lease || lease.holder !== cmd.holder) return { ok: false, code: 'NotHeld', message: 'x', holder: lease?.holder ?? null };
        this.lengthen(lease, cmd.durationMs, index, events);
        return { ok: true, holder: lease.holder, expiry: lease.expiry, token: lease.token };
      }
      case 'revoke': {
        if (!lease || lease.holder !== cmd.holder) return { ok: false, code: 'NotHeld', message: 'x', holder: lease?.holder ?? null };
        this.leases = this.leases.filter((l) => l !== lease);
        events.push({ kind: 'revoked', key: lease.key, holder: lease.holder, expiry: lease.expiry, token: lease.token, index });
        return { ok: true };
      }
      case 'pin':
      case 'unpin': {
        const had = this.pins.some((p) => sameKey(p.key, cmd.key) && p.entity === cmd.entity);
        const change = cmd.op === 'pin' ? !had : had;
        if (cmd.op === 'pin' && change) this.pins.push({ key: cmd.key, entity: cmd.entity });
        if (cmd.op === 'unpin') this.pins = this.pins.filter((p) => !(sameKey(p.key, cmd.key) && p.entity === cmd.entity));
        const pinnedBy = this.pinnedBy(cmd.key);
        if (change) {
          events.push({
            kind: cmd.op === 'pin' ? 'pinned' : 'unpinned',
            key: cmd.key,
            holder: lease?.holder ?? null,
            expiry: lease?.expiry ?? null,
            token: lease?.token ?? null,
            index,
            entity: cmd.entity,
            pinnedBy,
          });
        }
        return { ok: true, pinnedBy };
      }
    }
  }

  private lengthen(lease: Lease, durationMs: number, index: number, events: LeaseEvent[]): void {
    if (this.time + durationMs > lease.expiry) {
      lease.expiry = this.time + durationMs;
      events.push({ kind: 'extended', key: lease.key, holder: lease.holder, expiry: lease.expiry, token: lease.token, index });
    }
  }

  pinnedBy(key: LeaseKey): string[] {
    return this.pins
      .filter((p) => sameKey(p.key, key))
      .map((p) => p.entity)
      .sort();
  }

  get(key: LeaseKey): LeaseInfo | null {
    const l = this.leases.find((x) => sameKey(x.key, key));
    if (!l) return null;
    return {
      key: l.key,
      holder: l.holder,
      expiry: l.expiry,
      remainingMs: Math.max(0, l.expiry - this.time),
      token: l.token,
      pinnedBy: this.pinnedBy(l.key),
    };
  }

  list(filter: LeaseListFilter = {}): LeaseInfo[] {
    return this.leases
      .filter((l) => (filter.namespace === undefined || l.key.namespace === filter.namespace) && (filter.model === undefined || l.key.model === filter.model))
      .sort((a, b) => compareKeys(a.key, b.key))
      .map((l) => this.get(l.key)!);
  }
}
