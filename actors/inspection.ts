import type { AnyActorLogic, InspectionEvent } from 'xstate';
import type { Bus } from '../bus/types.ts';
import { subjects } from '../bus/subjects.ts';

/**
 * Live statechart inspection (`tenure inspect` shows it in a browser). Every root actor is
 * registered with `inspectable(actor)`; while a process has inspection on, `inspect` observes each
 * registered actor's system (one map write per transition), and while it is off nothing is
 * attached at all — an attached observer, even one that returns at once, made XState build and
 * spread an inspection event for every event, microstep and action (0.6–1 % of a node's CPU under
 * load). A process with inspection on publishes the latest state of each of its machines on
 * `tenure.v1.<cluster>.inspect.<node>` a few times a second — latest value only, so a slow or
 * absent viewer never holds anything up.
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

/** What inspection needs of a root actor (any XState v5 `Actor`). */
export interface Inspectable {
  readonly system: { inspect(observer: (e: InspectionEvent) => void): { unsubscribe(): void } };
  getSnapshot(): unknown;
}

/**
 * Registered actors, held weakly: a stopped actor that its owner dropped is not kept alive for
 * inspection's sake. Dead references are swept whenever the list has doubled since the last sweep.
 */
let registered: WeakRef<Inspectable>[] = [];
let sweptAt = 64;
/** Observers attached while inspection is on. */
let attached: { unsubscribe(): void }[] = [];

/** Lets inspection follow `actor` (a root actor) whenever this process has it on; returns the actor. */
export function inspectable<A extends Inspectable>(actor: A): A {
  registered.push(new WeakRef(actor));
  if (registered.length >= 2 * sweptAt) {
    registered = registered.filter((r) => r.deref() !== undefined);
    sweptAt = Math.max(64, registered.length);
  }
  if (latest !== null) follow(actor);
  return actor;
}

/** Observes the actor's system from now on, and records its current state (it may not change for a while). */
function follow(actor: Inspectable): void {
  attached.push(actor.system.inspect(inspect));
  inspect({ type: '@xstate.snapshot', actorRef: actor, snapshot: actor.getSnapshot() } as unknown as InspectionEvent);
}

/** Registered actors still alive (for tests). */
export function inspectableCount(): number {
  return registered.filter((r) => r.deref() !== undefined).length;
}

/** How many observers are attached now (for tests: none while inspection is off). */
export function inspectionAttached(): number {
  return attached.length;
}

/** The observer inspection attaches to each registered actor's system while it is on. */
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
  for (const a of attached) a.unsubscribe();
  attached = [];
  latest = new Map();
  changed = new Set();
  for (const r of registered) {
    const actor = r.deref();
    if (actor !== undefined) follow(actor);
  }
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
    for (const a of attached) a.unsubscribe();
    attached = [];
    latest = null;
  };
}
