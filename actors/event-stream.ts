/**
 * The JetStream side of event publishing (see actors/event-publisher.ts for the design).
 *
 * Stream `TENURE_EVENTS_<cluster>` captures `tenure.v1.<cluster>.events-in.>`; every message
 * carries `Nats-Msg-Id: <index>-<n>` (Raft index, position of the event in its entry), so a copy
 * published twice within the duplicate window is stored once; only stored messages are
 * republished to `tenure.v1.<cluster>.events.>`, in stream order, for core subscribers. The
 * stream has no age limit, only a message cap (oldest discarded), so its last message — the
 * "head", the newest event known to be out — stays readable for a new leader to resume from.
 * Operators who wipe a cluster's Raft data must delete this stream too: a head left over from the
 * old log would make the new cluster skip its events until its indexes pass it.
 */
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import {
  DiscardPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { CONTENT_TYPE_HEADER, encode, JSON_CONTENT_TYPE } from '../bus/codec.ts';
import type { Subjects } from '../bus/subjects.ts';

/** An event's identity: Raft index, then position within the entry. Compared lexicographically. */
export interface EventId {
  index: number;
  n: number;
}

export const ORIGIN: EventId = Object.freeze({ index: 0, n: -1 });

export function compareIds(a: EventId, b: EventId): number {
  return a.index - b.index || a.n - b.n;
}

export function msgId(id: EventId): string {
  return `${id.index}-${id.n}`;
}

export function parseMsgId(value: string | undefined): EventId | null {
  const m = /^(\d+)-(\d+)$/.exec(value ?? '');
  return m ? { index: Number(m[1]), n: Number(m[2]) } : null;
}

/** Stream names may not contain `.`, `*`, `>`, slashes or whitespace; cluster tokens already exclude most. */
export function streamName(cluster: string): string {
  return `TENURE_EVENTS_${cluster.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

export interface EventStreamOptions {
  nc: NatsConnection;
  subj: Subjects;
  /** Duplicate window (default 2 min): must cover the overlap of two leaders publishing. */
  duplicateWindowMs?: number;
  /** Messages kept for replay (default 1,000,000; oldest discarded). */
  maxMsgs?: number;
  /** JetStream API timeout (default 2000 ms). */
  apiTimeoutMs?: number;
}

export class EventStream {
  readonly name: string;
  readonly inPrefix: string;
  private jsm!: JetStreamManager;

  constructor(private readonly opts: EventStreamOptions) {
    this.name = streamName(opts.subj.cluster);
    this.inPrefix = `${opts.subj.prefix}.events-in`;
  }

  /** Creates (or updates) the stream. Throws when JetStream is unavailable or republish is not supported. */
  async ensure(): Promise<void> {
    this.jsm = await jetstreamManager(this.opts.nc, { timeout: this.opts.apiTimeoutMs ?? 2000 });
    const cfg: Partial<StreamConfig> & { name: string } = {
      name: this.name,
      subjects: [`${this.inPrefix}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_msgs: this.opts.maxMsgs ?? 1_000_000,
      duplicate_window: (this.opts.duplicateWindowMs ?? 120_000) * 1_000_000,
      num_replicas: 1,
      republish: { src: `${this.inPrefix}.>`, dest: `${this.opts.subj.prefix}.events.>` },
    };
    let info;
    try {
      info = await this.jsm.streams.add(cfg);
    } catch (err) {
      // Exists with another configuration (an older node, an operator's edit): bring it in line.
      if (!/already in use/i.test((err as Error).message)) throw err;
      info = await this.jsm.streams.update(this.name, cfg);
    }
    if (!info.config.republish) throw new Error(`stream ${this.name} has no republish (server too old?)`);
  }

  /**
   * The newest event stored: ORIGIN for a stream that never held anything, null when it held
   * messages but none is left (purged) and so the head is unknown.
   */
  async head(): Promise<EventId | null> {
    const { state } = await this.jsm.streams.info(this.name);
    if (state.last_seq === 0) return ORIGIN;
    if (state.messages === 0) return null;
    const m = await this.jsm.streams.getMessage(this.name, { seq: state.last_seq });
    if (!m) return null;
    return parseMsgId(m.header?.get('Nats-Msg-Id')) ?? null;
  }

  /** Core publish (never waits for JetStream): the stream dedupes by msg id. */
  publish(id: EventId, namespace: string, model: string, lease: string, event: unknown): void {
    const h = natsHeaders();
    h.set('Nats-Msg-Id', msgId(id));
    h.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE);
    this.opts.nc.publish(`${this.inPrefix}.${namespace}.${model}.${lease}`, encode(event, true), { headers: h });
  }

  flush(): Promise<void> {
    return this.opts.nc.flush();
  }
}
