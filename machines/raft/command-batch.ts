/**
 * A Raft command entry carries many client commands (coalesced per event-loop turn). Layout:
 * u32 count, then per command u32 length + bytes. Length-checked on decode.
 */
export function encodeCommandBatch(commands: Uint8Array[]): Uint8Array {
  let bytes = 0;
  for (const c of commands) bytes += c.byteLength;
  return writeCommandBatch(commands.length, bytes, (out, _view, at, i) => {
    out.set(commands[i], at);
    return at + commands[i].byteLength;
  });
}

export function decodeCommandBatch(data: Uint8Array): Uint8Array[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.byteLength < 4) throw new Error('command batch: too short');
  const count = view.getUint32(0);
  const out: Uint8Array[] = new Array(count);
  let at = 4;
  for (let i = 0; i < count; i++) {
    if (at + 4 > data.byteLength) throw new Error('command batch: truncated length');
    const len = view.getUint32(at);
    if (at + 4 + len > data.byteLength) throw new Error('command batch: truncated command');
    out[i] = data.subarray(at + 4, at + 4 + len);
    at += 4 + len;
  }
  if (at !== data.byteLength) throw new Error('command batch: trailing bytes');
  return out;
}

/** Bytes of a command batch of `count` commands whose own bytes add up to `commandBytes`. */
export function commandBatchBytes(count: number, commandBytes: number): number {
  return 4 + 4 * count + commandBytes;
}

/**
 * Writes a command batch in place, without a buffer per command: `write(out, view, at, i)` writes
 * command `i` at `at` and returns where it ends. `commandBytes` is the exact sum of the commands'
 * sizes; a writer that disagrees is a bug and throws before anything is proposed.
 */
export function writeCommandBatch(count: number, commandBytes: number, write: (out: Uint8Array, view: DataView, at: number, i: number) => number): Uint8Array {
  const out = new Uint8Array(commandBatchBytes(count, commandBytes));
  const view = new DataView(out.buffer);
  view.setUint32(0, count);
  let at = 4;
  for (let i = 0; i < count; i++) {
    const start = at + 4;
    const end = write(out, view, start, i);
    if (end < start || end > out.byteLength) throw new RangeError(`command batch: command ${i} overran its room`);
    view.setUint32(at, end - start);
    at = end;
  }
  if (at !== out.byteLength) throw new RangeError(`command batch: ${out.byteLength - at} bytes left unwritten`);
  return out;
}
