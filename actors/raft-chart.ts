import type { Actor } from 'xstate';
import { deliver, type raftMachine, type RaftEvent } from '../machines/raft/machine.ts';

/**
 * A Raft node's chart as the node talks to it: `dispatch` hands write-path events to `deliver`
 * (machines/raft/machine.ts), which runs them on the core unless they change the chart, and calls
 * `after` as the chart's observer would; everything else goes through the interpreter.
 *
 * While the observer runs (the interpreter is inside a transition) events are sent instead, so they
 * queue behind the transition as they always did.
 */
export class RaftChart {
  private notifying = false;

  constructor(
    readonly actor: Actor<typeof raftMachine>,
    private readonly after: () => void,
    private readonly fail: (err: Error) => void,
  ) {
    actor.subscribe({
      next: () => {
        this.notifying = true;
        try {
          after();
        } finally {
          this.notifying = false;
        }
      },
      error: (err) => fail(err as Error),
    });
  }

  dispatch(event: RaftEvent): void {
    if (this.notifying) return void this.actor.send(event);
    try {
      if (deliver(this.actor, event)) this.after();
    } catch (err) {
      this.fail(err as Error);
    }
  }
}
