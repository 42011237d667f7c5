// The Lethal Interval benchmark (issue 7): hosa beside the kernel OOM killer,
// earlyoom, nohang and Prometheus + Alertmanager, on the same failures.
//
//   bun bench/lethal.ts [--scenario NAME]... [--runs N] [--quick] [--out FILE]
//
// One progress line per run with a time estimate; every run is bounded and
// cleans up after itself; the results (tables, machine, versions, SVG
// timelines) are generated into --out and --figures.
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, relative, resolve } from "node:path";
import { Command, CommanderError } from "commander";
import {
  availableBytes,
  BENCH_DIR,
  closeSuite,
  type Group,
  harnessUnsupported,
  openSuite,
  REPO_DIR,
  type RunRecord,
  runEpisode,
  type Suite,
} from "./harness.ts";
import { replayLatency, type ReplayLatency } from "./replay-episodes.ts";
import { neverNotes, resultsMarkdown, type SuiteReport } from "./report/results.ts";
import { timelineSvg } from "./report/svg.ts";
import { findScenario, type Scenario, SCENARIOS } from "./scenarios/index.ts";
import { HOSA_BIN, hosaVersion } from "./systems/hosa.ts";
import { daemonVersions } from "./systems/oom-daemons.ts";
import { prometheusVersions, SCRAPE_INTERVAL_S } from "./systems/prometheus.ts";
import { fmt } from "./lib/stats.ts";

export class BenchError extends Error {}

export interface LethalOptions {
  scenarios: string[];
  runs?: number;
  quick: boolean;
  withOptional: boolean;
  hosa: boolean;
  prometheus: boolean;
  replayEpisodes: number;
  calibrateS: number;
  out: string;
  figures: string;
  json?: string;
  command: string;
  log: (l: string) => void;
}

interface PlannedRun {
  scenario: Scenario;
  group: Group;
  run: number;
  of: number;
}

export function planRuns(o: Pick<LethalOptions, "scenarios" | "runs" | "quick" | "withOptional" | "hosa">): PlannedRun[] {
  let chosen: Scenario[];
  if (o.scenarios.length) {
    chosen = o.scenarios.map((n) => {
      const s = findScenario(n);
      if (!s) throw new BenchError(`unknown scenario "${n}": expected one of ${SCENARIOS.map((x) => x.name).join(", ")}`);
      return s;
    });
  } else {
    chosen = SCENARIOS.filter((s) => !s.optional || o.withOptional);
    if (o.quick) chosen = chosen.filter((s) => s.name !== "leak-5");
  }
  const plan: PlannedRun[] = [];
  for (const s of chosen) {
    for (const g of ["baseline", "hosa"] as const) {
      if (g === "hosa" && !o.hosa) continue;
      let n = o.runs ?? s.runs[g];
      if (o.quick) n = Math.min(n, 1);
      if (s.runs[g] === 0 && o.runs === undefined) n = 0;
      for (let i = 1; i <= n; i++) plan.push({ scenario: s, group: g, run: i, of: n });
    }
  }
  return plan;
}

/** Seconds a planned run is expected to take: its bound, the random pre-episode wait and set-up. */
function expectedS(p: PlannedRun, prometheus: boolean): number {
  const pre = prometheus ? 2 + SCRAPE_INTERVAL_S / 2 : 2;
  const episode = p.scenario.kind === "memory" && p.group === "baseline" ? Math.min(p.scenario.boundS, killEstimateS(p.scenario) + 2) : p.scenario.boundS;
  return pre + episode + (p.group === "hosa" ? 10 : 2);
}

function killEstimateS(s: Scenario): number {
  const m = /leak (\d+) MB\/s/.exec(s.title);
  return m ? s.memoryLimitBytes / 1048576 / Number(m[1]) : s.boundS;
}

function mmss(s: number): string {
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, "0")}s`;
}

function summaryLine(r: RunRecord): string {
  const parts = r.events
    .filter((e) => e.tS >= 0 && e.system !== "workload")
    .map((e) => `${e.system} ${e.kind} ${e.tS.toFixed(2)} s`);
  const n = r.neighbour.during;
  parts.push(`neighbour p99 ${fmt(n.p99Ms, 1)} ms`);
  if (r.workload.killed) parts.push(`killed by ${r.workload.killedBy}`);
  return parts.join(", ");
}

async function machineInfo(): Promise<Record<string, string>> {
  const read = (p: string) => {
    try {
      return readFileSync(p, "utf8").trim();
    } catch {
      return "";
    }
  };
  const uname = Bun.spawnSync(["uname", "-r"]).stdout.toString().trim();
  return {
    cpu: `${cpus().length} × ${cpus()[0]?.model ?? "unknown"}`,
    memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB, swap ${/SwapTotal:\s+(\d+)/.exec(read("/proc/meminfo"))?.[1] ?? "?"} kB`,
    kernel: uname,
    debian: read("/etc/debian_version") || "unknown",
    cgroups: read("/sys/fs/cgroup/cgroup.controllers") !== "" ? "v2" : "hybrid: v1 controllers, cgroup2 at /sys/fs/cgroup/unified",
  };
}

async function versions(): Promise<Record<string, string>> {
  const tool = (cmd: string[], re: RegExp) => {
    try {
      const r = Bun.spawnSync(cmd);
      return re.exec(r.stdout.toString() + r.stderr.toString())?.[1] ?? "unknown";
    } catch {
      return "not installed";
    }
  };
  const commit = tool(["git", "-C", REPO_DIR, "rev-parse", "--short", "HEAD"], /^(\w+)/);
  let built = "";
  try {
    built = `, ${HOSA_BIN.replace(`${REPO_DIR}/`, "")} built ${statSync(HOSA_BIN).mtime.toISOString()}`;
  } catch {}
  return {
    hosa: `${await hosaVersion()} (git ${commit}${built})`,
    bun: Bun.version,
    ...(await prometheusVersions()),
    ...(await daemonVersions()),
    "stress-ng": tool(["stress-ng", "--version"], /version (\S+)/),
    fio: tool(["fio", "--version"], /fio-(\S+)/),
  };
}

export async function runLethal(o: LethalOptions): Promise<SuiteReport> {
  const why = harnessUnsupported();
  if (why) throw new BenchError(`cannot run the benchmark: ${why}`);
  const plan = planRuns(o);
  if (plan.length === 0) throw new BenchError("nothing to run: no scenario has runs for the chosen systems");
  const startedAt = new Date().toISOString();
  const needsProm = o.prometheus;
  const runs: RunRecord[] = [];
  const skipped: { scenario: string; why: string }[] = [];
  let suite: Suite | null = null;
  const onSignal = () => {
    o.log("interrupted: cleaning up");
    void (suite ? closeSuite(suite) : Promise.resolve()).then(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let replay: ReplayLatency | null = null;
  try {
    suite = await openSuite({ prometheus: needsProm, hosa: o.hosa, calibrateS: o.calibrateS, log: o.log });
    const remaining = () => plan.slice(done).reduce((a, p) => a + expectedS(p, !!suite?.prometheus), 0);
    let done = 0;
    const t0 = performance.now();
    for (const p of plan) {
      const label = `[${done + 1}/${plan.length}] ${p.scenario.name} ${p.group === "baseline" ? "kernel+watchers" : "hosa"} run ${p.run}/${p.of}`;
      if (p.group === "hosa" && suite.unavailable.hosa) {
        if (!skipped.some((s) => s.scenario === `${p.scenario.name} (hosa)`)) skipped.push({ scenario: `${p.scenario.name} (hosa)`, why: suite.unavailable.hosa });
        done++;
        continue;
      }
      if (p.scenario.needsAvailableBytes && availableBytes() < p.scenario.needsAvailableBytes) {
        const why = `needs ${(p.scenario.needsAvailableBytes / 1024 ** 3).toFixed(0)} GiB available, the machine had ${(availableBytes() / 1024 ** 3).toFixed(1)} GiB`;
        skipped.push({ scenario: p.scenario.name, why });
        o.log(`${label}: skipped, ${why}`);
        done++;
        continue;
      }
      o.log(`${label}: up to ${p.scenario.boundS} s (elapsed ${mmss((performance.now() - t0) / 1000)}, about ${mmss(remaining())} left)`);
      try {
        const r = await runEpisode(suite, p.scenario, p.group, p.run);
        runs.push(r);
        o.log(`  ${summaryLine(r)}`);
      } catch (e) {
        const msg = (e as Error).message.split("\n")[0];
        o.log(`  failed: ${msg}`);
        if (p.group === "hosa") suite.unavailable.hosa = msg;
        else skipped.push({ scenario: `${p.scenario.name} run ${p.run}`, why: msg });
      }
      done++;
    }
    if (o.hosa && o.replayEpisodes > 0 && !suite.unavailable.hosa?.startsWith("no hosa executable")) {
      o.log(`replaying ${o.replayEpisodes} synthetic leak episodes through hosa replay`);
      const dir = `${suite.dir}/replay`;
      mkdirSync(dir, { recursive: true });
      const side = Math.max(10, Math.round(o.replayEpisodes / 10));
      replay = await replayLatency(dir, [
        { rateMbPerS: 50, episodes: o.replayEpisodes },
        { rateMbPerS: 5, episodes: side },
        { rateMbPerS: 500, episodes: side },
      ], o.log);
    }
  } finally {
    if (suite) await closeSuite(suite);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  const s = suite as Suite;
  const report: SuiteReport = {
    command: o.command,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: await machineInfo(),
    versions: await versions(),
    unavailable: s.unavailable,
    hosaCalibration: s.hosaCalibration,
    scenarios: [...new Set(plan.map((p) => p.scenario))],
    runs,
    skipped,
    replay,
    figuresDir: relative(dirname(resolve(o.out)), resolve(o.figures)) || ".",
  };
  writeOutputs(report, o);
  return report;
}

export function writeOutputs(report: SuiteReport, o: Pick<LethalOptions, "out" | "figures" | "json">): void {
  mkdirSync(resolve(o.figures), { recursive: true });
  for (const sc of report.scenarios) {
    const rs = report.runs.filter((r) => r.scenario === sc.name);
    if (!rs.length) continue;
    writeFileSync(`${resolve(o.figures)}/${sc.name}.svg`, timelineSvg(sc, rs, neverNotes(sc, rs)));
  }
  mkdirSync(dirname(resolve(o.out)), { recursive: true });
  writeFileSync(resolve(o.out), resultsMarkdown(report));
  if (o.json) {
    mkdirSync(dirname(resolve(o.json)), { recursive: true });
    writeFileSync(resolve(o.json), JSON.stringify(report, null, 1));
  }
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command()
    .name("bun bench/lethal.ts")
    .description("The Lethal Interval benchmark: hosa beside the kernel OOM killer, earlyoom, nohang and Prometheus")
    .option("-s, --scenario <name...>", `scenario(s) to run (default: all but the optional ones): ${SCENARIOS.map((s) => s.name).join(", ")}`)
    .option("-r, --runs <n>", "runs per scenario and system (default: each scenario's own)")
    .option("--quick", "one run per scenario and system, no 5 MB/s leak, 100 replayed episodes")
    .option("--with-optional", "include optional scenarios (leak-50-12g: 12 GiB limit, the alert path, needs 14 GiB free)")
    .option("--no-hosa", "leave hosa out")
    .option("--no-prometheus", "leave Prometheus + Alertmanager out")
    .option("--replay-episodes <n>", "synthetic leak episodes replayed through `hosa replay` (default 1000, --quick 100)")
    .option("--calibrate <seconds>", "hosa's live calibration before the runs", "60")
    .option("-o, --out <file>", "results markdown", `${BENCH_DIR}/RESULTS-lethal.md`)
    .option("--figures <dir>", "SVG timelines", `${BENCH_DIR}/figures`)
    .option("--json <file>", "every run record as JSON (default bench/out/lethal-<time>.json)")
    .exitOverride()
    .configureOutput({ writeErr: (s) => (s.startsWith("error:") ? undefined : process.stderr.write(s)) });
  try {
    program.parse(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.help") return 0;
      process.stderr.write(`lethal: ${e.message.replace(/^error: /, "")}\n`);
      return 2;
    }
    throw e;
  }
  const f = program.opts();
  const num = (v: string | undefined, what: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new BenchError(`invalid ${what} "${v}": expected a whole number`);
    return n;
  };
  try {
    const quick = Boolean(f.quick);
    const stamp = new Date().toISOString().replace(/[:.]/g, "-");
    const opts: LethalOptions = {
      scenarios: f.scenario ?? [],
      runs: num(f.runs, "--runs"),
      quick,
      withOptional: Boolean(f.withOptional),
      hosa: f.hosa !== false,
      prometheus: f.prometheus !== false,
      replayEpisodes: num(f.replayEpisodes, "--replay-episodes") ?? (quick ? 100 : 1000),
      calibrateS: num(f.calibrate, "--calibrate") ?? 60,
      out: f.out,
      figures: f.figures,
      json: f.json ?? `${BENCH_DIR}/out/lethal-${stamp}.json`,
      command: `bun bench/lethal.ts ${argv.join(" ")}`.trim(),
      log: (l) => process.stderr.write(`${l}\n`),
    };
    const plan = planRuns(opts);
    opts.log(`lethal: ${plan.length} runs planned; results to ${relative(REPO_DIR, resolve(opts.out))}`);
    await runLethal(opts);
    opts.log(`lethal: wrote ${opts.out}, ${opts.figures}/*.svg and ${opts.json}`);
    return 0;
  } catch (e) {
    process.stderr.write(`lethal: ${(e as Error).message.split("\n")[0]}\n`);
    return e instanceof BenchError ? 2 : 1;
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
