import type { StateMachine } from '../../actors/raft-node.ts';

const dec = new TextDecoder();
const enc = new TextEncoder();

/**
 * The simulator's state machine: it records every applied command with its Raft index, so the
 * checker can compare applied sequences across nodes. Snapshots carry the whole history.
 */
export class RecordingStateMachine implements StateMachine {
  applied: string[] = [];
  lastIndex = 0;

  apply(index: number, commands: Uint8Array[]): unknown[] {
    if (index <= this.lastIndex) throw new Error(`applied index ${index} after ${this.lastIndex}`);
    this.lastIndex = index;
    return commands.map((c) => {
      this.applied.push(dec.decode(c));
      return this.applied.length;
    });
  }

  /** Fixed at the call, as the contract asks: the node reads the chunks over later turns. */
  snapshot(): Iterable<Uint8Array> {
    return [enc.encode(JSON.stringify({ lastIndex: this.lastIndex, applied: this.applied }))];
  }

  async restore(chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const parts: Uint8Array[] = [];
    for await (const c of chunks) parts.push(c);
    const s = JSON.parse(dec.decode(Buffer.concat(parts))) as { lastIndex: number; applied: string[] };
    this.applied = s.applied;
    this.lastIndex = s.lastIndex;
  }
}
