/**
 * What a serving endpoint does with one request, shared by NatsBus and the simulated bus so both
 * behave identically: decode (size limit first), call the handler, encode the reply in the
 * request's format, and turn every failure into a typed error reply. Nothing here throws.
 */
import { invalid, TenureError, type ErrorCode } from '../errors/errors.ts';
import type { Logger } from '../log/logger.ts';
import { decode, encode, encodeError, isJsonPayload } from './codec.ts';
import type { IncomingRequest, RequestHandler } from './types.ts';

export interface RawRequest {
  subject: string;
  bytes: Uint8Array;
  contentType?: string;
  /** Absolute deadline on the serving side's clock; Infinity if unknown. */
  deadline: number;
  /** The caller's lane hint (RequestOptions.lane), if any. */
  lane?: string;
}

export interface RawReply {
  bytes: Uint8Array;
  json: boolean;
  /** Set for error replies (becomes the `Tenure-Error` header). */
  errorCode?: ErrorCode;
}

/**
 * Runs `handler` for one raw request and calls `reply` exactly once with the encoded reply (errors thrown by `reply` are logged).
 * Synchronous handlers are answered synchronously (no promise hop on the hot path).
 */
export function runHandler(
  raw: RawRequest,
  handler: RequestHandler,
  maxPayloadBytes: number,
  log: Logger,
  reply: (reply: RawReply) => void,
  admit?: (subject: string, lane?: string) => TenureError | null,
): void {
  const subject = raw.subject;
  const done = (r: RawReply): void => {
    try {
      reply(r);
    } catch (err) {
      log.warn({ subject, err }, 'cannot send reply');
    }
  };
  // Cheap refusal before any decoding: under overload, shedding must cost far less than serving.
  const refusal = admit?.(raw.subject, raw.lane);
  if (refusal) {
    done(errorReply(refusal, isJsonPayload(raw.bytes, raw.contentType)));
    return;
  }
  let req: IncomingRequest;
  try {
    const { value, json } = decode(raw.bytes, raw.contentType, maxPayloadBytes);
    req = { subject: raw.subject, data: value, json, size: raw.bytes.length, deadline: raw.deadline };
  } catch (err) {
    // Oversize payloads are answered in their own format; undecodable ones in JSON (which every
    // Tenure client detects, and which a human using `nats req` can read).
    const json = raw.bytes.length > maxPayloadBytes ? isJsonPayload(raw.bytes, raw.contentType) : true;
    const e = err instanceof TenureError ? err : invalid('payload', String(err));
    log.debug({ subject: raw.subject, size: raw.bytes.length, err: e.message }, 'rejected undecodable request');
    done(errorReply(e, json));
    return;
  }

  // The callbacks here keep only what the reply needs (`subject`, `json`), never `raw` or `req`:
  // a request's decoded payload (a batch's ops) would otherwise stay on the heap until the reply,
  // surviving collection after collection while its commands are in flight.
  const json = req.json;
  let settled = false;
  const ok = (value: unknown): void => {
    if (settled) return;
    settled = true;
    if (value !== undefined && (value === null || typeof value !== 'object')) {
      log.error({ subject, type: value === null ? 'null' : typeof value }, 'handler returned a non-object reply');
      done(errorReply(new TenureError('Internal', 'handler returned a non-object reply'), json));
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = encode(value, json);
    } catch (err) {
      log.error({ subject, err }, 'cannot encode reply');
      done(errorReply(new TenureError('Internal', 'cannot encode reply'), json));
      return;
    }
    done({ bytes, json });
  };
  const fail = (err: unknown): void => {
    if (settled) return;
    settled = true;
    if (err instanceof TenureError) {
      log.debug({ subject, code: err.code, msg: err.message }, 'request failed');
      done(errorReply(err, json));
    } else {
      log.error({ subject, err }, 'handler failed');
      const message = err instanceof Error ? err.message : String(err);
      done(errorReply(new TenureError('Internal', message), json));
    }
  };

  let result: unknown;
  try {
    result = handler(req);
  } catch (err) {
    fail(err);
    return;
  }
  if (isThenable(result)) result.then(ok, fail);
  else ok(result);
}

export function errorReply(err: TenureError, json: boolean): RawReply {
  return { bytes: encodeError(err, json), json, errorCode: err.code };
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as PromiseLike<unknown>).then === 'function';
}
