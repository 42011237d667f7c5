// The executor (docs/cortex.md §durable execution). Every step is recorded
// as started, atomically, before it touches the node, and as done after; so
// after a kill -9 at any point the next start knows exactly where it stopped:
// a done step is never run again, a started cgroup write is checked (the
// value is there: done; it is not: the write never happened and is made), and
// a started signal or command, whose effect cannot be checked, is never run
// again: the plan is rolled back instead. Everything it did is in `events`.
import { existsSync, readFileSync } from "node:fs";
import { type CgroupFs, hierarchyDir, normalizeValue, readPids } from "../kernel/cgroupfs.ts";
import { type CgroupLayout } from "../kernel/cgroups.ts";
import { CG, type V1Controller } from "../kernel/files.ts";
import { cgroupOfPid, commOf, startTimeOf } from "../kernel/proc.ts";
import { norm, safelistReason, type SafelistContext } from "../respond/targets.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { describeStep, idempotencyKey, type PlannedStep } from "./gate.ts";
import type { Playbook, PlaybookStep } from "./playbook.ts";

export const EXECUTION_SCHEMA = "hosa.cortex.execution/v1";

export type StepStatus = "pending" | "started" | "done" | "failed" | "skipped" | "unknown" | "rolled_back";

export interface StepState {
  id: string;
  kind: string;
  idempotency_key: string;
  status: StepStatus;
  /** cgroup_set: directory relative to the cgroupfs root, file, value before, value written. */
  dir?: string;
  file?: string;
  prev?: string;
  value?: string;
  /** signal: the processes signalled, with their start time so a reused PID is never confused. */
  pids?: { pid: number; startTime: string }[];
  note?: string;
  started_at?: string;
  done_at?: string;
}

export interface ExecutionState {
  schema: typeof EXECUTION_SCHEMA;
  incident_id: string;
  playbook: string;
  cgroup: string;
  status: "running" | "completed" | "rolling_back" | "rolled_back" | "failed" | "precheck_failed";
  /** Starts of the executor on this plan: more than 1 means it resumed after a stop or crash. */
  runs: number;
  steps: StepState[];
  rollback_command?: "pending" | "started" | "done" | "failed" | "unknown";
  events: { at: string; what: string }[];
}

export interface ExecutorContext {
  fs: CgroupFs;
  layout: CgroupLayout;
  procRoot: string;
  safelist: SafelistContext;
  commandAllowlist: string[];
  /** Wall time for the records. */
  now: () => string;
}

const V1_HIERARCHY: Record<string, string> = { memory: "memory", cpu: "cpu", pids: "pids", io: "blkio", blkio: "blkio", freezer: "freezer", cgroup: "freezer" };

/**
 * The file a step writes on this layout and the directory (relative to the
 * cgroupfs root) holding it. The cgroup named by the log is a path of the
 * attribution hierarchy (memory on v1); on v1 every other controller is its
 * own tree, so its directory is the one the cgroup's processes are in there
 * (as src/respond/responder.ts does), and only when they all share one.
 */
export function stepTarget(step: PlaybookStep, cgroup: string, ctx: Pick<ExecutorContext, "fs" | "layout" | "procRoot">): { dir: string; file: string } | { refused: string } {
  const file = ctx.layout.memoryHierarchy === "memory-v1" ? step.v1File ?? step.file! : step.file!;
  const p = norm(cgroup).slice(1);
  if (ctx.layout.memoryHierarchy === "v2") return { dir: p, file };
  const h = V1_HIERARCHY[file.split(".")[0]!];
  if (!h) return { refused: `no v1 hierarchy for ${file}` };
  if (h === "memory") return { dir: hierarchyDir(ctx.layout, "memory", p), file };
  const paths = new Set<string>();
  for (const pid of readPids(ctx.fs, hierarchyDir(ctx.layout, "memory", p))) {
    const c = cgroupOfPid(ctx.procRoot, pid, ctx.layout, h as V1Controller);
    if (c) paths.add(c);
  }
  if (paths.size !== 1) return { refused: paths.size === 0 ? `no process of ${cgroup} to find its ${h} cgroup by` : `the processes of ${cgroup} are in ${paths.size} ${h} cgroups` };
  const only = [...paths][0]!;
  if (only === "/") return { refused: `the processes of ${cgroup} are in the root ${h} cgroup` };
  return { dir: hierarchyDir(ctx.layout, h as V1Controller, only), file };
}

/** `usage*F`: the cgroup's memory usage times F, rounded up to a page; else the literal. */
export function resolveValue(value: string, cgroup: string, ctx: Pick<ExecutorContext, "fs" | "layout">): string {
  const m = /^usage\*(\d+(?:\.\d+)?)$/.exec(value);
  if (!m) return value;
  const p = norm(cgroup).slice(1);
  const text = ctx.fs.read(hierarchyDir(ctx.layout, "memory", p), ctx.layout.memoryHierarchy === "v2" ? CG.memoryCurrent : CG.memoryUsage);
  const usage = Number.parseInt(text ?? "", 10);
  if (!Number.isFinite(usage)) throw new Error(`cannot read the memory usage of ${cgroup}`);
  return String(Math.ceil((usage * Number(m[1])) / 4096) * 4096);
}

export function readExecutionState(path: string): ExecutionState | null {
  if (!existsSync(path)) return null;
  const s = JSON.parse(readFileSync(path, "utf8")) as ExecutionState;
  if (s.schema !== EXECUTION_SCHEMA) throw new Error(`${path}: not an execution state (${String(s.schema)})`);
  return s;
}

function save(path: string, s: ExecutionState): void {
  writeFileAtomic(path, `${JSON.stringify(s, null, 1)}\n`);
}

export function newExecutionState(incidentId: string, pb: Playbook, cgroup: string, planned: PlannedStep[]): ExecutionState {
  return {
    schema: EXECUTION_SCHEMA,
    incident_id: incidentId,
    playbook: `${pb.name}@${pb.version}`,
    cgroup,
    status: "running",
    runs: 0,
    steps: planned.map((p) => ({ id: p.id, kind: p.kind, idempotency_key: p.idempotency_key, status: "pending" })),
    events: [],
  };
}

/**
 * Run (or resume) a plan recorded at `statePath`. Returns the final state:
 * completed, rolled back, or failed (a rollback that could not finish).
 */
export function executePlan(statePath: string, pb: Playbook, cgroup: string, planned: PlannedStep[], incidentId: string, ctx: ExecutorContext): ExecutionState {
  let s = readExecutionState(statePath);
  if (!s) s = newExecutionState(incidentId, pb, cgroup, planned);
  if (s.status === "completed" || s.status === "rolled_back" || s.status === "failed" || s.status === "precheck_failed") return s;
  const event = (what: string) => s!.events.push({ at: ctx.now(), what });
  s.runs++;
  event(s.runs === 1 ? `executor starts ${s.playbook} on ${cgroup}` : `executor resumes after a stop (start ${s.runs})`);
  save(statePath, s);
  if (s.status === "rolling_back") return rollbackPlan(statePath, s, pb, ctx, "resuming the rollback");
  // The playbook was edited between the stop and this start: what is left of
  // the plan is not what was approved. Nothing new runs; what was done is undone.
  const changed = planChange(s, planned, pb, cgroup, incidentId);
  if (changed) return rollbackPlan(statePath, s, pb, ctx, `the plan changed since it started (${changed}); not continued`);
  if (s.steps.every((x) => x.status === "pending")) {
    const why = precheckFailure(pb, cgroup, ctx);
    if (why) {
      s.status = "precheck_failed";
      event(`pre-check failed: ${why}; nothing done`);
      save(statePath, s);
      return s;
    }
  }
  for (let i = 0; i < pb.steps.length; i++) {
    const step = pb.steps[i]!;
    const st = s.steps[i]!;
    if (st.status === "done" || st.status === "skipped") continue;
    if (st.status === "started") {
      if (step.kind === "cgroup_set" && st.dir && st.file && st.value !== undefined) {
        const cur = normalizeValue(st.file, ctx.fs.read(st.dir, st.file));
        if (cur === normalizeValue(st.file, st.value)) {
          st.status = "done";
          st.done_at = ctx.now();
          st.note = "the write had taken effect before the stop";
          event(`step ${st.id}: found done after the stop (${st.file} = ${st.value}), not repeated`);
          save(statePath, s);
          continue;
        }
        event(`step ${st.id}: the write had not taken effect before the stop (${st.file} = ${cur ?? "unreadable"}); making it now`);
        st.status = "pending";
      } else {
        st.status = "unknown";
        st.note = "interrupted; its effect cannot be checked, so it is never run again";
        event(`step ${st.id} (${st.kind}) was interrupted; not repeated: rolling back`);
        save(statePath, s);
        return rollbackPlan(statePath, s, pb, ctx, `step ${st.id} interrupted`);
      }
    }
    const why = safelistReason(cgroup, ctx.safelist, step.kind === "cgroup_set" ? undefined : "memory");
    if (why) {
      st.status = "failed";
      st.note = `refused: ${why}`;
      event(`step ${st.id} refused: ${why}`);
      save(statePath, s);
      return rollbackPlan(statePath, s, pb, ctx, `step ${st.id} refused`);
    }
    try {
      runStep(step, st, cgroup, ctx, () => save(statePath, s!));
      event(`step ${st.id} done: ${describeDone(st)}`);
      save(statePath, s);
      crashPoint(st.id, "done");
    } catch (e) {
      st.status = "failed";
      st.note = String((e as Error).message ?? e).split("\n")[0];
      event(`step ${st.id} failed: ${st.note}`);
      save(statePath, s);
      return rollbackPlan(statePath, s, pb, ctx, `step ${st.id} failed`);
    }
  }
  s.status = "completed";
  event("plan completed");
  save(statePath, s);
  return s;
}

/** The pre-checks only the live node can answer. */
function precheckFailure(pb: Playbook, cgroup: string, ctx: ExecutorContext): string | null {
  for (const p of pb.prechecks) {
    if (p.kind !== "cgroup_exists") continue;
    const rel = norm(cgroup).slice(1);
    const dir = hierarchyDir(ctx.layout, "memory", rel);
    if (ctx.fs.read(dir, CG.procs) === undefined) return `${cgroup} does not exist`;
  }
  return null;
}

/**
 * Fault injection for the crash tests: HOSA_CORTEX_CRASH=<step id>:<point>
 * ends this process with SIGKILL at that point ("started": recorded as
 * started, nothing done yet; "done": recorded as done), exactly as a kill -9
 * from outside would, only at a moment a test can choose.
 */
function crashPoint(stepId: string, point: "started" | "done"): void {
  if (process.env.HOSA_CORTEX_CRASH === `${stepId}:${point}`) process.kill(process.pid, "SIGKILL");
}

function describeDone(st: StepState): string {
  if (st.kind === "cgroup_set") return `${st.dir}/${st.file} ${st.prev ?? "?"} → ${st.value}`;
  if (st.kind === "signal") return `${st.pids?.length ?? 0} process(es) signalled`;
  return st.note ?? "command ran";
}

/** One step: record what it will do (status started), do it, record it done. `persist` writes the state. */
function runStep(step: PlaybookStep, st: StepState, cgroup: string, ctx: ExecutorContext, persist: () => void): void {
  if (step.kind === "cgroup_set") {
    const t = stepTarget(step, cgroup, ctx);
    if ("refused" in t) throw new Error(t.refused);
    const prev = ctx.fs.read(t.dir, t.file);
    if (prev === undefined) throw new Error(`${t.dir}/${t.file} cannot be read (no such cgroup or controller)`);
    const value = resolveValue(step.value!, cgroup, ctx);
    Object.assign(st, { dir: t.dir, file: t.file, prev: prev.trim(), value, status: "started", started_at: ctx.now() });
    persist();
    crashPoint(st.id, "started");
    ctx.fs.write(t.dir, t.file, value);
  } else if (step.kind === "signal") {
    const dir = ctx.layout.memoryHierarchy === "v2" ? norm(cgroup).slice(1) : `memory${norm(cgroup) === "/" ? "" : norm(cgroup)}`;
    const pids = readPids(ctx.fs, dir).filter((pid) => commOf(ctx.procRoot, pid) === step.service);
    st.pids = pids.map((pid) => ({ pid, startTime: startTimeOf(ctx.procRoot, pid) ?? "" }));
    Object.assign(st, { status: "started", started_at: ctx.now() });
    persist();
    crashPoint(st.id, "started");
    for (const p of st.pids) {
      if (startTimeOf(ctx.procRoot, p.pid) !== p.startTime) continue;
      process.kill(p.pid, step.signal as NodeJS.Signals);
    }
    if (pids.length === 0) st.note = `no process named ${step.service} in ${cgroup}`;
  } else {
    if (!ctx.commandAllowlist.includes(step.argv![0]!)) throw new Error(`${step.argv![0]} is not in [cortex] command_allowlist`);
    Object.assign(st, { status: "started", started_at: ctx.now() });
    persist();
    crashPoint(st.id, "started");
    const r = Bun.spawnSync(step.argv!, { env: { ...process.env, HOSA_CGROUP: cgroup }, stdin: "ignore", stdout: "ignore", stderr: "pipe", timeout: (step.timeoutS ?? 30) * 1000 });
    if (r.exitCode !== 0) throw new Error(`${step.argv![0]} exited ${r.exitCode ?? r.signalCode}: ${r.stderr.toString().trim().split("\n")[0] ?? ""}`);
    st.note = `${step.argv![0]} exited 0`;
  }
  st.status = "done";
  st.done_at = ctx.now();
}

/**
 * Undo what the plan did, newest first: every cgroup value hosa wrote is put
 * back (when the playbook's rollback restores and nobody changed it since),
 * then the rollback command runs once. Durable like the plan.
 */
/**
 * How the steps to run now (the plan given and the playbook's steps, by id
 * and idempotency key) differ from those recorded when the plan started, or
 * null.
 */
function planChange(s: ExecutionState, planned: PlannedStep[], pb: Playbook, cgroup: string, incidentId: string): string | null {
  const now = pb.steps.map((st, i) => ({ id: st.id, keys: [planned[i]?.idempotency_key, idempotencyKey(incidentId, st.id, cgroup, describeStep(st, cgroup))] }));
  if (s.steps.length !== now.length || planned.length !== now.length) return `${s.steps.length} steps then, ${now.length} now`;
  for (let i = 0; i < now.length; i++) {
    const was = s.steps[i]!;
    if (was.id !== now[i]!.id) return `step ${i + 1} was ${was.id}, now ${now[i]!.id}`;
    if (now[i]!.keys.some((k) => k !== was.idempotency_key)) return `step ${was.id} changed`;
  }
  return null;
}

export function rollbackPlan(statePath: string, s: ExecutionState, pb: Playbook, ctx: ExecutorContext, why: string): ExecutionState {
  const event = (what: string) => s.events.push({ at: ctx.now(), what });
  if (s.status !== "rolling_back") {
    s.status = "rolling_back";
    event(`rollback: ${why}`);
    save(statePath, s);
  }
  let ok = true;
  if (pb.rollback.restore) {
    for (let i = s.steps.length - 1; i >= 0; i--) {
      const st = s.steps[i]!;
      if (st.kind !== "cgroup_set" || (st.status !== "done" && st.status !== "started") || !st.dir || !st.file || st.prev === undefined) continue;
      const cur = normalizeValue(st.file, ctx.fs.read(st.dir, st.file));
      if (cur !== normalizeValue(st.file, st.value ?? "")) {
        st.status = "rolled_back";
        st.note = cur === undefined ? "cgroup gone; nothing to restore" : `left alone: changed since (now ${cur})`;
        event(`step ${st.id}: ${st.note}`);
        save(statePath, s);
        continue;
      }
      try {
        ctx.fs.write(st.dir, st.file, st.prev);
        st.status = "rolled_back";
        event(`step ${st.id} rolled back: ${st.dir}/${st.file} → ${st.prev}`);
      } catch (e) {
        ok = false;
        event(`step ${st.id}: cannot restore ${st.dir}/${st.file}: ${String((e as Error).message ?? e).split("\n")[0]}`);
      }
      save(statePath, s);
    }
  }
  if (pb.rollback.argv && s.rollback_command !== "done" && s.rollback_command !== "failed" && s.rollback_command !== "unknown") {
    if (s.rollback_command === "started") {
      s.rollback_command = "unknown";
      event("rollback command was interrupted; not repeated");
    } else if (!ctx.commandAllowlist.includes(pb.rollback.argv[0]!)) {
      s.rollback_command = "failed";
      ok = false;
      event(`rollback command ${pb.rollback.argv[0]} is not in [cortex] command_allowlist`);
    } else {
      s.rollback_command = "started";
      save(statePath, s);
      const r = Bun.spawnSync(pb.rollback.argv, { env: { ...process.env, HOSA_CGROUP: s.cgroup }, stdin: "ignore", stdout: "ignore", stderr: "ignore", timeout: 60_000 });
      s.rollback_command = r.exitCode === 0 ? "done" : "failed";
      if (r.exitCode !== 0) ok = false;
      event(`rollback command exited ${r.exitCode ?? r.signalCode}`);
    }
  }
  s.status = ok ? "rolled_back" : "failed";
  event(ok ? "plan rolled back" : "rollback incomplete");
  save(statePath, s);
  return s;
}
