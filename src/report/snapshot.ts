// What the live agent exposes to /metrics, /healthz, /explain and
// `hosa explain`: a plain copy taken on request, never a live reference.
import type { Decision } from "../engine/types.ts";
import type { ActionRecord } from "../respond/types.ts";

export interface AgentSnapshot {
  startedAt: string;
  node: string;
  hosaVersion: string;
  mode: "detect" | "act";
  /** No baseline yet: the engine is still calibrating. */
  warmup: boolean;
  /** The last decision (a copy), null before the first. */
  decision: Decision | null;
  actionsInForce: ActionRecord[];
  recentActions: ActionRecord[];
  tickMs: number;
  tickDurationMs: { last: number; max: number };
  /** Lateness of ticks: quantiles of the last 1024, the largest since start, and the running sum and count (a Prometheus summary). */
  tickJitterMs: { p50: number; p99: number; max: number; sumMs?: number; count?: number };
  probes: { ebpf: boolean; detail: string };
  dims: string[];
  outboxDepth: number;
  ticks: number;
  /** Wall-clock ms of the last completed tick's sample; /healthz falls back to watching `ticks` when absent. */
  lastTickAtMs?: number;
  /** Hold times before de-escalating from levels 1..4, seconds (engine.hold_s), for `hosa explain`. */
  holdS?: number[];
  /** Webhook messages dropped because the outbox was full. */
  outboxDropped?: number;
  /**
   * libhosa's sampler at calm (docs/footprint.md § The sampler), counts since
   * start: wakes of the agent, ticks processed from snapshots, snapshots
   * dropped when the agent went vigilant, snapshots not taken because the
   * ring was full (the agent behind), tripwires fired. Absent without a sampler.
   */
  sampler?: { wakes: number; snapshots: number; dropped: number; skipped: number; tripped: number };
}

/** JSON cannot carry Infinity: ttfS travels as null and comes back as Infinity. */
export function snapshotToJson(s: AgentSnapshot): string {
  return JSON.stringify(s, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v));
}

export function snapshotFromJson(text: string): AgentSnapshot {
  const s = JSON.parse(text) as AgentSnapshot;
  if (s.decision) {
    const d = s.decision as unknown as Record<string, unknown>;
    for (const k of ["ttfS", "dm", "dmRaw", "dmDerivative", "dmAcceleration", "phi"]) if (d[k] === null) d[k] = k === "ttfS" ? Infinity : NaN;
  }
  return s;
}
