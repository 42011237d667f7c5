// The cortex (docs/cortex.md): after the reflex, reflection. It reads the
// decision log (never the reflex path), turns each episode that rose above
// Level 1 into an incident, and writes its artifact chain: observation →
// anomaly → hypothesis → proposal → plan → execution → verification → report.
// It runs beside the agent from the log: `hosa incident watch` tails it, every
// `hosa incident` command syncs first, and an agent may call onLogEntry().
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { HosaConfig } from "../config.ts";
import { EXIT, HosaError } from "../errors.ts";
import { logFiles, readLogText } from "../report/decision-log.ts";
import { createCgroupFs } from "../kernel/cgroupfs.ts";
import { detectCgroupLayout } from "../kernel/cgroups.ts";
import { inputExists, shownPath } from "../util/input.ts";
import { observe, findAnomaly, hypothesize, type Hypotheses, type Observation, type PastIncident } from "./analyze.ts";
import { asLogEntries, splitEpisodes, type Episode } from "./episodes.ts";
import { executePlan, readExecutionState, rollbackPlan, type ExecutionState, type ExecutorContext } from "./executor.ts";
import { gate, type GateResult } from "./gate.ts";
import { loadPlaybooks, matchPlaybook, type Playbook } from "./playbook.ts";
import { SHIPPED_PLAYBOOKS } from "./shipped.ts";
import { IncidentStore } from "./store.ts";
import type { Artifact, FailureMode, LogEntry } from "./types.ts";
import { verifyEpisode, type Verification } from "./verify.ts";

export interface Proposal {
  playbook: string | null;
  playbook_file: string | null;
  mode: FailureMode | null;
  cgroup: string | null;
  confidence: number;
  description: string;
  steps: string[];
  verification: string;
  rollback: string;
  why: string;
}

export interface Plan extends GateResult {
  playbook: string | null;
  cgroup: string | null;
  /** When the incident opened (its episode reached [cortex] min_level): verification counts from here in dry-run. */
  opened_at: string;
}

export interface ExecutionResult {
  status: string;
  runs: number;
  steps: { id: string; status: string; detail: string }[];
  events: { at: string; what: string }[];
}

export interface IncidentReport {
  title: string;
  status: "open" | "resolved" | "unresolved";
  opened_at: string;
  closed_at: string | null;
  peak_level: number;
  hypothesis: { mode: string; cgroup: string | null; confidence: number } | null;
  playbook: string | null;
  plan_status: string;
  execution_status: string;
  verification_status: string;
}

export interface IncidentSummary {
  id: string;
  opened_at: string;
  closed_at: string | null;
  peak_level: number;
  mode: string | null;
  cgroup: string | null;
  confidence: number;
  plan: string;
  execution: string;
  verification: string;
  status: string;
}

/** `inc-20261201T181650-c8d28d97`: the episode's first log entry names it for good. */
export function incidentId(ep: Episode): string {
  const t = ep.startedAt.replace(/[-:]/g, "").slice(0, 15);
  return `inc-${t}-${ep.firstHash.slice(0, 8)}`;
}

/**
 * Entries of a decision log and its rotated predecessors, oldest first; torn
 * or foreign lines are skipped and counted. Each file goes through the one
 * input door (readLogText): a FIFO, a device, a compressed or binary file is
 * refused in one line (HosaError), never read as "no incidents". The agent's
 * own log may not exist yet; a log `given` by hand must exist and hold lines.
 */
export function readDecisionLog(path: string, opts: { given?: boolean } = {}): { entries: LogEntry[]; skipped: number; unreadable: number } {
  const raw: unknown[] = [];
  let skipped = 0;
  const files = logFiles(path);
  const exists = files.length > 0 || inputExists(path, "cannot read");
  if (!exists && opts.given) throw new HosaError(`cannot read ${shownPath(path)}: no such file`, EXIT.INPUT);
  let lines = 0;
  for (const f of files.length ? files : exists ? [path] : []) {
    for (const line of readLogText(f, "cannot read").split("\n")) {
      if (!line) continue;
      lines++;
      try {
        raw.push(JSON.parse(line));
      } catch {
        skipped++;
      }
    }
  }
  if (opts.given && lines === 0) throw new HosaError(`cannot read ${shownPath(path)}: empty log: no entries`, EXIT.INPUT);
  const entries = asLogEntries(raw);
  return { entries, skipped: skipped + raw.length - entries.length, unreadable: skipped };
}

/** Executor context on the live node: cgroupfs at [sense] cgroup_root, the respond safelist and scope. */
export function liveExecutorContext(cfg: HosaConfig): ExecutorContext {
  const fs = createCgroupFs(cfg.sense.cgroupRoot);
  const layout = detectCgroupLayout(fs.root);
  return {
    fs,
    layout,
    procRoot: cfg.sense.procRoot,
    safelist: { fs, layout, procRoot: cfg.sense.procRoot, selfPid: process.pid, safelist: cfg.respond.safelist, scope: cfg.respond.cgroupScope },
    commandAllowlist: cfg.cortex.commandAllowlist,
    now: () => new Date().toISOString(),
  };
}

export interface CortexOptions {
  /** Where incidents go (default <state_dir>/incidents). */
  dir?: string;
  /** The executor's view of the node; null: nothing is ever executed (replays, benchmarks). */
  exec?: ExecutorContext | null;
  /** One line for the operator (bad playbooks, executions). */
  say?: (line: string) => void;
  /** onLogEntry(): how long entries wait before they are processed, ms (0: only on flush()). */
  flushDelayMs?: number;
}

export class Cortex {
  readonly store: IncidentStore;
  readonly playbooks: Playbook[];
  readonly playbookErrors: string[];
  private readonly exec: ExecutorContext | null;
  private readonly say: (l: string) => void;
  private entries: LogEntry[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly flushDelayMs: number;

  constructor(
    private readonly cfg: HosaConfig,
    opts: CortexOptions = {},
  ) {
    this.store = new IncidentStore(opts.dir ?? join(cfg.paths.stateDir, "incidents"));
    this.exec = opts.exec ?? null;
    this.say = opts.say ?? (() => {});
    this.flushDelayMs = opts.flushDelayMs ?? 2000;
    const loaded = loadPlaybooks(cfg.cortex.playbookDir ? [cfg.cortex.playbookDir] : [], SHIPPED_PLAYBOOKS);
    this.playbooks = loaded.playbooks;
    this.playbookErrors = loaded.errors;
    // A bad playbook is named once and left out; it never stops the agent.
    for (const e of loaded.errors) this.say(`playbook skipped: ${e}`);
  }

  /**
   * The agent's hook: one call per decision-log entry appended. It only
   * buffers the entry: the work (and its fsyncs) happens in flush(), on a
   * timer that never runs inside the agent's tick, at most every
   * flushDelayMs. The reflex never waits on the cortex.
   */
  onLogEntry(entry: Record<string, unknown>): void {
    const [e] = asLogEntries([entry]);
    if (!e) return;
    this.entries.push(e);
    if (this.timer === null && this.flushDelayMs > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        try {
          this.flush();
        } catch (err) {
          this.say(`cortex: ${String((err as Error).message ?? err).split("\n")[0]}`);
        }
      }, this.flushDelayMs);
      this.timer.unref?.();
    }
  }

  /** Process what onLogEntry() buffered; keeps the last episode's entries for the next round. */
  flush(nowIso = new Date().toISOString()): IncidentSummary[] {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const out = this.sync(this.entries, nowIso);
    const eps = splitEpisodes(this.entries);
    const last = eps[eps.length - 1];
    if (last) this.entries = this.entries.slice(this.entries.indexOf(last.entries[0]!));
    if (this.entries.length > 100_000) this.entries = this.entries.slice(-50_000);
    return out;
  }

  /** Bring every incident of these entries up to date; returns their summaries. */
  sync(entries: LogEntry[], nowIso = new Date().toISOString()): IncidentSummary[] {
    const out: IncidentSummary[] = [];
    for (const ep of splitEpisodes(entries)) {
      // One incident that cannot be brought up to date (its execution state
      // edited by hand, a disk error) is named in one line and left as it is:
      // nothing runs for it, and the others go on.
      try {
        const s = this.processEpisode(ep, nowIso);
        if (s) out.push(s);
      } catch (e) {
        this.say(`incident ${incidentId(ep)} left as it is: ${String((e as Error).message ?? e).split("\n")[0]}`);
      }
    }
    return out;
  }

  /** Finished incidents of this node, for similarity. */
  private past(exceptId: string): PastIncident[] {
    const out: PastIncident[] = [];
    for (const id of this.store.list()) {
      if (id === exceptId) continue;
      const rep = this.store.read<IncidentReport>(id, "incident_report");
      const hyp = this.store.read<Hypotheses>(id, "root_cause_hypothesis");
      const obs = this.store.read<Observation>(id, "observation_summary");
      if (!rep || !hyp?.body.top || !obs) continue;
      out.push({ id, mode: hyp.body.top.mode, cgroup: hyp.body.top.cgroup, dims: obs.body.dims, verified: rep.body.verification_status === "passed" });
    }
    return out;
  }

  /** Bring one episode's incident up to date; a finished incident is left alone unless `reopen` (an approval came). */
  processEpisode(ep: Episode, nowIso: string, reopen = false): IncidentSummary | null {
    const minLevel = this.cfg.cortex.minLevel;
    if (ep.peakLevel < minLevel) return null;
    const id = incidentId(ep);
    const st = this.store;
    const final = st.read<IncidentReport>(id, "incident_report");
    // A finished incident is left alone, unless its plan has work left: one
    // interrupted (killed mid-way: resumed or rolled back now), or one approved
    // that waited for a free slot (max_concurrent_plans).
    if (final && final.body.status !== "open" && !reopen && !this.hasWorkLeft(id)) return this.summary(id);
    const opening = ep.entries.find((e) => e.kind === "level" && e.level >= minLevel)!;
    const asOf = ep.entries[ep.entries.length - 1]!.timestamp;
    const execPath = st.executionPath(id);
    let exec = readExecutionState(execPath);
    // Once a plan has started, what led to it is frozen: the chain must show what the executor acted on.
    let obsA = st.read<Observation>(id, "observation_summary");
    let hypA = st.read<Hypotheses>(id, "root_cause_hypothesis");
    let propA = st.read<Proposal>(id, "remediation_proposal");
    let planA = st.read<Plan>(id, "execution_plan");
    if (!exec) {
      const obs = observe(ep);
      obsA = st.write(id, "observation_summary", [], [{ seq: opening.seq, hash: opening.hash, why: `incident opens: ${String(opening.reason ?? "")}` }], obs, asOf);
      const anomaly = findAnomaly(ep, obs);
      const anA = st.write(id, "anomaly_finding", [obsA], anomaly.evidence, anomaly.body, asOf);
      const hyp = hypothesize(ep, obs, this.past(id), { dangerHorizonS: this.cfg.engine.dangerHorizonS });
      hypA = st.write(id, "root_cause_hypothesis", [anA], hyp.top?.evidence ?? [], hyp, asOf);
      const pb = hyp.top ? matchPlaybook(this.playbooks, hyp.top.mode) : null;
      const proposal = propose(hyp, pb);
      propA = st.write(id, "remediation_proposal", [hypA], [], proposal, asOf);
      const plan: Plan = pb
        ? { ...gate({ incidentId: id, playbook: pb, cgroup: proposal.cgroup, confidence: proposal.confidence, approved: st.approval(id), peakLevel: ep.peakLevel }, this.cfg), playbook: proposal.playbook, cgroup: proposal.cgroup, opened_at: opening.timestamp }
        : { status: "blocked", risk: "low", reasons: [proposal.why], steps: [], playbook: null, cgroup: proposal.cgroup, opened_at: opening.timestamp };
      planA = st.write(id, "execution_plan", [propA], [], plan, asOf);
    }
    const plan = planA!.body;
    // The playbook the plan was made from; a plan cut short whose playbook was
    // edited since goes on with the playbook of that name, and the executor
    // sees its steps changed: nothing new runs, what was done is undone.
    const cutShort = exec !== null && (exec.status === "running" || exec.status === "rolling_back");
    const pbName = plan.playbook?.replace(/@\d+$/, "");
    const pb = plan.playbook ? (this.playbooks.find((p) => `${p.name}@${p.version}` === plan.playbook) ?? (cutShort ? this.playbooks.find((p) => p.name === pbName) : undefined) ?? null) : null;
    if (cutShort && !pb) this.say(`incident ${id}: its plan was cut short and playbook ${plan.playbook} is gone; nothing more runs (the values written are in ${execPath})`);
    // Execute: auto-allowed plans while the episode is open; approved ones whenever the approval comes.
    const runnable = (plan.status === "auto" && !ep.endedAt) || plan.status === "approved";
    if (pb && plan.cgroup && this.exec && this.cfg.cortex.mode === "act" && (runnable || (exec && exec.status === "running") || exec?.status === "rolling_back")) {
      exec = this.runPlan(id, pb, plan, exec);
    }
    if (exec) st.write(id, "execution_result", [planA], [], executionResult(exec), exec.events[exec.events.length - 1]?.at ?? asOf);
    else st.write(id, "execution_result", [planA], [], { status: `not executed (${plan.status})`, runs: 0, steps: [], events: [] } satisfies ExecutionResult, asOf);
    // Verify: from the end of the execution, or from the incident's opening when nothing ran.
    let ver: Artifact<Verification> | null = null;
    if (pb) {
      const from = exec && exec.status === "completed" ? lastDone(exec) ?? opening.timestamp : opening.timestamp;
      const v = verifyEpisode(ep, pb, from, nowIso);
      ver = st.write(id, "verification_result", [st.read(id, "execution_result")], v.evidence, v.body, asOf);
      if (v.body.status === "failed" && exec && exec.status === "completed" && this.exec && pb.rollback.restore) {
        const unlock = st.lock();
        if (unlock) {
          try {
            exec = rollbackPlan(execPath, exec, pb, this.exec, "verification failed");
            st.write(id, "execution_result", [planA], [], executionResult(exec), exec.events[exec.events.length - 1]?.at ?? asOf);
          } finally {
            unlock();
          }
        }
      }
    }
    const closed = ep.endedAt !== null;
    const vStatus = ver?.body.status ?? "none";
    const status: IncidentReport["status"] = !closed || vStatus === "pending" ? "open" : vStatus === "passed" || (vStatus === "none" && closed) ? "resolved" : "unresolved";
    const top = hypA!.body.top;
    const report: IncidentReport = {
      title: top ? `${top.title}${top.cgroup ? ` in ${top.cgroup}` : ""}` : "unexplained episode",
      status,
      opened_at: opening.timestamp,
      closed_at: ep.endedAt,
      peak_level: ep.peakLevel,
      hypothesis: top ? { mode: top.mode, cgroup: top.cgroup, confidence: top.confidence } : null,
      playbook: plan.playbook,
      plan_status: plan.status,
      execution_status: exec?.status ?? "not executed",
      verification_status: vStatus,
    };
    st.write(id, "incident_report", [obsA, hypA, propA, planA, st.read(id, "execution_result"), ver], [], report, asOf);
    return this.summary(id);
  }

  private hasWorkLeft(id: string): boolean {
    if (!this.exec || this.cfg.cortex.mode !== "act") return false;
    const exec = readExecutionState(this.store.executionPath(id));
    if (exec) return exec.status === "running" || exec.status === "rolling_back";
    return this.store.read<Plan>(id, "execution_plan")?.body.status === "approved";
  }

  private runPlan(id: string, pb: Playbook, plan: Plan, exec: ExecutionState | null): ExecutionState | null {
    const st = this.store;
    const unlock = st.lock();
    if (!unlock) return exec;
    try {
      if (!exec) {
        const running = st.list().filter((other) => other !== id && readExecutionState(st.executionPath(other))?.status === "running").length;
        if (running >= this.cfg.cortex.maxConcurrentPlans) {
          this.say(`incident ${id}: plan waits, ${running} plan(s) already running (max_concurrent_plans ${this.cfg.cortex.maxConcurrentPlans})`);
          return null;
        }
      }
      const s = executePlan(st.executionPath(id), pb, plan.cgroup!, plan.steps, id, this.exec!);
      this.say(`incident ${id}: ${pb.name} on ${plan.cgroup}: ${s.status}`);
      return s;
    } finally {
      unlock();
    }
  }

  /** Record an approval and bring the incident up to date (runs the plan in act mode). */
  approve(id: string, by: string, entries: LogEntry[], nowIso = new Date().toISOString()): IncidentSummary {
    this.store.approve(id, by, nowIso);
    const ep = splitEpisodes(entries).find((e) => incidentId(e) === id);
    if (ep) {
      // The plan was frozen before the approval existed; the gate decides again with it.
      if (!readExecutionState(this.store.executionPath(id))) this.processEpisode(ep, nowIso, true);
    }
    return this.summary(id)!;
  }

  summary(id: string): IncidentSummary | null {
    const rep = this.store.read<IncidentReport>(id, "incident_report");
    const plan = this.store.read<Plan>(id, "execution_plan");
    if (!rep) return null;
    return {
      id,
      opened_at: rep.body.opened_at,
      closed_at: rep.body.closed_at,
      peak_level: rep.body.peak_level,
      mode: rep.body.hypothesis?.mode ?? null,
      cgroup: rep.body.hypothesis?.cgroup ?? null,
      confidence: rep.body.hypothesis?.confidence ?? 0,
      plan: plan?.body.status ?? "none",
      execution: rep.body.execution_status,
      verification: rep.body.verification_status,
      status: rep.body.status,
    };
  }
}

function lastDone(s: ExecutionState): string | null {
  const done = s.steps.map((x) => x.done_at).filter((x): x is string => Boolean(x));
  return done.length ? done.sort()[done.length - 1]! : null;
}

function propose(hyp: Hypotheses, pb: Playbook | null): Proposal {
  const top = hyp.top;
  if (!top) return { playbook: null, playbook_file: null, mode: null, cgroup: null, confidence: 0, description: "", steps: [], verification: "", rollback: "", why: "no hypothesis stands out" };
  if (!pb) return { playbook: null, playbook_file: null, mode: top.mode, cgroup: top.cgroup, confidence: top.confidence, description: "", steps: [], verification: "", rollback: "", why: `no playbook matches ${top.mode}` };
  return {
    playbook: `${pb.name}@${pb.version}`,
    playbook_file: pb.file,
    mode: top.mode,
    cgroup: top.cgroup,
    confidence: top.confidence,
    description: pb.description,
    steps: pb.steps.map((s) => `${s.id} (${s.kind}, risk ${s.risk})`),
    verification: `level ≤ ${pb.verify.maxLevel} within ${pb.verify.withinS} s`,
    rollback: pb.rollback.restore ? "restore every value written" : "nothing to restore",
    why: `${pb.name} matches ${top.mode} (confidence ${top.confidence})`,
  };
}

function executionResult(s: ExecutionState): ExecutionResult {
  return {
    status: s.status,
    runs: s.runs,
    steps: s.steps.map((x) => ({
      id: x.id,
      status: x.status,
      detail: x.kind === "cgroup_set" && x.file ? `${x.dir}/${x.file}: ${x.prev ?? "?"} → ${x.value ?? "?"}${x.note ? ` (${x.note})` : ""}` : x.note ?? "",
    })),
    events: s.events,
  };
}

/** The episode of an incident id among these entries. */
export function findEpisode(entries: LogEntry[], id: string): Episode | null {
  return splitEpisodes(entries).find((e) => incidentId(e) === id) ?? null;
}
