// Observer and analyzer (docs/cortex.md §analysis): from one episode's
// decision-log entries to an observation summary, an anomaly finding and
// ranked root-cause hypotheses. Pure: same entries, same artifacts.
import { REGIME_NAMES, type Regime } from "../engine/types.ts";
import type { Episode } from "./episodes.ts";
import { toMs } from "./episodes.ts";
import type { EvidenceRef, FailureMode, LogEntry } from "./types.ts";

const LEVEL_NAMES = ["HOMEOSTASIS", "VIGILANCE", "SOFT_CONTAINMENT", "ACTIVE_CONTAINMENT", "SEVERE_CONTAINMENT", "QUARANTINE"];

export interface ActionSeen {
  seq: number;
  at: string;
  target: string;
  kind: string;
  action: string;
  outcome: string;
  effect: string;
}

export interface Observation {
  started_at: string;
  ended_at: string | null;
  duration_s: number;
  open: boolean;
  peak_level: number;
  peak_d_m: number;
  levels: { seq: number; at: string; level: number; d_m: number | null; reason: string }[];
  /** Mean share of D_M² per dimension over the episode's distinct decisions (weighted by decisionWeight), largest first. */
  dims: { dim: string; share: number }[];
  /** Regimes seen, by the summed weight of their decisions. */
  regimes: { regime: number; name: string; weight: number }[];
  max_d_m_derivative: number;
  phi_range: [number, number];
  ttf: { s: number; dim: string | null; seq: number } | null;
  actions: ActionSeen[];
  danger: { seq: number; cgroup: string; ttf_s: number | null; evidence: string }[];
  /** Distinct decisions (log entries with their own engine time) seen. */
  decisions: number;
}

const num = (v: unknown, d = NaN) => (typeof v === "number" && Number.isFinite(v) ? v : d);

/** Entries with a distinct decision time: actions logged with one decision repeat its fields. */
function distinctDecisions(entries: LogEntry[]): LogEntry[] {
  const seen = new Set<string>();
  const out: LogEntry[] = [];
  for (const e of entries) {
    const key = `${e.t ?? e.timestamp}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
  }
  return out;
}

/**
 * How much a decision says about the episode: its D_M in units of θ1, capped
 * at 10. The decisions of the surge outweigh the many logged on the slow way
 * down, when D_M is back near normal and the shares are mostly noise.
 */
export function decisionWeight(e: LogEntry): number {
  const th = num(e.thresholds?.theta1, NaN);
  let dm = num(e.d_m, NaN);
  if (!Number.isFinite(th) || !Number.isFinite(dm) || th <= 0) return 1;
  // One raw sample beyond θ4 (the engine's short-event path, docs/engine.md
  // §10, whose θ1s is never below θ4) weighs as far as it went: the smoothed
  // D_M of that sample has not caught up yet.
  const raw = num(e.d_m_raw, NaN);
  const th4 = num(e.thresholds?.theta4, NaN);
  if (raw > th4 && raw > dm) dm = raw;
  return Math.min(10, Math.max(0.1, dm / th));
}

export function observe(ep: Episode): Observation {
  const decisions = distinctDecisions(ep.entries.filter((e) => e.level > 0 || e.kind === "action"));
  const shares = new Map<string, number>();
  for (const e of decisions) for (const c of e.dominant_dims ?? []) shares.set(c.dim, (shares.get(c.dim) ?? 0) + decisionWeight(e) * num(c.share, 0));
  const n = Math.max(1e-9, decisions.reduce((s, e) => s + decisionWeight(e), 0));
  const dims = [...shares].map(([dim, s]) => ({ dim, share: round3(s / n) })).sort((a, b) => b.share - a.share || a.dim.localeCompare(b.dim));
  const regimeCount = new Map<number, number>();
  for (const e of decisions) if (typeof e.regime === "number") regimeCount.set(e.regime, (regimeCount.get(e.regime) ?? 0) + decisionWeight(e));
  const regimes = [...regimeCount]
    .map(([regime, k]) => ({ regime, name: REGIME_NAMES[regime as Regime] ?? String(regime), weight: round3(k) }))
    .sort((a, b) => b.weight - a.weight || a.regime - b.regime);
  let ttf: Observation["ttf"] = null;
  for (const e of ep.entries) {
    const s = num(e.ttf_s);
    if (Number.isFinite(s) && (ttf === null || s < ttf.s)) ttf = { s, dim: e.ttf_dim ?? null, seq: e.seq };
  }
  const actions: ActionSeen[] = ep.entries
    .filter((e) => e.kind === "action")
    .map((e) => ({
      seq: e.seq,
      at: e.timestamp,
      target: String(e.target_cgroup ?? e.target ?? ""),
      kind: String(e.action_kind ?? ""),
      action: String(e.action ?? ""),
      outcome: String(e.outcome ?? ""),
      effect: String(e.action_effect ?? ""),
    }));
  const danger: Observation["danger"] = [];
  for (const e of ep.entries) {
    if (typeof e.danger_cgroup === "string" && e.danger_cgroup) {
      danger.push({ seq: e.seq, cgroup: e.danger_cgroup, ttf_s: num(e.danger_ttf_s, NaN) || null, evidence: String(e.danger_evidence ?? "") });
    }
  }
  const endMs = ep.endedAt ? toMs(ep.endedAt) : toMs(ep.entries[ep.entries.length - 1]!.timestamp);
  const phis = decisions.map((e) => num(e.phi)).filter(Number.isFinite);
  return {
    started_at: ep.startedAt,
    ended_at: ep.endedAt,
    duration_s: round3((endMs - toMs(ep.startedAt)) / 1000),
    open: ep.endedAt === null,
    peak_level: ep.peakLevel,
    peak_d_m: round3(Math.max(0, ...ep.entries.map((e) => num(e.d_m, 0)))),
    levels: ep.entries
      .filter((e) => e.kind === "level")
      .map((e) => ({ seq: e.seq, at: e.timestamp, level: e.level, d_m: Number.isFinite(num(e.d_m)) ? round3(num(e.d_m)) : null, reason: String(e.reason ?? "") })),
    dims,
    regimes,
    max_d_m_derivative: round3(Math.max(0, ...decisions.map((e) => num(e.d_m_derivative, 0)))),
    phi_range: phis.length ? [round3(Math.min(...phis)), round3(Math.max(...phis))] : [0, 0],
    ttf,
    actions,
    danger,
    decisions: decisions.length,
  };
}

export interface AnomalyFinding {
  severity: string;
  peak_level: number;
  thresholds_crossed_at_peak: string[];
  top_dims: { dim: string; share: number }[];
  regime: string;
  trend: string;
  direction: string;
}

export function findAnomaly(ep: Episode, obs: Observation): { body: AnomalyFinding; evidence: EvidenceRef[] } {
  const peak = ep.entries.find((e) => e.kind === "level" && e.level === ep.peakLevel)!;
  const crossed = Array.isArray(peak.thresholds_crossed) ? (peak.thresholds_crossed as string[]) : [];
  const [lo, hi] = obs.phi_range;
  const direction = hi > 0 && hi >= -lo ? "load rising (φ > 0)" : lo < 0 ? "load falling (φ < 0)" : "no load direction";
  const trend = obs.max_d_m_derivative > 0 ? `D_M rose at up to ${obs.max_d_m_derivative}/s` : "D_M did not rise";
  return {
    body: {
      severity: LEVEL_NAMES[ep.peakLevel] ?? String(ep.peakLevel),
      peak_level: ep.peakLevel,
      thresholds_crossed_at_peak: crossed,
      top_dims: obs.dims.slice(0, 3),
      regime: obs.regimes[0]?.name ?? "unknown",
      trend,
      direction,
    },
    evidence: [
      { seq: ep.entries[0]!.seq, hash: ep.entries[0]!.hash, why: `episode opens: ${String(ep.entries[0]!.reason ?? "")}` },
      { seq: peak.seq, hash: peak.hash, why: `peak level ${ep.peakLevel}: ${String(peak.reason ?? "")}` },
    ],
  };
}

/** engine.danger_horizon_s's default: a danger further away does not slow anyone. */
export const DEFAULT_DANGER_HORIZON_S = 120;

/** How much a danger counts that the engine never raised to containment (Level ≥ 3) while it stood. */
export const UNCONFIRMED_DANGER = 0.5;

/** What identifies a failure mode in the decision data (docs/cortex.md §signatures). */
export interface Signature {
  mode: FailureMode;
  title: string;
  /** Dimensions that lead when this mode happens, with how strongly they point to it. */
  dims: Record<string, number>;
  regimes: number[];
  /** Control files hosa's responder writes for this resource only (src/respond/responder.ts Level 3). */
  actionFiles: RegExp;
  actionKinds?: string[];
  /** Words of the engine's danger resource that point here. */
  dangerWords: RegExp;
  /** Resources of the agent's `contributors` (src/report/decision-log.ts) this mode consumes: who grew them names the cgroup. */
  contributes: string[];
}

export const SIGNATURES: Signature[] = [
  {
    mode: "memory_leak",
    title: "memory leak",
    dims: {
      cgroup_mem_limit_ratio: 1,
      mem_used_ratio: 1,
      mem_available_bytes: 1,
      psi_mem_some_ratio: 0.9,
      psi_mem_full_ratio: 0.9,
      page_faults_per_s: 0.8,
      alloc_syscalls_per_s: 0.7,
      major_faults_per_s: 0.4,
    },
    regimes: [4],
    actionFiles: /^memory\.(high|max|limit_in_bytes|oom_control)/,
    dangerWords: /memory/,
    contributes: ["memory"],
  },
  {
    mode: "fork_storm",
    title: "fork storm",
    // sched_wakeups_per_s counts sched_wakeup_new too (bpf/probes.bpf.c): every fork wakes its child.
    dims: { forks_per_s: 1, sched_wakeups_per_s: 0.8, procs_running: 0.5, ctx_switches_per_s: 0.3, runq_latency_us: 0.3 },
    regimes: [5],
    // The responder has no fork-specific control: cpu.weight (Level 2) and the freeze (Level 4) go to any target.
    actionFiles: /^pids\.max/,
    dangerWords: /pids/,
    contributes: ["forks", "pids"],
  },
  {
    mode: "io_saturation",
    title: "I/O saturation",
    dims: { blk_ios_per_s: 1, blk_bytes_per_s: 1, blk_latency_us: 0.8, psi_io_some_ratio: 0.8, psi_io_full_ratio: 0.9, procs_blocked: 0.7 },
    regimes: [4],
    actionFiles: /^(io\.max|blkio\.)/,
    // A danger on I/O (e.g. a neighbour's I/O stall attributed to one cgroup), however the engine words it.
    dangerWords: /\bi\/?o\b|blkio|disk|block/,
    contributes: ["io", "blk_ios"],
  },
  {
    mode: "connection_flood",
    title: "connection flood",
    dims: {
      tcp_active_opens_per_s: 1,
      tcp_passive_opens_per_s: 1,
      tcp_established: 1,
      net_rx_packets_per_s: 0.7,
      net_tx_packets_per_s: 0.7,
      net_rx_bytes_per_s: 0.5,
      net_tx_bytes_per_s: 0.5,
      tcp_retrans_per_s: 0.6,
    },
    regimes: [3, 5],
    actionFiles: /^xdp/,
    actionKinds: ["xdp"],
    dangerWords: /\b(tcp|conn|connections?|sockets?)\b/,
    contributes: ["tcp_opens"],
  },
  {
    mode: "cpu_saturation",
    title: "CPU saturation",
    dims: { cpu_busy_ratio: 1, psi_cpu_some_ratio: 0.9, psi_cpu_full_ratio: 0.9, runq_latency_us: 0.7, procs_running: 0.6, ctx_switches_per_s: 0.3 },
    regimes: [4],
    // cpu.weight / cpu.shares are the Level 2 step for every resource; the quota is the CPU one.
    actionFiles: /^cpu\.(max|cfs_quota_us)/,
    dangerWords: /\bcpu\b/,
    contributes: ["cpu"],
  },
  {
    mode: "anomalous_silence",
    title: "anomalous silence",
    dims: {},
    regimes: [-3],
    actionFiles: /$^/,
    dangerWords: /$^/,
    contributes: [],
  },
];

export interface Candidate {
  mode: FailureMode;
  title: string;
  cgroup: string | null;
  confidence: number;
  score: number;
  /** The parts of the score, for the story. */
  parts: { dims: number; onset: number; regime: number; actions: number; danger: number; history: number };
  evidence: EvidenceRef[];
}

export interface PastIncident {
  id: string;
  mode: FailureMode;
  cgroup: string | null;
  dims: { dim: string; share: number }[];
  verified: boolean;
}

export interface Hypotheses {
  top: Candidate | null;
  candidates: Candidate[];
  similar: { id: string; mode: FailureMode; similarity: number; verified: boolean }[];
}

/** Cosine similarity of two dimension-share profiles. */
export function similarity(a: { dim: string; share: number }[], b: { dim: string; share: number }[]): number {
  const mb = new Map(b.map((x) => [x.dim, x.share]));
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (const x of a) {
    dot += x.share * (mb.get(x.dim) ?? 0);
    na += x.share * x.share;
  }
  for (const x of b) nb += x.share * x.share;
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

function ref(e: LogEntry, why: string): EvidenceRef {
  return { seq: e.seq, hash: e.hash, why };
}

/**
 * Rank the failure modes. Each score is a weighted sum of evidence in
 * [0,1]: how much of D_M² the mode's dimensions carry over the episode
 * (0.35) and when it opened (0.15), the engine's regime (0.05), what the
 * responder did and to which resource (0.2), the engine's danger (what runs
 * out) or a time to failure naming the resource (0.25: the strongest
 * evidence, the one that lets hosa slow a workload at all); a verified
 * similar past incident on this node adds up to 0.1.
 */
export function hypothesize(ep: Episode, obs: Observation, past: PastIncident[] = [], opts: { dangerHorizonS?: number } = {}): Hypotheses {
  const horizonS = opts.dangerHorizonS ?? DEFAULT_DANGER_HORIZON_S;
  const decisions = distinctDecisions(ep.entries.filter((e) => e.level > 0 || e.kind === "action"));
  const maxWeight = Math.max(1e-9, ...decisions.map(decisionWeight));
  const actionEntries = ep.entries.filter((e) => e.kind === "action" && !String(e.outcome ?? "").startsWith("restored"));
  const similar = past
    .map((p) => ({ id: p.id, mode: p.mode, similarity: round3(similarity(obs.dims, p.dims)), verified: p.verified, cgroup: p.cgroup }))
    .filter((p) => p.similarity >= 0.8)
    .sort((a, b) => b.similarity - a.similarity)
    .slice(0, 3);
  const candidates: Candidate[] = [];
  const engineNamedDanger = ep.entries.some((e) => typeof e.danger_resource === "string" && e.danger_resource !== "");
  for (const sig of SIGNATURES) {
    const evidence: EvidenceRef[] = [];
    // Dimensions: the mean over decisions of the shares of this mode's dims, weighted.
    let dimScore = 0;
    let weights = 0;
    let bestDimEntry: { e: LogEntry; s: number; dims: string } | null = null;
    for (const e of decisions) {
      let s = 0;
      const named: string[] = [];
      for (const c of e.dominant_dims ?? []) {
        const w = sig.dims[c.dim];
        if (w) {
          s += w * num(c.share, 0);
          named.push(`${c.dim} ${Math.round(num(c.share, 0) * 100)}%`);
        }
      }
      dimScore += decisionWeight(e) * s;
      weights += decisionWeight(e);
      if (s > 0 && (!bestDimEntry || s > bestDimEntry.s)) bestDimEntry = { e, s, dims: named.join(", ") };
    }
    dimScore /= Math.max(1e-9, weights);
    if (bestDimEntry) evidence.push(ref(bestDimEntry.e, `dominant ${bestDimEntry.dims}`));
    // Regime.
    const inRegime = decisions.filter((e) => sig.regimes.includes(num(e.regime, 0)));
    const share = (list: LogEntry[]) => list.reduce((s, e) => s + decisionWeight(e), 0) / Math.max(1e-9, weights);
    let regimeScore = weights > 0 ? share(inRegime) : 0;
    if (sig.mode === "anomalous_silence") {
      const falling = weights > 0 ? share(decisions.filter((e) => num(e.phi, 0) < 0)) : 0;
      regimeScore = Math.min(1, regimeScore * 0.7 + falling * 0.3);
      dimScore = regimeScore;
    }
    if (inRegime[0]) evidence.push(ref(inRegime[0], `regime ${REGIME_NAMES[inRegime[0].regime as Regime] ?? inRegime[0].regime}`));
    // Actions on this resource: the responder chose the cgroup whose consumption of it grew most.
    // An action the responder took on the cgroup of a danger on this resource
    // (a freeze, a CPU share while a pids limit runs out) is on it too.
    const underDanger = (e: LogEntry) => typeof e.danger_resource === "string" && e.danger_resource !== "" && sig.dangerWords.test(e.danger_resource.toLowerCase()) && e.target_cgroup === e.danger_cgroup;
    const onResource = actionEntries.filter((e) => sig.actionFiles.test(String(e.action ?? "")) || (sig.actionKinds ?? []).includes(String(e.action_kind ?? "")) || underDanger(e));
    // The resource's own control files first: they say more than a share or a freeze.
    onResource.sort((a, b) => Number(underDanger(a) && !sig.actionFiles.test(String(a.action ?? ""))) - Number(underDanger(b) && !sig.actionFiles.test(String(b.action ?? ""))) || a.seq - b.seq);
    const applied = onResource.filter((e) => String(e.outcome ?? "").startsWith("applied"));
    const actionScore = actionEntries.length ? Math.min(1, (applied.length + 0.5 * (onResource.length - applied.length)) / Math.max(1, Math.min(actionEntries.length, 3))) : 0;
    if (onResource[0]) evidence.push(ref(applied[0] ?? onResource[0], `${String((applied[0] ?? onResource[0]).action)} on ${String((applied[0] ?? onResource[0]).target_cgroup ?? (applied[0] ?? onResource[0]).target)}: ${String((applied[0] ?? onResource[0]).outcome)}`));
    // Danger (trust issues) or time to failure naming this resource.
    let dangerScore = 0;
    // The engine names what runs out (danger_resource: "memory limit", "pids limit", "node memory").
    const dangerEntry = ep.entries.find((e) => typeof e.danger_resource === "string" && e.danger_resource !== "" && sig.dangerWords.test(e.danger_resource.toLowerCase()));
    // The engine's own time to failure on a dimension counts only where it named no danger (older logs, CSV replays).
    const ttfEntry = engineNamedDanger ? undefined : ep.entries.find((e) => Number.isFinite(num(e.ttf_s)) && typeof e.ttf_dim === "string" && (sig.dims[e.ttf_dim] ?? 0) > 0);
    if (dangerEntry) {
      // Full within the engine's danger horizon (what it acts on); beyond, a
      // trajectory the engine itself does not call a danger, in proportion.
      const naming = ep.entries.filter((e) => e.danger_resource === dangerEntry.danger_resource);
      const ttf = Math.min(...naming.map((e) => num(e.danger_ttf_s, Infinity)));
      dangerScore = Number.isFinite(ttf) && ttf > horizonS ? horizonS / ttf : 1;
      // A danger the engine never contained (no Level ≥ 3 while it stood) was
      // seen, not confirmed: a few MiB growing for half a second as a
      // program starts, which its dwell let pass.
      const confirmed = naming.some((e) => e.level >= 3);
      if (!confirmed) dangerScore *= UNCONFIRMED_DANGER;
      evidence.push(ref(dangerEntry, `danger: ${String(dangerEntry.danger_evidence)}${dangerScore < 1 ? ` (${[Number.isFinite(ttf) && ttf > horizonS ? `beyond the ${horizonS} s horizon` : "", confirmed ? "" : "never contained"].filter(Boolean).join(", ")})` : ""}`));
    } else if (ttfEntry) {
      dangerScore = 0.7;
      evidence.push(ref(ttfEntry, `time to failure ${num(ttfEntry.ttf_s).toFixed(1)} s on ${ttfEntry.ttf_dim}`));
    }
    // Onset: what led when the episode opened. A cause precedes its effects
    // (a fork storm fills memory, not the other way round).
    const first = decisions[0];
    let onsetScore = 0;
    if (first) for (const c of first.dominant_dims ?? []) onsetScore += (sig.dims[c.dim] ?? 0) * num(c.share, 0);
    // As strong as the opening decision was, next to the episode's strongest:
    // a faint blip long before the surge says little about its cause.
    onsetScore = Math.min(1, onsetScore) * (first ? Math.min(1, decisionWeight(first) / maxWeight) : 0);
    if (first && onsetScore >= 0.5) evidence.push(ref(first, `leading when the episode opened: ${(first.dominant_dims ?? []).filter((c) => sig.dims[c.dim]).map((c) => `${c.dim} ${Math.round(num(c.share, 0) * 100)}%`).join(", ")}`));
    // History: a verified similar incident of the same mode.
    const like = similar.find((p) => p.mode === sig.mode);
    const history = like ? (like.verified ? 1 : 0.5) * like.similarity : 0;
    const score = 0.35 * Math.min(1, dimScore) + 0.15 * onsetScore + 0.05 * regimeScore + 0.2 * actionScore + 0.25 * dangerScore + 0.1 * history;
    const cgroup = cgroupFor(ep, sig, dangerEntry);
    if (cgroup.entry) evidence.push(ref(cgroup.entry, cgroup.why));
    if (like) evidence.push({ seq: -1, hash: "", why: `like ${like.id} (similarity ${like.similarity}${like.verified ? ", remediation verified" : ""})` });
    candidates.push({
      mode: sig.mode,
      title: sig.title,
      cgroup: cgroup.path,
      confidence: 0,
      score: round3(score),
      parts: { dims: round3(dimScore), onset: round3(onsetScore), regime: round3(regimeScore), actions: round3(actionScore), danger: round3(dangerScore), history: round3(history) },
      evidence,
    });
  }
  candidates.sort((a, b) => b.score - a.score || a.mode.localeCompare(b.mode));
  // Confidence: how far a mode stands out from the next best (its share of
  // the two), damped while its own evidence is thin (a score under 0.6).
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i]!;
    const rival = i === 0 ? (candidates[1]?.score ?? 0) : candidates[0]!.score;
    const share = c.score + rival > 0 ? c.score / (c.score + rival) : 0;
    c.confidence = round3(share * Math.min(1, c.score / 0.6));
  }
  const top = candidates[0] && candidates[0].score > 0.05 ? candidates[0] : null;
  return { top, candidates, similar: similar.map(({ cgroup: _c, ...s }) => s) };
}

/** The cgroup a mode points at: danger names it; else the one the responder acted on for this resource; else any it acted on. */
function cgroupFor(ep: Episode, sig: Signature, dangerEntry: LogEntry | undefined): { path: string | null; entry: LogEntry | null; why: string } {
  if (dangerEntry && typeof dangerEntry.danger_cgroup === "string" && dangerEntry.danger_cgroup) {
    return { path: dangerEntry.danger_cgroup, entry: dangerEntry, why: `danger names ${dangerEntry.danger_cgroup}` };
  }
  const danger = ep.entries.find((e) => typeof e.danger_cgroup === "string" && e.danger_cgroup);
  const actions = ep.entries.filter((e) => e.kind === "action" && typeof e.target_cgroup === "string" && e.target_cgroup);
  const rank = (list: LogEntry[]) => {
    const count = new Map<string, { n: number; e: LogEntry }>();
    for (const e of list) {
      const p = String(e.target_cgroup);
      const w = String(e.outcome ?? "").startsWith("applied") ? 2 : 1;
      const c = count.get(p);
      if (c) c.n += w;
      else count.set(p, { n: w, e });
    }
    return [...count].sort((a, b) => b[1].n - a[1].n || a[0].localeCompare(b[0]))[0];
  };
  const own = rank(actions.filter((e) => sig.actionFiles.test(String(e.action ?? ""))));
  if (own) return { path: own[0], entry: own[1].e, why: `hosa acted on ${own[0]} for this resource (its consumption grew most)` };
  const grew = topContributor(ep, sig.contributes);
  if (grew) return { path: grew.c.cgroup, entry: grew.e, why: `${grew.c.cgroup} consumed most ${grew.c.resource} over the episode (${formatRate(grew.c)} over ${grew.c.over_s} s)` };
  if (danger) return { path: String(danger.danger_cgroup), entry: danger, why: `danger names ${String(danger.danger_cgroup)}` };
  const any = rank(actions);
  if (any) return { path: any[0], entry: any[1].e, why: `hosa's target: ${any[0]}` };
  return { path: null, entry: null, why: "" };
}

interface ContributorSeen {
  resource: string;
  cgroup: string;
  per_s: number;
  over_s: number;
}

/**
 * The agent's attribution (the `contributors` of its level entries, from the
 * second of an episode on): for these resources, in their order of
 * preference, the cgroup that consumed most over the longest window logged
 * (per_s × over_s). Null on logs without the field.
 */
export function topContributor(ep: Episode, resources: string[]): { c: ContributorSeen; e: LogEntry } | null {
  for (const resource of resources) {
    let best: { c: ContributorSeen; e: LogEntry; total: number } | null = null;
    for (const e of ep.entries) {
      if (e.kind !== "level" || !Array.isArray(e.contributors)) continue;
      for (const raw of e.contributors as unknown[]) {
        const c = raw as Partial<ContributorSeen>;
        if (c?.resource !== resource || typeof c.cgroup !== "string" || !c.cgroup || !(num(c.per_s, 0) > 0) || !(num(c.over_s, 0) > 0)) continue;
        const total = num(c.per_s) * num(c.over_s);
        if (!best || total > best.total) best = { c: c as ContributorSeen, e, total };
      }
    }
    if (best) return { c: best.c, e: best.e };
  }
  return null;
}

function formatRate(c: ContributorSeen): string {
  if (c.resource === "cpu") return `${c.per_s.toFixed(2)} CPU`;
  if (c.resource === "memory" || c.resource === "io") return `${(c.per_s / 2 ** 20).toFixed(1)} MiB/s`;
  return `${c.per_s.toFixed(1)} ${c.resource}/s`;
}

function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}
