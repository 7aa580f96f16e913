/**
 * A stand-in for nats.js's protocol handler (bus/nats-frame.ts `FrameProtocol`) that records, as
 * bytes, what reaches `sendCommand`: for comparing the frame paths with nats.js's own publish.
 */
import type { NatsConnection } from '@nats-io/transport-node';

export function frameRecorder(info: { headers: boolean; max_payload: number }) {
  const sent: Buffer[] = [];
  const fake = {
    info,
    noMorePublishing: false,
    outBytes: 0,
    outMsgs: 0,
    /** `sendCommand` calls (a run of messages is one). */
    calls: 0,
    sendCommand(cmd: Uint8Array | string, ...payloads: Uint8Array[]) {
      this.calls++;
      const parts = [typeof cmd === 'string' ? new TextEncoder().encode(cmd) : cmd, ...payloads];
      sent.push(Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))));
    },
  };
  return { fake, sent };
}

/** nats.js's publish as its protocol handler has it, to call on a recorder. */
export type NatsPublish = (this: unknown, subject: string, data: Uint8Array, options?: { headers?: unknown }) => void;

/** A connection that is open, for the frame paths' checks. */
export const openConnection = { isClosed: () => false } as unknown as NatsConnection;
