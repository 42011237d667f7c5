// hosa as the benchmark runs it: dist/hosa, calibrated once on this machine,
// then `hosa run` with `[respond] mode = "act"` and its scope limited to the
// benchmark's own cgroups, every path in the benchmark's temp dir. Its
// decision log says when it detected (first level >= 1) and when it contained
// (first applied cgroup action on the scenario's cgroup).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { collectLines, type StampedLine } from "../lib/lines.ts";
import { stopPid } from "../lib/procstat.ts";

export const REPO = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
export const HOSA_BIN = process.env.HOSA_BENCH_BIN ?? `${REPO}/dist/hosa`;

export interface HosaPaths {
  dir: string;
  config: string;
  baseline: string;
  logFile: string;
  stateDir: string;
  metricsPort: number;
}

export function writeHosaConfig(p: HosaPaths, cgroupScope: string, latencySensitive: string[] = []): void {
  const q = (s: string) => JSON.stringify(s);
  writeFileSync(
    p.config,
    `[paths]\nstate_dir = ${q(p.stateDir)}\nlog_file = ${q(p.logFile)}\nbaseline = ${q(p.baseline)}\n\n` +
      `[respond]\nmode = "act"\ncgroup_scope = ${q(cgroupScope)}\n${latencySensitive.length ? `latency_sensitive = ${JSON.stringify(latencySensitive)}\n` : ""}\n` +
      `[report]\nmetrics_listen = ${q(`127.0.0.1:${p.metricsPort}`)}\n`,
  );
}

async function runBounded(cmd: string[], timeoutMs: number): Promise<{ code: number | null; out: string; err: string }> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  clearTimeout(timer);
  return { code, out, err };
}

/** Why hosa cannot be benchmarked here (no binary), else null. */
export function hosaMissing(bin = HOSA_BIN): string | null {
  return existsSync(bin) ? null : `no hosa executable at ${bin} (run scripts/build.sh)`;
}

export async function hosaVersion(bin = HOSA_BIN): Promise<string> {
  if (hosaMissing(bin)) return "not built";
  const r = await runBounded([bin, "--version"], 10000);
  return r.out.trim() || "unknown";
}

/** Live calibration on this machine's load; throws with hosa's own message when it fails. */
export async function calibrateHosa(p: HosaPaths, durationS: number, bin = HOSA_BIN): Promise<string> {
  const r = await runBounded([bin, "-c", p.config, "calibrate", "--duration", `${durationS}s`], (durationS + 60) * 1000);
  if (r.code !== 0) throw new Error(`hosa calibrate exited ${r.code}: ${(r.err || r.out).trim().split("\n").pop()}`);
  return r.out.trim();
}

export interface HosaLogEntry {
  kind: string;
  /** Harness seconds, from the entry's wall-clock timestamp. */
  tS: number;
  level: number;
  levelName: string;
  dm: number | null;
  targetCgroup: string | null;
  /** What the action was aimed at: a cgroup, a pid, a node. */
  target: string | null;
  action: string | null;
  outcome: string | null;
  reason: string;
  dominant: string;
}

/** `2026-03-10T14:23:09.127000000Z` to epoch ms with the sub-ms digits kept. */
export function parseWallMs(ts: string): number {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(ts);
  if (!m) return Date.parse(ts);
  const frac = (m[2] ?? "0").padEnd(9, "0");
  return Date.parse(`${m[1]}Z`) + Number(frac) / 1e6;
}

/** Parse the decision log; `wallAtZeroMs` is the wall clock at harness time 0. */
export function readHosaLog(path: string, wallAtZeroMs: number): HosaLogEntry[] {
  let text = "";
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  const out: HosaLogEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof e.kind !== "string" || typeof e.timestamp !== "string") continue;
    const dom = Array.isArray(e.dominant_dims)
      ? (e.dominant_dims as { dim: string; share: number }[])
          .slice(0, 3)
          .map((c) => `${c.dim}:${Math.round(c.share * 100)}%`)
          .join(", ")
      : "";
    out.push({
      kind: e.kind,
      tS: (parseWallMs(e.timestamp) - wallAtZeroMs) / 1000,
      level: Number(e.level ?? 0),
      levelName: String(e.level_name ?? ""),
      dm: typeof e.d_m === "number" ? e.d_m : null,
      targetCgroup: typeof e.target_cgroup === "string" ? e.target_cgroup : null,
      target: typeof e.target === "string" ? e.target : null,
      action: typeof e.action === "string" ? e.action : null,
      outcome: typeof e.outcome === "string" ? e.outcome : null,
      reason: String(e.reason ?? ""),
      dominant: dom,
    });
  }
  return out;
}

/** Does this action contain the scenario's cgroup (an applied cgroup limit on it or below it)? */
export function isContainment(e: HosaLogEntry, scenarioCgroupSuffix: string): boolean {
  return (
    e.kind === "action" &&
    (e.outcome ?? "").startsWith("applied") &&
    e.targetCgroup !== null &&
    (e.targetCgroup === scenarioCgroupSuffix || e.targetCgroup.endsWith(scenarioCgroupSuffix) || e.targetCgroup.includes(`${scenarioCgroupSuffix}/`))
  );
}

export interface HosaAgent {
  proc: Bun.Subprocess;
  lines: StampedLine[];
  paths: HosaPaths;
  stop(): Promise<void>;
}

/** Start `hosa run`; resolves once its /healthz answers, or throws with its last words. */
export async function startHosa(p: HosaPaths, now: () => number, bin = HOSA_BIN, timeoutMs = 20000): Promise<HosaAgent> {
  const proc = Bun.spawn([bin, "-c", p.config, "run"], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const lines: StampedLine[] = [];
  void collectLines(proc.stdout, now, lines);
  void collectLines(proc.stderr, now, lines);
  const agent: HosaAgent = { proc, lines, paths: p, stop: () => stopPid(proc, 10000) };
  const deadline = performance.now() + timeoutMs;
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  for (;;) {
    if (exited) throw new Error(`hosa run exited ${proc.exitCode}: ${lines.map((l) => l.line).slice(-2).join(" | ")}`);
    try {
      const r = await fetch(`http://127.0.0.1:${p.metricsPort}/healthz`, { signal: AbortSignal.timeout(500) });
      if (r.status < 500) return agent;
    } catch {}
    if (performance.now() > deadline) {
      await agent.stop();
      throw new Error(`hosa run did not answer /healthz within ${timeoutMs / 1000} s: ${lines.map((l) => l.line).slice(-2).join(" | ")}`);
    }
    await Bun.sleep(200);
  }
}
