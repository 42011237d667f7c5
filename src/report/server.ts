// /metrics (Prometheus text exposition format 0.0.4), /healthz and /explain
// on loopback. Every request takes one snapshot; nothing here touches the
// reflex path, and a slow scraper only costs its own request.
import { EXIT, HosaError } from "../errors.ts";
import type { AgentSnapshot } from "./snapshot.ts";
import { snapshotToJson } from "./snapshot.ts";

/** "127.0.0.1:9465", "[::1]:9465" or ":9465" (loopback) into host and port. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new HosaError(`cannot listen on "${listen}": expected HOST:PORT`, EXIT.CONFIG);
  }
  return { host: m[1] ?? (m[2] || "127.0.0.1"), port };
}

function num(v: number | undefined | null): string {
  if (v === undefined || v === null || Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function labelValue(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** The snapshot in Prometheus text format; names carry their unit. */
export function renderMetrics(s: AgentSnapshot): string {
  const out: string[] = [];
  const metric = (name: string, type: "gauge" | "counter" | "summary", help: string, samples: [string, number | undefined | null][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) out.push(`${name}${labels} ${num(v)}`);
  };
  // A summary's _sum and _count belong to it: they follow without HELP/TYPE of their own.
  const more = (name: string, v: number) => out.push(`${name} ${num(v)}`);
  const d = s.decision;
  metric("hosa_info", "gauge", "Build and node of this agent (always 1).", [
    [`{version="${labelValue(s.hosaVersion)}",node="${labelValue(s.node)}",mode="${s.mode}"}`, 1],
  ]);
  metric("hosa_start_time_seconds", "gauge", "Agent start time, seconds since the epoch.", [["", Date.parse(s.startedAt) / 1000]]);
  metric("hosa_level", "gauge", "Response level 0..5 (document 004).", [["", d ? d.level : 0]]);
  metric("hosa_dm", "gauge", "EWMA-smoothed Mahalanobis distance D_M.", [["", d?.dm]]);
  metric("hosa_dm_raw", "gauge", "Raw Mahalanobis distance of the last sample.", [["", d?.dmRaw]]);
  metric("hosa_dm_derivative", "gauge", "dD_M/dt, per second.", [["", d?.dmDerivative]]);
  metric("hosa_dm_acceleration", "gauge", "d2D_M/dt2, per second squared.", [["", d?.dmAcceleration]]);
  metric("hosa_phi", "gauge", "Load direction index phi.", [["", d?.phi]]);
  metric("hosa_regime", "gauge", "Regime classification -3..+5.", [["", d?.regime]]);
  metric("hosa_ttf_seconds", "gauge", "Smallest time to failure over exhaustible dimensions.", [["", d?.ttfS]]);
  const th = d?.thresholds;
  metric("hosa_threshold", "gauge", "Thresholds theta1..theta4 on D_M.", [
    ['{level="1"}', th?.theta1],
    ['{level="2"}', th?.theta2],
    ['{level="3"}', th?.theta3],
    ['{level="4"}', th?.theta4],
  ]);
  metric(
    "hosa_contribution",
    "gauge",
    "Share of D_M squared per dimension (shares sum to 1).",
    (d?.dominant ?? []).map((c) => [`{dim="${labelValue(c.dim)}"}`, c.share] as [string, number]),
  );
  metric("hosa_actions_in_force", "gauge", "Actions applied and not yet restored.", [["", s.actionsInForce.length]]);
  metric("hosa_outbox_depth", "gauge", "Webhook messages waiting on disk.", [["", s.outboxDepth]]);
  metric("hosa_outbox_dropped_total", "counter", "Webhook messages dropped because the outbox was full.", [["", s.outboxDropped ?? 0]]);
  metric("hosa_tick_duration_seconds", "gauge", "Duration of the last tick.", [["", s.tickDurationMs.last / 1000]]);
  metric("hosa_tick_duration_max_seconds", "gauge", "Longest tick since start.", [["", s.tickDurationMs.max / 1000]]);
  // Quantiles over the last 1024 ticks: a summary, the one type a quantile
  // label belongs to (a gauge with one fails `promtool check metrics`).
  const j = s.tickJitterMs;
  metric("hosa_tick_jitter_seconds", "summary", "Lateness of ticks against their schedule (quantiles over the last 1024 ticks).", [
    ['{quantile="0.5"}', j.p50 / 1000],
    ['{quantile="0.99"}', j.p99 / 1000],
  ]);
  if (j.sumMs !== undefined && j.count !== undefined) {
    more("hosa_tick_jitter_seconds_sum", j.sumMs / 1000);
    more("hosa_tick_jitter_seconds_count", j.count);
  }
  metric("hosa_tick_jitter_max_seconds", "gauge", "Latest tick against its schedule since start.", [["", j.max / 1000]]);
  metric("hosa_tick_interval_seconds", "gauge", "Current tick interval.", [["", s.tickMs / 1000]]);
  metric("hosa_ticks_total", "counter", "Ticks since start.", [["", s.ticks]]);
  const sm = s.sampler;
  if (sm) {
    metric("hosa_sampler_wakes_total", "counter", "Wakes of the agent by libhosa's sampler at calm (a batch ready or a tripwire).", [["", sm.wakes]]);
    metric("hosa_sampler_snapshots_total", "counter", "Ticks processed from the sampler's snapshots.", [["", sm.snapshots]]);
    metric("hosa_sampler_dropped_total", "counter", "Snapshots dropped unprocessed when the agent went vigilant.", [["", sm.dropped]]);
    metric("hosa_sampler_skipped_total", "counter", "Snapshots not taken because the ring was full (the agent behind).", [["", sm.skipped]]);
    metric("hosa_sampler_tripwires_total", "counter", "Tripwires fired: the agent woken at once, not at the end of a batch.", [["", sm.tripped]]);
  }
  metric("hosa_probe_ebpf", "gauge", "1 when the eBPF probes are attached, 0 on the /proc fallback.", [["", s.probes.ebpf ? 1 : 0]]);
  // Warm-up is learning too: there is no decision yet, only samples going into the baseline.
  metric("hosa_learning", "gauge", "1 while the baseline learns (warm-up, then homeostasis).", [["", s.warmup || d?.learning ? 1 : 0]]);
  metric("hosa_warmup", "gauge", "1 while there is no baseline yet.", [["", s.warmup ? 1 : 0]]);
  return `${out.join("\n")}\n`;
}

/**
 * Serve /metrics, /healthz and /explain. Port 0 picks a free port (tests).
 * /healthz is 503 when the loop has stalled: no tick for 10 tick intervals.
 */
export function startReportServer(listen: string, snapshot: () => AgentSnapshot): { port: number; stop(): void } {
  const { host, port } = parseListen(listen);
  let seenTicks = -1;
  let seenAtMs = Date.now();
  const stalledMs = (s: AgentSnapshot, now: number): number => {
    if (s.lastTickAtMs !== undefined) return now - s.lastTickAtMs;
    // Without a tick timestamp, watch the counter move between requests.
    if (s.ticks !== seenTicks) {
      seenTicks = s.ticks;
      seenAtMs = now;
    }
    return now - seenAtMs;
  };
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: host,
      port,
      fetch(req) {
        const url = new URL(req.url);
        if (req.method !== "GET" && req.method !== "HEAD") return new Response("method not allowed\n", { status: 405 });
        const s = snapshot();
        switch (url.pathname) {
          case "/metrics":
            return new Response(renderMetrics(s), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } });
          case "/healthz": {
            const age = stalledMs(s, Date.now());
            const limit = 10 * Math.max(s.tickMs, 1);
            if (age > limit) return new Response(`stalled: no tick for ${Math.round(age)} ms\n`, { status: 503 });
            return new Response("ok");
          }
          case "/explain":
            return new Response(snapshotToJson(s), { headers: { "content-type": "application/json" } });
          default:
            return new Response("not found\n", { status: 404 });
        }
      },
    });
  } catch (e) {
    throw new HosaError(`cannot listen on ${listen}: ${String((e as Error).message ?? e).split("\n")[0]}`, EXIT.FAILURE);
  }
  return { port: server.port ?? port, stop: () => server.stop(true) };
}
