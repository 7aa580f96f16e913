import { afterEach, expect, it } from 'vitest';
import { createActor, setup } from 'xstate';
import type { Bus } from '../../bus/types.ts';
import { inspectable, inspectableCount, inspectionAttached, publishInspection } from '../../actors/inspection.ts';

/** Inspection observes actors only while it is on: an attached observer costs XState work on every step. */
const toggle = setup({}).createMachine({ id: 'toggle', initial: 'off', states: { off: { on: { FLIP: 'on' } }, on: { on: { FLIP: 'off' } } } });

function fakeBus() {
  const sent: { subject: string; payload: any }[] = [];
  return { bus: { publish: (subject: string, payload: unknown) => void sent.push({ subject, payload }) } as unknown as Bus, sent };
}
const tick = () => new Promise((r) => setTimeout(r, 30));
let stop: (() => void) | null = null;
afterEach(() => {
  stop?.();
  stop = null;
});

it('attaches nothing while off, follows every registered actor while on, and lets go when stopped', async () => {
  const a = inspectable(createActor(toggle)).start();
  a.send({ type: 'FLIP' });
  expect(inspectionAttached()).toBe(0);

  const { bus, sent } = fakeBus();
  stop = publishInspection(bus, 'c1', 'n1', 10);
  expect(inspectionAttached()).toBeGreaterThanOrEqual(1);
  await tick();
  // The state it had before inspection began is there without waiting for a transition.
  const last = () => sent.at(-1)!.payload.machines.find((m: { machine: string }) => m.machine === 'toggle');
  expect(sent[0].subject).toBe('tenure.v1.c1.inspect.n1');
  expect(last().value).toBe('on');
  expect(last().tree).toEqual({ off: {}, on: {} });

  a.send({ type: 'FLIP' });
  await tick();
  expect(last().value).toBe('off');

  // An actor registered while inspection is on is followed from the start.
  const b = inspectable(createActor(toggle, { id: 'second' })).start();
  expect(inspectionAttached()).toBeGreaterThanOrEqual(2);
  b.stop();

  stop();
  stop = null;
  expect(inspectionAttached()).toBe(0);
  const n = sent.length;
  a.send({ type: 'FLIP' });
  await tick();
  expect(sent.length).toBe(n);
  expect(inspectableCount()).toBeGreaterThanOrEqual(2);
  a.stop();
});
