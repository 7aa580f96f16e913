/** NATS header conventions shared by NatsBus and the micro service endpoint (actors/micro-service.ts). */
import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { CONTENT_TYPE_HEADER, ERROR_HEADER, JSON_CONTENT_TYPE } from './codec.ts';
import { frameProtocol, publishFrame } from './nats-frame.ts';
import type { RawReply } from './serve-core.ts';
import { monotonicNow } from '../clock/clock.ts';
import { unseenMs } from './arrival-watch.ts';

export function header(h: { get(key: string): string } | undefined, key: string): string | undefined {
  const v = h?.get(key);
  return v === '' || v === undefined ? undefined : v;
}

/**
 * The deadline header carries relative ms; the serving side turns it into an absolute time on its
 * own clock, counted from when the request may have arrived: as it is read, less what an event-loop
 * stall may have hidden (bus/arrival-watch.ts).
 */
export function deadlineFrom(value: string | undefined): number {
  if (value === undefined) return Infinity;
  const ms = Number(value);
  return Number.isFinite(ms) && ms >= 0 ? monotonicNow() + ms - unseenMs() : Infinity;
}

/**
 * Headers that never change, encoded once. nats.js encodes a message's headers on every publish
 * (a walk of its Map, a string and a buffer each time); this instance hands back the bytes of its
 * first encoding instead, and refuses changes so that the bytes cannot go stale. If a nats.js
 * version no longer encodes through `encode()`, it is still an ordinary, correct MsgHdrs.
 */
export function frozenHeaders(entries: [string, string][]): MsgHdrs {
  const h = natsHeaders();
  for (const [k, v] of entries) h.set(k, v);
  const impl = h as MsgHdrs & { encode?: () => Uint8Array };
  if (typeof impl.encode === 'function') {
    const bytes = impl.encode();
    impl.encode = () => bytes;
  }
  const refuse = () => {
    throw new Error('frozen NATS headers cannot be changed');
  };
  h.set = h.append = h.delete = refuse;
  return h;
}

/** `Content-Type: application/json`, shared by every JSON publish. */
export const JSON_HEADERS = frozenHeaders([[CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE]]);
/** Their encoded header block, for publishing without nats.js's per-message work (bus/nats-frame.ts). */
export const JSON_HEADER_BYTES: Uint8Array = (JSON_HEADERS as MsgHdrs & { encode?: () => Uint8Array }).encode?.() ?? new TextEncoder().encode(`NATS/1.0\r\n${CONTENT_TYPE_HEADER}: ${JSON_CONTENT_TYPE}\r\n\r\n`);

/**
 * Encoded header blocks of replies, as nats.js would encode `replyHeaders(reply, extraForErrors)`:
 * the JSON block for plain JSON answers, none for plain msgpack ones, and for errors one block per
 * error code and format, encoded on first use and kept (at most two per `ErrorCode`, a closed set).
 * Lets every answer — a herd of `DeadlineExceeded`, the `Overloaded` refusals of shedding — take
 * the frame path (bus/nats-frame.ts) instead of building and encoding nats.js headers each time.
 * The returned function gives `null` when this nats.js cannot hand out encoded headers (the caller
 * then publishes through nats.js).
 */
export function replyHeaderBlocks(extraForErrors?: (h: MsgHdrs, code: string) => void): (reply: RawReply) => Uint8Array | undefined | null {
  const msgpackErrors = new Map<string, Uint8Array>();
  const jsonErrors = new Map<string, Uint8Array>();
  return (reply) => {
    if (!reply.errorCode) return reply.json ? JSON_HEADER_BYTES : undefined;
    const blocks = reply.json ? jsonErrors : msgpackErrors;
    let bytes = blocks.get(reply.errorCode);
    if (bytes === undefined) {
      const h = replyHeaders(reply, extraForErrors) as MsgHdrs & { encode?: () => Uint8Array };
      if (typeof h.encode !== 'function') return null;
      bytes = h.encode();
      blocks.set(reply.errorCode, bytes);
    }
    return bytes;
  };
}

/**
 * Sends answers on `nc`: through the frame path with `replyHeaderBlocks`' header blocks, and what
 * the frame path hands back (or everything, on a nats.js without it) through nats.js with the same
 * headers. Shared by NatsBus.serve and the micro-service endpoints (their `extraForErrors`).
 */
export function replyPublisher(nc: NatsConnection, extraForErrors?: (h: MsgHdrs, code: string) => void): (replyTo: string, reply: RawReply) => void {
  const frames = frameProtocol(nc);
  const blocks = replyHeaderBlocks(extraForErrors);
  return (replyTo, reply) => {
    const h = frames ? blocks(reply) : null;
    if (h !== null && publishFrame(nc, frames!, replyTo, reply.bytes, h)) return;
    nc.publish(replyTo, reply.bytes, { headers: replyHeaders(reply, extraForErrors) });
  };
}

/** Headers of a reply: `Tenure-Error` for errors, Content-Type for JSON; `extra` adds more for errors. */
export function replyHeaders(reply: RawReply, extraForErrors?: (h: MsgHdrs, code: string) => void): MsgHdrs | undefined {
  if (!reply.errorCode && !reply.json) return undefined;
  const h = natsHeaders();
  if (reply.errorCode) {
    h.set(ERROR_HEADER, reply.errorCode);
    extraForErrors?.(h, reply.errorCode);
  }
  if (reply.json) h.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE);
  return h;
}
