// Plain words for an SRE in the middle of an incident: what hosa sees, why,
// what it did, and what would make it stand down. Pure functions from a
// snapshot or log entries to text; src/cli/commands/explain.ts prints them.
import type { Decision, Thresholds } from "../engine/types.ts";
import { LEVEL_NAMES } from "../engine/types.ts";
import type { AgentSnapshot } from "./snapshot.ts";
import { thresholdsCrossed } from "../engine/fields.ts";

/** Document 004 §11: leaving level N needs D_M below θ(N-1) (θ1 for levels 1 and 2) for the hold time of N. */
export function deescalation(level: number, th: Thresholds, holdS: number[]): { to: number; theta: string; value: number; holdS: number } | null {
  if (level <= 0 || level >= 5) return null;
  const k = Math.max(1, level - 1) as 1 | 2 | 3 | 4;
  const theta = `theta${k}` as keyof Thresholds;
  return { to: level - 1, theta: `θ${k}`, value: th[theta], holdS: holdS[level - 1] ?? NaN };
}

const fmt = (v: number, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : "n/a");
const signed = (v: number, digits = 2) => (Number.isFinite(v) ? `${v >= 0 ? "+" : ""}${v.toFixed(digits)}` : "n/a");

/** A share in [0,1] as a bar of full blocks, `width` cells wide. */
export function shareBar(share: number, width = 20): string {
  const s = Number.isFinite(share) ? Math.min(1, Math.max(0, share)) : 0;
  const full = Math.round(s * width);
  return `${"█".repeat(full)}${"·".repeat(width - full)}`;
}

/** One line for a webhook summary or a timeline: level, D_M against its threshold, direction, dominant dims. */
export function summaryLine(d: Decision): string {
  const crossed = thresholdsCrossed(d);
  const th = crossed.length > 0 ? ` > θ${crossed.length} ${fmt(d.thresholds[crossed[crossed.length - 1] as keyof Thresholds])}` : ` < θ1 ${fmt(d.thresholds.theta1)}`;
  const dims = d.dominant
    .slice(0, 3)
    .map((c) => `${c.dim} ${Math.round(c.share * 100)}%`)
    .join(", ");
  return `level ${d.level} ${d.levelName}: D_M ${fmt(d.dm)}${th}, ${signed(d.dmDerivative)}/s${dims ? `; dominant ${dims}` : ""}`;
}

/** The live explanation, several lines. */
export function explainSnapshot(s: AgentSnapshot, holdS: number[]): string {
  const out: string[] = [];
  const d = s.decision;
  out.push(`hosa on ${s.node} (${s.mode === "act" ? "acting" : "detection only"}), up since ${s.startedAt}, ${s.probes.ebpf ? "eBPF probes" : `/proc fallback (${s.probes.detail})`}`);
  if (s.warmup || !d) {
    out.push(s.warmup ? "No baseline yet: hosa is still learning what normal is on this node; no decisions." : "No decision yet.");
    return `${out.join("\n")}\n`;
  }
  out.push("", ...explainDecision(d, holdS));
  out.push("", "What was done:");
  if (s.actionsInForce.length === 0 && s.recentActions.length === 0) out.push("  nothing (no action in force)");
  for (const a of s.actionsInForce) out.push(`  in force  ${a.target}  ${a.action}  (${a.outcome}, level ${a.level})`);
  const inForce = new Set(s.actionsInForce.map((a) => a.id));
  for (const a of s.recentActions.filter((a) => !inForce.has(a.id)).slice(-5)) out.push(`  recent    ${a.target}  ${a.action}  (${a.outcome}, level ${a.level})`);
  return `${out.join("\n")}\n`;
}

/** The part of an explanation that a decision alone can tell (live or from the log). */
export function explainDecision(d: Decision, holdS: number[]): string[] {
  const out: string[] = [];
  out.push(`Level ${d.level} ${d.levelName}${d.previousLevel !== d.level ? ` (was ${d.previousLevel} ${LEVEL_NAMES[d.previousLevel] ?? ""})` : ""}`);
  const th = d.thresholds;
  const crossed = thresholdsCrossed(d);
  const why: string[] = [];
  if (crossed.length === 0) why.push(`D_M ${fmt(d.dm)} is below every threshold (θ1 ${fmt(th.theta1)})`);
  else why.push(`D_M ${fmt(d.dm)} is above ${crossed.map((c) => `θ${c.slice(5)} ${fmt(th[c as keyof Thresholds])}`).join(", ")}`);
  const direction = d.dmDerivative > 0 ? "rising" : d.dmDerivative < 0 ? "falling" : "steady";
  const accel = d.dmAcceleration > 0 ? "accelerating" : d.dmAcceleration < 0 ? "decelerating" : "at constant speed";
  why.push(`${direction} ${signed(d.dmDerivative)}/s, ${accel} ${signed(d.dmAcceleration)}/s²`);
  if (Number.isFinite(d.ttfS) && d.ttfDim) why.push(`${d.ttfDim} runs out in ${fmt(d.ttfS, 0)} s at this rate`);
  out.push(`Why: ${why.join("; ")}.`);
  if (d.reason) out.push(`Engine: ${d.reason}`);
  out.push(`Thresholds: θ1 ${fmt(th.theta1)}  θ2 ${fmt(th.theta2)}  θ3 ${fmt(th.theta3)}  θ4 ${fmt(th.theta4)}   φ ${signed(d.phi)}  regime ${d.regime}`);
  if (d.dominant.length > 0) {
    out.push("Top dimensions (share of D_M²):");
    const w = Math.max(...d.dominant.slice(0, 5).map((c) => c.dim.length));
    for (const c of d.dominant.slice(0, 5)) out.push(`  ${c.dim.padEnd(w)}  ${shareBar(c.share)} ${String(Math.round(c.share * 100)).padStart(3)}%`);
  }
  const de = deescalation(d.level, th, holdS);
  if (d.level === 5) out.push("Way out: Level 5 is left only by hand (`hosa quarantine release`).");
  else if (de) out.push(`Way out: back to level ${de.to} when D_M stays below ${de.theta} ${fmt(de.value)} and is not rising for ${de.holdS} s.`);
  else out.push("Homeostasis: only a heartbeat leaves the node.");
  return out;
}

/** A log entry as written by DecisionLog (the fields of document 004). */
export type LogEntry = Record<string, unknown> & { kind?: string; timestamp?: string; level?: number; previous_level?: number; d_m?: number | null };

/** Seconds from "30s", "10m", "2h", "1d" (a bare number is seconds). */
export function parseDuration(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return null;
  const mult = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? "s") as "ms"];
  return Number(m[1]) * mult;
}

/** Epoch ms of an ISO timestamp that may carry nanoseconds. */
export function timestampMs(ts: unknown): number {
  if (typeof ts !== "string") return NaN;
  return Date.parse(ts.replace(/(\.\d{3})\d+/, "$1"));
}

/** Entries at most `sinceS` seconds before the last entry. */
export function entriesSince(entries: LogEntry[], sinceS: number | null): LogEntry[] {
  if (sinceS === null || entries.length === 0) return entries;
  const last = timestampMs(entries[entries.length - 1]!.timestamp);
  return entries.filter((e) => timestampMs(e.timestamp) >= last - sinceS * 1000);
}

function dominantText(e: LogEntry): string {
  const dims = Array.isArray(e.dominant_dims) ? (e.dominant_dims as { dim: string; share: number }[]) : [];
  return dims
    .slice(0, 3)
    .map((c) => `${c.dim}:${Math.round(c.share * 100)}%`)
    .join(", ");
}

/** The episode as a timeline: one line per level change or action. */
export function renderTimeline(entries: LogEntry[]): string {
  if (entries.length === 0) return "no entries\n";
  const out: string[] = [];
  const t0 = timestampMs(entries[0]!.timestamp);
  out.push(`${entries.length} entries from ${entries[0]!.timestamp} to ${entries[entries.length - 1]!.timestamp}`);
  for (const e of entries) {
    const rel = (timestampMs(e.timestamp) - t0) / 1000;
    const when = `${String(e.timestamp).slice(11, 23)} +${rel.toFixed(1).padStart(6)}s`;
    const dm = typeof e.d_m === "number" ? e.d_m.toFixed(2) : "n/a";
    if (e.kind === "action") {
      const effect = e.action_effect && e.action_effect !== e.outcome ? `, ${e.action_effect}` : "";
      out.push(`${when}  action   ${e.target ?? e.target_cgroup ?? ""}  ${e.action ?? ""}  ${e.outcome ?? ""}  (D_M ${dm}${effect})`);
    } else {
      const change = `${e.previous_level ?? "?"}→${e.level}`;
      out.push(`${when}  level ${change.padEnd(4)} ${String(e.level_name ?? "").padEnd(18)} D_M ${dm.padStart(7)}  dD/dt ${typeof e.d_m_derivative === "number" ? signed(e.d_m_derivative) : "n/a"}  ${dominantText(e)}${e.reason ? `  (${e.reason})` : ""}`);
    }
  }
  const levels = entries.filter((e) => e.kind !== "action").map((e) => Number(e.level));
  const actions = entries.filter((e) => e.kind === "action").length;
  if (levels.length > 0) out.push(`peak level ${Math.max(...levels)}, ${actions} action${actions === 1 ? "" : "s"}, now level ${levels[levels.length - 1]}`);
  return `${out.join("\n")}\n`;
}
