import { describe, expect, it } from 'vitest';
import { ProposalBatcher } from '../../actors/proposal-batcher.ts';
import { decodeCommandBatch, encodeCommandBatch } from '../../machines/raft/command-batch.ts';
import { TenureError } from '../../errors/errors.ts';

const cmd = (n: number) => Uint8Array.of(n);
const flushed = () => new Promise<void>((r) => queueMicrotask(r));

/** A batcher over a fake log: records the entries appended, applies each as "result = byte + 100". */
function harness(limits = { maxQueuedCommands: 100, maxCommandsPerEntry: 3, maxBytesPerEntry: 1024 }) {
  const log: Uint8Array[] = [];
  let failAppend: Error | null = null;
  const batcher = new ProposalBatcher(limits, (entries) => {
    if (failAppend) throw failAppend;
    const index = log.length + 1;
    log.push(...entries);
    return { index, term: 1 };
  });
  const answers: string[] = [];
  const at = (tag: string) => (slot: number, err: Error | null, result?: unknown) => answers.push(err ? `${tag}${slot}:${(err as TenureError).code ?? err.message}` : `${tag}${slot}=${String(result)}`);
  /** A single command's settle, answering as slot `slot` of `tag`. */
  const one = (tag: string, slot: number) => (err: Error | null, result?: unknown) => at(tag)(slot, err, result);
  const applyAll = (term = 1) => log.forEach((e, i) => batcher.applied(i + 1, term, decodeCommandBatch(e).map((c) => c[0] + 100), () => new Error('replaced')));
  return { log, batcher, answers, at, one, applyAll, failAppend: (e: Error) => (failAppend = e) };
}

describe('ProposalBatcher: written entries alongside single commands', () => {
  it('a written entry goes into the log as it is, between the singles proposed before and after it, each command answered by its slot', async () => {
    const h = harness();
    h.batcher.enqueueWith(cmd(1), h.one('s', 0));
    h.batcher.enqueueWith(cmd(2), h.one('s', 1));
    const written = encodeCommandBatch([cmd(10), cmd(11), cmd(12), cmd(13)]); // more than maxCommandsPerEntry: left as written
    h.batcher.enqueueEntryAt(written, 4, h.at('w'));
    h.batcher.enqueueWith(cmd(3), h.one('s', 2));
    expect(h.batcher.queued).toBe(7);
    await flushed();
    expect(h.batcher.queued).toBe(0);
    expect(h.log.map((e) => decodeCommandBatch(e).map((c) => c[0]))).toEqual([[1, 2], [10, 11, 12, 13], [3]]);
    expect(h.log[1]).toBe(written);
    expect(h.batcher.inFlight).toBe(3);
    h.applyAll();
    expect(h.answers).toEqual(['s0=101', 's1=102', 'w0=110', 'w1=111', 'w2=112', 'w3=113', 's2=103']);
    expect(h.batcher.inFlight).toBe(0);
  });

  it('an entry lost with leadership, a failed append and failAll answer every command of a written entry', async () => {
    const h = harness();
    h.batcher.enqueueEntryAt(encodeCommandBatch([cmd(1), cmd(2)]), 2, h.at('a'));
    await flushed();
    h.applyAll(2); // another term's entry at that index: replaced
    h.batcher.enqueueEntryAt(encodeCommandBatch([cmd(3)]), 1, h.at('b'));
    await flushed();
    h.batcher.enqueueEntryAt(encodeCommandBatch([cmd(4), cmd(5)]), 2, h.at('c'));
    h.batcher.failAll(new TenureError('NotLeader', 'gone'));
    h.failAppend(new Error('log closed'));
    h.batcher.enqueueEntryAt(encodeCommandBatch([cmd(6), cmd(7)]), 2, h.at('d'));
    await flushed();
    expect(h.answers).toEqual(['a0:replaced', 'a1:replaced', 'b0:NotLeader', 'c0:NotLeader', 'c1:NotLeader', 'd0:log closed', 'd1:log closed']);
  });

  it('counts a written entry by its commands against the queue bound, and refuses it whole with Overloaded', async () => {
    const h = harness({ maxQueuedCommands: 4, maxCommandsPerEntry: 8, maxBytesPerEntry: 1024 });
    h.batcher.enqueueWith(cmd(1), h.one('s', 0));
    h.batcher.enqueueEntryAt(encodeCommandBatch([cmd(2), cmd(3), cmd(4), cmd(5)]), 4, h.at('w'));
    expect(h.answers).toEqual(['w0:Overloaded', 'w1:Overloaded', 'w2:Overloaded', 'w3:Overloaded']);
    h.batcher.enqueueEntryAt(encodeCommandBatch([cmd(2), cmd(3), cmd(4)]), 3, h.at('v'));
    expect(h.batcher.queued).toBe(4);
    expect(() => h.batcher.enqueueEntryAt(new Uint8Array(4), 0, h.at('x'))).toThrow(RangeError);
    await flushed();
    expect(h.log).toHaveLength(2);
  });
});

describe('ProposalBatcher: a lead command', () => {
  it('goes first in what a flush writes, sharing the first group of singles or standing before a written entry, outside the bound', async () => {
    const h = harness({ maxQueuedCommands: 2, maxCommandsPerEntry: 3, maxBytesPerEntry: 1024 });
    let leads = 0;
    h.batcher.lead = () => (++leads === 1 ? { command: cmd(50), settle: h.one('L', 0) } : { command: cmd(60), settle: h.one('M', 0) });
    h.batcher.enqueueWith(cmd(1), h.one('s', 0));
    h.batcher.enqueueWith(cmd(2), h.one('s', 1));
    await flushed();
    expect(h.log.map((e) => decodeCommandBatch(e).map((c) => c[0]))).toEqual([[50, 1, 2]]);
    h.batcher.enqueueEntryAt(encodeCommandBatch([cmd(10), cmd(11)]), 2, h.at('w'));
    await flushed();
    expect(h.log.map((e) => decodeCommandBatch(e).map((c) => c[0]))).toEqual([[50, 1, 2], [60], [10, 11]]);
    h.applyAll();
    expect(h.answers).toEqual(['L0=150', 's0=101', 's1=102', 'M0=160', 'w0=110', 'w1=111']);
    expect(leads).toBe(2); // asked once per flush, and only when there was something to flush
  });
});
