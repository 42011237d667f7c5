// One actuator per controller (memory, cpu, io, freeze, XDP, quarantine),
// the way oomd's plugins are: each knows what it writes at which level,
// journals it before writing, and puts back its own journal entries. The
// responder (src/respond/responder.ts) only chooses targets and levels and
// calls every actuator of src/respond/actuators/index.ts in list order.
// Adding one: a new file in src/respond/actuators/ and one entry in that list
// (docs/response.md § Actuators).
import type { HosaConfig } from "../config.ts";
import type { Decision, Level } from "../engine/types.ts";
import type { CgroupUsage } from "../sense/types.ts";
import { type CgroupFs, createCgroupFs } from "../kernel/cgroupfs.ts";
import { type CgroupLayout, detectCgroupLayout } from "../kernel/cgroups.ts";
import { CgroupValues } from "./cgroup-values.ts";
import { Journal, type OpenChange } from "./journal.ts";
import type { QuarantineDeps } from "./quarantine.ts";
import type { SafelistContext, Target } from "./targets.ts";
import type { ActionRecord } from "./types.ts";

/** The XDP engineer's control (src/respond/xdp.ts), by shape: the actuator never needs more. */
export interface XdpControl {
  mode(): "native" | "generic";
  set(policy: "off" | "shed-new" | "block-all" | "isolate" | "rate-new"): void;
  close(): void;
}
export type OpenXdp = (ifname: string, opts: { healthcheck: string[]; management: string[] }) => XdpControl;

/** What every actuator of one responder (or one recovery) shares. */
export interface ActuatorContext {
  cfg: HosaConfig;
  /** respond.mode = "act": decided here, once; detection-only actuators say what they would do. */
  act: boolean;
  fs: CgroupFs;
  layout: CgroupLayout;
  procRoot: string;
  journal: Journal;
  kill: (pid: number, signal: NodeJS.Signals) => void;
  safelist: SafelistContext;
  /** The cgroup files hosa holds, journaled, stepped back on the way down. */
  values: CgroupValues;
  openXdp?: OpenXdp;
  /** src/respond/xdp.ts detachXdp: detach whatever is on the interface (crash recovery). */
  detachXdp?: (ifname: string) => boolean;
  /** Quarantine environment, snapshot and Kubernetes hooks; see quarantine.ts. */
  quarantine: Partial<QuarantineDeps>;
  /** A new action id (`a<ms>-<n>`), one sequence per responder. */
  newId(t: number): string;
  rec(t: number, level: number, kind: ActionRecord["kind"], target: string, action: string, outcome: string): ActionRecord;
  /** Whether any id was handed out (the journal is compacted only after actions). */
  used(): boolean;
  /** The XDP policy in force, for the quarantine state; the XDP actuator sets it. */
  xdpPolicy(): string;
}

/** One decision, as the responder hands it to the actuators. */
export interface Step {
  out: ActionRecord[];
  t: number;
  /** The level after the danger gate, and the one before this decision. */
  level: Level;
  previous: Level;
  /** Everyone contained in this episode. */
  targets: Target[];
  /** A target joined at the same level (no level change). */
  retry: boolean;
  /** Recent decisions and the cgroups' usage, for the quarantine snapshot. */
  decisions: Decision[];
  cgroups: CgroupUsage[];
  /** Why this target may not be frozen now (null: it may); set by the danger gate, null without danger. */
  freezeVeto: ((target: Target) => string | null) | null;
}

/** What putting one journaled change back came to; `over` false keeps it open for the next try. */
export interface Restored {
  action: string;
  outcome: string;
  over: boolean;
}

export interface Actuator {
  readonly name: string;
  /** The level rose or a target joined: contain this target at `level` (2..4). */
  contain?(step: Step, target: Target): void;
  /** After every target was contained: node-wide actions for the level. */
  escalate?(step: Step): void;
  /** The level went down (before cgroup values start relaxing). */
  descend?(step: Step): void;
  /** Every decision, last: whatever is due by time. */
  tick?(step: Step): void;
  /** A step of tick() is pending (a timer set): the responder's calm path must still call tick(). Absent: always pending. */
  due?(): boolean;
  /** Put back one journaled change if it is this actuator's, else null. */
  restore?(change: OpenChange, t: number): Restored | null;
  /** Still holds something outside the cgroup values (an XDP program, a quarantine). */
  holds?(): boolean;
  /** What is in force outside the cgroup values. */
  inForce?(): ActionRecord[];
  /** Forget everything held: `released` by another process (let go of live handles too), or put back by restoreAll. */
  forget?(released: boolean): void;
}

export type ActuatorFactory = (ctx: ActuatorContext) => Actuator;

export interface ContextDeps {
  fs?: CgroupFs;
  procRoot?: string;
  selfPid?: number;
  journal?: Journal;
  kill?: (pid: number, signal: NodeJS.Signals) => void;
  openXdp?: OpenXdp;
  detachXdp?: (ifname: string) => boolean;
  quarantine?: Partial<QuarantineDeps>;
}

export function journalPath(cfg: HosaConfig): string {
  return `${cfg.paths.stateDir}/actions.journal`;
}

export function createActuatorContext(cfg: HosaConfig, deps: ContextDeps = {}): ActuatorContext {
  const fs = deps.fs ?? createCgroupFs(cfg.sense.cgroupRoot);
  const procRoot = deps.procRoot ?? cfg.sense.procRoot;
  const layout = detectCgroupLayout(fs.root);
  const act = cfg.respond.mode === "act";
  const journal = deps.journal ?? Journal.open(journalPath(cfg));
  let seq = 0;
  const newId = (t: number) => `a${Math.round(t * 1000)}-${++seq}`;
  const safelist: SafelistContext = {
    fs,
    layout,
    procRoot,
    selfPid: deps.selfPid ?? process.pid,
    safelist: cfg.respond.safelist,
    scope: cfg.respond.cgroupScope,
  };
  const rec = (t: number, level: number, kind: ActionRecord["kind"], target: string, action: string, outcome: string): ActionRecord => ({
    id: newId(t),
    t,
    level,
    kind,
    target,
    action,
    outcome,
  });
  return {
    cfg,
    act,
    fs,
    layout,
    procRoot,
    journal,
    kill: deps.kill ?? ((pid: number, sig: NodeJS.Signals) => process.kill(pid, sig)),
    safelist,
    values: new CgroupValues({ fs, layout, act, journal, relaxS: cfg.respond.relaxS, safelist, newId, rec }),
    openXdp: deps.openXdp,
    detachXdp: deps.detachXdp,
    quarantine: deps.quarantine ?? {},
    newId,
    rec,
    used: () => seq > 0,
    xdpPolicy: () => "off",
  };
}
