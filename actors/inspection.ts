import type { AnyActorLogic, InspectionEvent } from 'xstate';
import type { Bus } from '../bus/types.ts';
import { subjects } from '../bus/subjects.ts';

/**
 * Live statechart inspection (`tenure inspect` shows it in a browser). Every actor is created with
 * `inspect` as its XState inspection hook; it costs one map write per transition and does nothing
 * until a process turns inspection on. A node process then publishes the latest state of each of
 * its machines on `tenure.v1.<cluster>.inspect.<node>` a few times a second — latest value only, so
 * a slow or absent viewer never holds anything up.
 */
export interface MachineState {
  machine: string;
  value: unknown;
  status: string;
  /** Names of the machine's states, nested: what the viewer draws. */
  tree: StateTree;
}

export interface StateTree {
  [state: string]: StateTree;
}

let latest: Map<string, MachineState> | null = null;
let changed = new Set<string>();

/** The XState `inspect` option every actor in Tenure is created with. */
export function inspect(e: InspectionEvent): void {
  if (latest === null || e.type !== '@xstate.snapshot') return;
  const logic = (e.actorRef as unknown as { logic: AnyActorLogic & { root?: unknown; id?: string } }).logic;
  if (!logic.root || !logic.id) return; // promise and callback actors have no statechart
  const snap = e.snapshot as { value?: unknown; status?: string };
  const prev = latest.get(logic.id);
  latest.set(logic.id, { machine: logic.id, value: snap.value, status: snap.status ?? 'active', tree: prev?.tree ?? stateTree(logic.root) });
  changed.add(logic.id);
}

export function stateTree(node: unknown): StateTree {
  const out: StateTree = {};
  const states = (node as { states?: Record<string, unknown> }).states ?? {};
  for (const [name, child] of Object.entries(states)) out[name] = stateTree(child);
  return out;
}

/** Starts publishing this process's machine states; returns a stop function. */
export function publishInspection(bus: Bus, cluster: string, nodeId: string, intervalMs = 200): () => void {
  latest = new Map();
  changed = new Set();
  const subject = `${subjects(cluster).prefix}.inspect.${nodeId}`;
  let ticks = 0;
  const timer = setInterval(() => {
    // Changed machines every tick; everything once a second so a viewer that just opened catches up.
    const all = ++ticks % Math.max(1, Math.round(1000 / intervalMs)) === 0;
    const machines = [...latest!.values()].filter((m) => all || changed.has(m.machine));
    changed.clear();
    if (machines.length) bus.publish(subject, { node: nodeId, at: Date.now(), machines }, { json: true });
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    latest = null;
  };
}
