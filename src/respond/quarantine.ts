// Level 5: quarantine (document 004 §8-§9). Network isolation except
// management (XDP isolate, done by the responder), SIGSTOP of the
// contributors, a forensic snapshot, and a state file in the state directory
// so `hosa quarantine status|release` work from another process, with or
// without the agent running. What else happens depends on the environment
// class; when unsure, the most conservative one (cloud-vm: no interface is
// ever taken down).
import { existsSync, readFileSync } from "node:fs";
import { hostname as osHostname } from "node:os";
import type { HosaConfig } from "../config.ts";
import type { Decision } from "../engine/types.ts";
import { decisionFields } from "../engine/fields.ts";
import type { CgroupUsage } from "../sense/types.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { EXIT, HosaError } from "../errors.ts";
import { type ActuatorContext, createActuatorContext, journalPath, type OpenXdp } from "./actuator.ts";
import { stopContributors } from "./actuators/quarantine.ts";
import { isolateByHand } from "./actuators/xdp.ts";
import { type CgroupFs } from "../kernel/cgroupfs.ts";
import { CG } from "../kernel/files.ts";
import { readCurrent } from "./cgroup-values.ts";
import { Journal } from "./journal.ts";
import { recoverFromJournal } from "./restore.ts";
import { safelistReason } from "./targets.ts";
import { topProcesses } from "../kernel/proc.ts";
import type { ActionRecord } from "./types.ts";
import { setQuarantineCondition } from "./k8s-condition.ts";

export type EnvClass = "bare-metal" | "cloud-vm" | "kubernetes" | "edge-physical" | "edge-remote" | "airgap";
const ENV_CLASSES: EnvClass[] = ["bare-metal", "cloud-vm", "kubernetes", "edge-physical", "edge-remote", "airgap"];

export const TAINT = { key: "hosa.io/quarantine", value: "true", effect: "NoExecute" } as const;

export interface QuarantineState {
  version: 1;
  active: boolean;
  level: number;
  host: string;
  mode: EnvClass;
  /** Wall clock, ISO 8601, and the decision time that entered it. */
  since: string;
  sinceT: number;
  contributors: string[];
  stoppedPids: number[];
  frozenCgroups: string[];
  xdp: { ifname: string; policy: string } | null;
  /** edge-remote: epoch ms after which the watchdog releases. */
  watchdogDeadlineMs: number | null;
  k8s: { node: string; tainted: boolean; event: boolean } | null;
  notes: string[];
  snapshot: string;
  /** After a release: the agent's engine continues from Level 3 (releaseQuarantine()), not 0. */
  hold: { level: 3; since: string } | null;
  released: { by: string; at: string; how: "manual" | "watchdog" } | null;
}

export function quarantineStatePath(cfg: HosaConfig): string {
  return `${cfg.paths.stateDir}/quarantine.json`;
}

/** The state file, or null when there has never been a quarantine. A damaged file is an error the caller reports. */
export function readQuarantineState(cfg: HosaConfig): QuarantineState | null {
  const path = quarantineStatePath(cfg);
  if (!existsSync(path)) return null;
  const text = readFileSync(path, "utf8");
  const st = JSON.parse(text) as QuarantineState;
  if (typeof st !== "object" || st === null || st.version !== 1) throw new Error(`${path}: not a quarantine state file`);
  return st;
}

function writeState(cfg: HosaConfig, st: QuarantineState): void {
  writeFileAtomic(quarantineStatePath(cfg), `${JSON.stringify(st, null, 2)}\n`, 0o600);
}

/** respond.quarantine_mode, else the detected class, else cloud-vm (never takes an interface down). */
export function resolveQuarantineMode(configured: HosaConfig["respond"]["quarantineMode"], detected: string | undefined): EnvClass {
  if (configured !== "auto") return configured;
  return ENV_CLASSES.includes(detected as EnvClass) ? (detected as EnvClass) : "cloud-vm";
}

export interface QuarantineDeps {
  t: number;
  /** Contributor cgroup paths (memory hierarchy on v1). */
  targets: string[];
  decisions: Decision[];
  cgroups: CgroupUsage[];
  xdp: { ifname: string; policy: string } | null;
  /** Environment class from discoverNode() (src/kernel/proprioception.ts). */
  envClass?: string;
  host?: string;
  nowMs?: () => number;
  fetch?: typeof fetch;
  /** Results of the asynchronous Kubernetes calls, when they come. */
  onAsync?: (records: ActionRecord[]) => void;
  ipmiDevice?: string;
  /** Handed the background Kubernetes work, for a caller that must wait for it before exiting (the CLI). */
  onPending?: (work: Promise<unknown>) => void;
}

/** Contributors found after quarantine began (the engine may jump to 5 before growth is visible): stop them too. */
export function extendQuarantine(ctx: ActuatorContext, t: number, paths: string[]): ActionRecord[] {
  const cfg = ctx.cfg;
  const st = readQuarantineState(cfg);
  if (!st?.active) return [];
  const fresh = paths.filter((p) => !st.contributors.includes(p));
  if (fresh.length === 0) return [];
  const out: ActionRecord[] = [];
  const stopped = stopContributors(ctx, t, fresh, out);
  if (ctx.act) {
    st.contributors.push(...fresh);
    st.stoppedPids.push(...stopped);
    writeState(cfg, st);
  }
  return out;
}

/**
 * Enter quarantine: SIGSTOP the contributors' processes (journaled first),
 * write the forensic snapshot and the state file, and do what the mode says.
 * Kubernetes calls run in the background; their records arrive via onAsync.
 */
export function enterQuarantine(ctx: ActuatorContext, d: QuarantineDeps): ActionRecord[] {
  const cfg = ctx.cfg;
  const out: ActionRecord[] = [];
  const nowMs = d.nowMs?.() ?? Date.now();
  const host = d.host ?? osHostname();
  const mode = resolveQuarantineMode(cfg.respond.quarantineMode, d.envClass);
  let seq = 0;
  const rec = (kind: ActionRecord["kind"], target: string, action: string, outcome: string): ActionRecord => ({
    id: `q${Math.round(d.t * 1000)}-${++seq}`,
    t: d.t,
    level: 5,
    kind,
    target,
    action,
    outcome,
  });
  const stopped = stopContributors(ctx, d.t, d.targets, out);
  const notes: string[] = [];
  const ipmi = d.ipmiDevice ?? "/dev/ipmi0";
  if (mode === "bare-metal") notes.push(existsSync(ipmi) ? `IPMI available at ${ipmi}: the out-of-band console stays reachable` : `no IPMI device at ${ipmi}`);
  if (mode === "cloud-vm") notes.push("cloud VM: no interface is taken down (the instance would become unreachable); the orchestrator decides to replace it");
  if (mode === "edge-physical") notes.push("edge device with physical access: isolated until someone releases it on site");
  if (mode === "airgap") notes.push("air-gapped: no network calls at all");
  const watchdogDeadlineMs = mode === "edge-remote" ? nowMs + cfg.respond.watchdogS * 1000 : null;
  if (watchdogDeadlineMs !== null) notes.push(`edge-remote: the watchdog releases at ${new Date(watchdogDeadlineMs).toISOString()} unless someone does first`);
  if (!ctx.act) {
    out.push(rec("quarantine", host, `quarantine (${mode})`, "would apply (detection-only)"));
    return out;
  }
  const stamp = new Date(nowMs).toISOString().replace(/[:.]/g, "-");
  const snapshot = `${cfg.paths.stateDir}/forensics-${stamp}.json`;
  writeFileAtomic(
    snapshot,
    `${JSON.stringify(
      {
        host,
        at: new Date(nowMs).toISOString(),
        t: d.t,
        mode,
        contributors: d.targets,
        top_processes: topProcesses(ctx.procRoot),
        cgroups: d.cgroups,
        decisions: d.decisions.map((x) => decisionFields(x)),
      },
      null,
      2,
    )}\n`,
    0o600,
  );
  const frozen = ctx.journal
    .load()
    .open.map((c) => c.first)
    .filter((e) => e.op === "set" && (e.file === CG.freeze || e.file === CG.freezerState))
    .map((e) => `/${(e as { dir: string }).dir}`);
  const node = cfg.respond.k8sNodeName || process.env.NODE_NAME || host;
  const st: QuarantineState = {
    version: 1,
    active: true,
    level: 5,
    host,
    mode,
    since: new Date(nowMs).toISOString(),
    sinceT: d.t,
    contributors: d.targets,
    stoppedPids: stopped,
    frozenCgroups: frozen,
    xdp: d.xdp,
    watchdogDeadlineMs,
    k8s: mode === "kubernetes" ? { node, tainted: false, event: false } : null,
    notes,
    snapshot,
    hold: null,
    released: null,
  };
  writeState(cfg, st);
  out.push(rec("quarantine", host, `quarantine (${mode}); snapshot ${snapshot}`, "applied"));
  if (mode === "kubernetes") {
    const work = kubernetesQuarantine(cfg, "taint", { node, t: d.t, fetch: d.fetch, message: `hosa quarantined node ${node}: ${d.decisions.at(-1)?.reason ?? "Level 5"}` }).then((r) => {
      const now = readQuarantineState(cfg);
      if (now?.active && now.k8s) {
        now.k8s.tainted = r.tainted;
        now.k8s.event = r.event;
        writeState(cfg, now);
      }
      d.onAsync?.(r.records);
    });
    d.onPending?.(work);
  }
  return out;
}

export interface ManualQuarantineOptions {
  /** Contributor cgroups (paths in the attribution hierarchy: memory on v1/hybrid). */
  cgroups: string[];
  who: string;
  openXdp?: OpenXdp;
  envClass?: string;
  fetch?: typeof fetch;
  fs?: CgroupFs;
  nowMs?: number;
}

/**
 * `hosa quarantine enter`: the operator's Level 5, from any process. Same
 * actions as the agent's (XDP isolate when respond.xdp_interface is set,
 * SIGSTOP, snapshot, mode), journaled the same way, lifted by release.
 */
export async function manualQuarantine(cfg: HosaConfig, o: ManualQuarantineOptions): Promise<{ records: ActionRecord[]; state: QuarantineState | null }> {
  const already = readQuarantineState(cfg);
  if (already?.active) throw new HosaError(`quarantine enter: already in force since ${already.since} (${already.mode})`, EXIT.FAILURE);
  const ctx = createActuatorContext(cfg, { fs: o.fs, openXdp: o.openXdp });
  const nowMs = o.nowMs ?? Date.now();
  const t = nowMs / 1000;
  const records: ActionRecord[] = [];
  const targets: string[] = [];
  for (const c of o.cgroups) {
    const why = safelistReason(c, ctx.safelist);
    if (why) records.push({ id: `q${Math.round(t * 1000)}-s${records.length}`, t, level: 5, kind: "quarantine", target: c, action: "contain", outcome: `skipped: ${why}` });
    else targets.push(c.startsWith("/") ? c : `/${c}`);
  }
  let xdp: QuarantineDeps["xdp"] = null;
  const ifname = cfg.respond.xdpInterface;
  if (ifname) {
    const r = isolateByHand(ctx, t, ifname);
    records.push(r.record);
    xdp = r.xdp;
  }
  const pending: Promise<unknown>[] = [];
  records.push(
    ...enterQuarantine(ctx, {
      t,
      targets,
      decisions: [],
      cgroups: [],
      xdp,
      envClass: o.envClass,
      nowMs: () => nowMs,
      fetch: o.fetch,
      onAsync: (r) => records.push(...r),
      onPending: (w) => pending.push(w),
    }),
  );
  await Promise.all(pending);
  const state = readQuarantineState(cfg);
  if (state?.active) {
    state.notes.push(`entered by hand by ${o.who}`);
    writeState(cfg, state);
  }
  return { records, state };
}

interface K8sCall {
  node: string;
  t: number;
  message: string;
  fetch?: typeof fetch;
}

/**
 * Taint (or untaint) the node and post an Event, with the pod's service
 * account. GET then merge-patch with the node's resourceVersion, so another
 * writer's taints are kept and a concurrent change makes the API server
 * answer 409 instead of being overwritten.
 */
export async function kubernetesQuarantine(cfg: HosaConfig, what: "taint" | "untaint", call: K8sCall): Promise<{ records: ActionRecord[]; tainted: boolean; event: boolean }> {
  const doFetch = call.fetch ?? fetch;
  const records: ActionRecord[] = [];
  const rec = (action: string, outcome: string): ActionRecord => ({ id: `k${Math.round(call.t * 1000)}-${records.length + 1}`, t: call.t, level: 5, kind: "k8s", target: call.node, action, outcome });
  const sa = cfg.respond.k8sServiceAccountDir;
  const base = cfg.respond.k8sApiUrl || (process.env.KUBERNETES_SERVICE_HOST ? `https://${process.env.KUBERNETES_SERVICE_HOST}:${process.env.KUBERNETES_SERVICE_PORT ?? "443"}` : "");
  let token = "";
  let namespace = "default";
  let ca: string | undefined;
  try {
    token = readFileSync(`${sa}/token`, "utf8").trim();
    if (existsSync(`${sa}/namespace`)) namespace = readFileSync(`${sa}/namespace`, "utf8").trim() || "default";
    if (existsSync(`${sa}/ca.crt`)) ca = readFileSync(`${sa}/ca.crt`, "utf8");
  } catch (e) {
    records.push(rec(`${what} node`, `failed: cannot read the service account token in ${sa}: ${(e as NodeJS.ErrnoException).code ?? e}`));
    return { records, tainted: what === "untaint", event: false };
  }
  if (!base) {
    records.push(rec(`${what} node`, "failed: no API server (KUBERNETES_SERVICE_HOST unset and respond.k8s_api_url empty)"));
    return { records, tainted: what === "untaint", event: false };
  }
  const init = (method: string, body?: unknown, type = "application/json"): RequestInit =>
    ({
      method,
      headers: { Authorization: `Bearer ${token}`, Accept: "application/json", ...(body ? { "Content-Type": type } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(5000),
      ...(ca ? { tls: { ca } } : {}),
    }) as RequestInit;
  const nodeUrl = `${base}/api/v1/nodes/${encodeURIComponent(call.node)}`;
  let tainted = what === "untaint";
  try {
    const got = await doFetch(nodeUrl, init("GET"));
    if (!got.ok) throw new Error(`GET node: HTTP ${got.status}`);
    const node = (await got.json()) as { metadata?: { resourceVersion?: string }; spec?: { taints?: { key: string; value?: string; effect: string }[] } };
    const others = (node.spec?.taints ?? []).filter((x) => x.key !== TAINT.key);
    const taints = what === "taint" ? [...others, { ...TAINT, timeAdded: new Date().toISOString().replace(/\.\d+Z$/, "Z") }] : others;
    const patch = { metadata: { resourceVersion: node.metadata?.resourceVersion }, spec: { taints } };
    const res = await doFetch(nodeUrl, init("PATCH", patch, "application/merge-patch+json"));
    if (!res.ok) throw new Error(`PATCH node: HTTP ${res.status}`);
    tainted = what === "taint";
    records.push(rec(`${what === "taint" ? "taint" : "untaint"} ${TAINT.key}=${TAINT.value}:${TAINT.effect}`, "applied"));
  } catch (e) {
    records.push(rec(`${what} ${TAINT.key}`, `failed: ${(e as Error).message.split("\n")[0]}`));
  }
  const cond = await setQuarantineCondition(doFetch, nodeUrl, init, what === "taint", call.message);
  records.push(rec(cond.action, cond.outcome));
  let event = false;
  try {
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const ev = {
      apiVersion: "v1",
      kind: "Event",
      metadata: { generateName: "hosa-quarantine-", namespace },
      involvedObject: { apiVersion: "v1", kind: "Node", name: call.node, uid: call.node },
      type: what === "taint" ? "Warning" : "Normal",
      reason: what === "taint" ? "HOSAQuarantine" : "HOSAQuarantineReleased",
      message: call.message,
      source: { component: "hosa", host: call.node },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    const res = await doFetch(`${base}/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, init("POST", ev));
    if (!res.ok) throw new Error(`POST event: HTTP ${res.status}`);
    event = true;
    records.push(rec(`event ${ev.reason} in ${namespace}`, "applied"));
  } catch (e) {
    records.push(rec("event", `failed: ${(e as Error).message.split("\n")[0]}`));
  }
  return { records, tainted, event };
}

export interface ReleaseResult {
  released: boolean;
  state: QuarantineState | null;
  records: ActionRecord[];
  warnings: string[];
  /** For the decision log: who released, when, what was restored. */
  logLine: Record<string, unknown> | null;
}

export interface ReleaseOptions {
  who: string;
  how?: "manual" | "watchdog";
  nowMs?: number;
  fetch?: typeof fetch;
  fs?: CgroupFs;
  detachXdp?: (ifname: string) => boolean;
}

/**
 * Lift the quarantine from any process (the agent need not run): SIGCONT,
 * thaw, XDP off, every journaled value back, the taint removed; then the
 * state says who released it and that the node holds at Level 3.
 */
export async function releaseQuarantine(cfg: HosaConfig, opts: ReleaseOptions): Promise<ReleaseResult> {
  const st = readQuarantineState(cfg);
  if (!st?.active) return { released: false, state: st, records: [], warnings: [], logLine: null };
  const nowMs = opts.nowMs ?? Date.now();
  const t = nowMs / 1000;
  const { records, warnings } = recoverFromJournal(cfg, { fs: opts.fs, detachXdp: opts.detachXdp, t });
  if (st.k8s && st.mode === "kubernetes") {
    const r = await kubernetesQuarantine(cfg, "untaint", { node: st.k8s.node, t, fetch: opts.fetch, message: `quarantine of ${st.k8s.node} released by ${opts.who}` });
    records.push(...r.records);
    st.k8s.tainted = r.tainted;
  }
  const at = new Date(nowMs).toISOString();
  st.active = false;
  st.level = 3;
  st.hold = { level: 3, since: at };
  st.released = { by: opts.who, at, how: opts.how ?? "manual" };
  st.watchdogDeadlineMs = null;
  writeState(cfg, st);
  const logLine = {
    kind: "quarantine_release",
    timestamp: at,
    host: st.host,
    mode: st.mode,
    released_by: opts.who,
    how: st.released.how,
    quarantined_since: st.since,
    level: 3,
    level_name: "ACTIVE_CONTAINMENT",
    hold: "Level 3 hold",
    restored: records.filter((r) => r.outcome.startsWith("restored") || r.outcome === "applied").length,
    left_alone: records.filter((r) => r.outcome.startsWith("skipped")).length,
    failed: records.filter((r) => r.outcome.startsWith("failed")).length,
  };
  return { released: true, state: st, records, warnings, logLine };
}

/** edge-remote: release when the persisted deadline has passed (the deadline survives restarts: it is in the state file). */
export async function checkWatchdog(cfg: HosaConfig, nowMs: number, opts: Omit<ReleaseOptions, "who" | "how" | "nowMs"> = {}): Promise<ReleaseResult | null> {
  const st = readQuarantineState(cfg);
  if (!st?.active || st.watchdogDeadlineMs === null || nowMs < st.watchdogDeadlineMs) return null;
  return releaseQuarantine(cfg, { ...opts, who: "watchdog", how: "watchdog", nowMs });
}

/** What is in force, read from the state directory only. */
export function quarantineStatus(cfg: HosaConfig, fs: CgroupFs): {
  state: QuarantineState | null;
  inForce: { what: string; hosaValue: string; original: string; current: string | null }[];
  warnings: string[];
} {
  const st = readQuarantineState(cfg);
  const { open, warnings } = Journal.open(journalPath(cfg)).load();
  const inForce = open.map((c) => {
    if (c.first.op === "set" && c.last.op === "set") {
      return {
        what: `/${c.first.dir}/${c.first.file}${c.first.dev ? ` ${c.first.dev}` : ""}`,
        hosaValue: c.last.value,
        original: c.first.prev,
        current: readCurrent(fs, c.first.dir, c.first.file, c.first.dev) ?? null,
      };
    }
    if (c.last.op === "xdp") return { what: `xdp ${c.last.ifname}`, hosaValue: c.last.policy, original: "off", current: null };
    const pid = c.first.op === "stop" ? c.first.pid : 0;
    return { what: `SIGSTOP ${pid}`, hosaValue: "stopped", original: "running", current: null };
  });
  return { state: st, inForce, warnings };
}
