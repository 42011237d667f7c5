// The Lethal Interval harness: one episode of one scenario under one group of
// systems, measured from the workload's first instruction (t = 0).
//
// "baseline" runs the kernel alone (the cgroup limit and its OOM killer) with
// earlyoom, nohang and Prometheus + Alertmanager watching the same episode;
// "hosa" runs hosa acting (Prometheus still watching). Everything the harness
// creates lives under one temp dir and one cgroup of its own, and is removed
// by PID and by path when the run (or the suite) ends.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { freemem, loadavg } from "node:os";
import { argvInCgroup, type BenchCgroup, BenchCgroups, cgroupSupport } from "./lib/cgroups.ts";
import { collectLines, type StampedLine } from "./lib/lines.ts";
import { NeighbourProber, type NeighbourSummary } from "./lib/neighbour.ts";
import { alive, freePort, type ProcCost, type ProcSample, readProc, stopPid, summariseCost } from "./lib/procstat.ts";
import type { Scenario, ScenarioContext, Tools } from "./scenarios/index.ts";
import {
  calibrateHosa,
  HOSA_BIN,
  type HosaAgent,
  type HosaLogEntry,
  type HosaPaths,
  hosaMissing,
  isContainment,
  readHosaLog,
  startHosa,
  writeHosaConfig,
} from "./systems/hosa.ts";
import { type DaemonHandle, startEarlyoom, startNohang } from "./systems/oom-daemons.ts";
import { PrometheusStack, SCRAPE_INTERVAL_S } from "./systems/prometheus.ts";

export const BENCH_DIR = new URL(".", import.meta.url).pathname.replace(/\/$/, "");
export const REPO_DIR = BENCH_DIR.replace(/\/bench$/, "");

export type Group = "baseline" | "hosa";

export type EventKind = "detection" | "containment" | "kill" | "would-kill" | "pending" | "firing" | "alert" | "exit";

export interface SystemEvent {
  system: "kernel" | "earlyoom" | "nohang" | "prometheus" | "hosa" | "workload";
  kind: EventKind;
  tS: number;
  detail: string;
}

export interface TimelinePoint {
  tS: number;
  memoryBytes: number;
  cpuCores: number;
  pids: number;
  ioBytesPerS: number;
}

export interface RunRecord {
  scenario: string;
  group: Group;
  run: number;
  startedAt: string;
  cgroup: string;
  boundS: number;
  durationS: number;
  preEpisodeS: number;
  /** Seconds since the last Prometheus scrape when the workload started (null: not known). */
  scrapePhaseS: number | null;
  watchedByPrometheus: boolean;
  /** The machine's 1-minute load average when the workload started (it is shared). */
  loadAvg1: number;
  workload: {
    exitedAtS: number | null;
    exitCode: number | null;
    signal: string | null;
    killed: boolean;
    killedBy: string | null;
    stoppedAtBound: boolean;
    oomKills: number;
    /** MB the workload said it had (leakers), at its end. */
    reportedMb: number | null;
    peakMemoryBytes: number;
    lastLines: string[];
  };
  events: SystemEvent[];
  timeline: TimelinePoint[];
  neighbour: { before: NeighbourSummary; during: NeighbourSummary };
  /** The scenario's latency-sensitive neighbour (Scenario.neighbour), named in hosa's respond.latency_sensitive; null without one. */
  sensitiveCgroup: string | null;
  cost: Record<string, ProcCost | null>;
  hosa: {
    levelAtStart: number;
    maxLevel: number;
    levels: { tS: number; level: number; dm: number | null; reason: string; dominant: string }[];
    actions: { tS: number; target: string | null; action: string | null; outcome: string | null }[];
    actionsElsewhere: number;
  } | null;
  notes: string[];
}

export interface SuiteOptions {
  prometheus: boolean;
  hosa: boolean;
  calibrateS: number;
  /** How long a fresh hosa may take to step down to level 0 before an episode starts anyway (default 10 s). */
  restWaitS?: number;
  log: (line: string) => void;
}

export interface Suite {
  dir: string;
  cgroups: BenchCgroups;
  tools: Tools;
  neighbourUrl: string;
  neighbourProc: Bun.Subprocess;
  neighbourCgroup: BenchCgroup | null;
  /** Probes the neighbour for the suite's whole life, so hosa's calibration sees that traffic as normal too. */
  prober: NeighbourProber | null;
  prometheus: PrometheusStack | null;
  /** Why a system is missing from this suite (startup failure), by system. */
  unavailable: Record<string, string>;
  hosaBaseline: string | null;
  hosaCalibration: string;
  restWaitS: number;
  log: (line: string) => void;
  closed: boolean;
}

const perfS = () => performance.now() / 1000;

async function compile(src: string, out: string): Promise<void> {
  const p = Bun.spawn(["cc", "-O2", "-o", out, src], { stdout: "ignore", stderr: "pipe" });
  const err = await new Response(p.stderr).text();
  if ((await p.exited) !== 0) throw new Error(`cannot compile ${src}: ${err.trim().split("\n")[0]}`);
}

async function firstLine(p: Bun.Subprocess, re: RegExp, timeoutMs: number): Promise<RegExpExecArray | null> {
  const reader = (p.stdout as ReadableStream<Uint8Array>).getReader();
  let buf = "";
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const r = await Promise.race([reader.read(), Bun.sleep(Math.max(1, deadline - performance.now())).then(() => null)]);
    if (!r || r.done) break;
    buf += new TextDecoder().decode(r.value);
    const m = re.exec(buf);
    if (m) {
      reader.releaseLock();
      return m;
    }
  }
  reader.releaseLock();
  return null;
}

function hosaPaths(dir: string, baseline: string): HosaPaths {
  mkdirSync(dir, { recursive: true });
  return {
    dir,
    config: `${dir}/hosa.toml`,
    baseline,
    logFile: `${dir}/decisions.log`,
    stateDir: `${dir}/state`,
    metricsPort: freePort(),
  };
}

/** Why the harness cannot run on this machine, or null. */
export function harnessUnsupported(): string | null {
  return cgroupSupport();
}

export async function openSuite(opts: SuiteOptions): Promise<Suite> {
  const why = harnessUnsupported();
  if (why) throw new Error(why);
  const dir = mkdtempSync("/tmp/hosa-bench-");
  const cgroups = new BenchCgroups(dir.slice("/tmp/".length));
  const suite: Suite = {
    dir,
    cgroups,
    tools: { leaker: `${dir}/bin/leaker`, forkstorm: `${dir}/bin/forkstorm`, ticker: `${dir}/bin/ticker`, bun: process.execPath, benchDir: BENCH_DIR },
    neighbourUrl: "",
    neighbourProc: undefined as unknown as Bun.Subprocess,
    neighbourCgroup: null,
    prober: null,
    prometheus: null,
    unavailable: {},
    hosaBaseline: null,
    hosaCalibration: "",
    restWaitS: opts.restWaitS ?? 10,
    log: opts.log,
    closed: false,
  };
  try {
    mkdirSync(`${dir}/bin`, { recursive: true });
    await compile(`${BENCH_DIR}/leaker.c`, suite.tools.leaker);
    await compile(`${BENCH_DIR}/scenarios/forkstorm.c`, suite.tools.forkstorm);
    await compile(`${BENCH_DIR}/scenarios/ticker.c`, suite.tools.ticker);
    const ncg = cgroups.create("neighbour");
    suite.neighbourProc = Bun.spawn(argvInCgroup(ncg, [process.execPath, `${BENCH_DIR}/lib/neighbour-server.ts`, "0"]), {
      stdout: "pipe",
      stderr: "ignore",
      stdin: "ignore",
    });
    const m = await firstLine(suite.neighbourProc, /listening (\d+)/, 15000);
    if (!m) throw new Error("the neighbour service did not start");
    suite.neighbourUrl = `http://127.0.0.1:${m[1]}/`;
    suite.neighbourCgroup = ncg;
    suite.prober = new NeighbourProber(suite.neighbourUrl, perfS);
    suite.prober.start();
    if (opts.prometheus) {
      const stack = new PrometheusStack(`${dir}/prometheus`);
      try {
        opts.log("starting Prometheus, Alertmanager and node_exporter on loopback");
        await stack.start();
        suite.prometheus = stack;
      } catch (e) {
        await stack.stop();
        suite.unavailable.prometheus = (e as Error).message;
      }
    }
    if (opts.hosa) {
      const missing = hosaMissing();
      if (missing) suite.unavailable.hosa = missing;
      else {
        const p = hosaPaths(`${dir}/hosa-calibrate`, `${dir}/hosa-baseline.json`);
        writeHosaConfig(p, cgroups.rootRelPath("memory"));
        opts.log(`calibrating hosa for ${opts.calibrateS} s on this machine's load (${HOSA_BIN})`);
        try {
          suite.hosaCalibration = await calibrateHosa(p, opts.calibrateS);
          suite.hosaBaseline = p.baseline;
        } catch (e) {
          suite.unavailable.hosa = (e as Error).message;
        }
      }
    }
  } catch (e) {
    await closeSuite(suite);
    throw e;
  }
  return suite;
}

export async function closeSuite(suite: Suite): Promise<void> {
  if (suite.closed) return;
  suite.closed = true;
  suite.prober?.stop();
  await suite.prometheus?.stop();
  if (suite.neighbourProc) await stopPid(suite.neighbourProc);
  await suite.cgroups.destroyAll();
  // HOSA_BENCH_KEEP=1 keeps the temp dir (decision logs, configs) to look into a run.
  if (!process.env.HOSA_BENCH_KEEP) rmSync(suite.dir, { recursive: true, force: true });
}

function lastMb(lines: StampedLine[]): number | null {
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /mb=(\d+)/.exec(lines[i].line);
    if (m) return Number(m[1]);
  }
  return null;
}

/** Run one episode of `scenario` under `group`; never longer than the scenario's bound plus setup and teardown. */
export async function runEpisode(suite: Suite, scenario: Scenario, group: Group, run: number): Promise<RunRecord> {
  const name = `${scenario.name}-${group}-${run}`;
  const runDir = `${suite.dir}/runs/${name}`;
  mkdirSync(runDir, { recursive: true });
  const cg = suite.cgroups.create(name);
  const side: BenchCgroup[] = [];
  const helpers: Bun.Subprocess[] = [];
  const notes: string[] = [];
  const daemons: DaemonHandle[] = [];
  let agent: HosaAgent | null = null;
  const prober = suite.prober as NeighbourProber;
  let workload: Bun.Subprocess | null = null;
  const costSamples = new Map<string, ProcSample[]>();
  let sampling: ReturnType<typeof setInterval> | undefined;
  let oomPoll: ReturnType<typeof setInterval> | undefined;
  try {
    cg.setMemoryLimit(scenario.memoryLimitBytes);
    cg.setPidsMax(scenario.pidsMax);
    const ctx: ScenarioContext = {
      cg,
      dir: `${runDir}/work`,
      tools: suite.tools,
      sideCgroup: (n) => {
        const c = suite.cgroups.create(`${name}-${n}`);
        side.push(c);
        return c;
      },
      track: (p) => helpers.push(p),
    };
    mkdirSync(ctx.dir, { recursive: true });
    await scenario.prepare?.(ctx);
    const sensitive = scenario.neighbour ? startNeighbour(scenario, ctx) : null;

    if (group === "baseline" && scenario.kind === "memory") {
      daemons.push(startEarlyoom(perfS));
      daemons.push(startNohang(`${runDir}/nohang.conf`, suite.dir, perfS));
    }
    if (group === "hosa") {
      if (!suite.hosaBaseline) throw new Error(`hosa unavailable: ${suite.unavailable.hosa ?? "not calibrated"}`);
      const p = hosaPaths(`${runDir}/hosa`, suite.hosaBaseline);
      writeHosaConfig(p, suite.cgroups.rootRelPath("memory"), sensitive ? [sensitive.relPath("memory")] : []);
      agent = await startHosa(p, perfS);
    }
    const prom = suite.prometheus;
    prom?.clearMetrics();
    if (agent) {
      // A fresh agent starts in homeostasis; give it a moment, and if its
      // first seconds raised the level, wait (bounded) for it to step down so
      // a detection means the episode, not the start-up.
      await Bun.sleep(3000);
      const rest = await waitForLevelZero(agent.paths.logFile, suite.restWaitS * 1000);
      if (rest > 0) notes.push(`hosa was still at level ${rest} ${suite.restWaitS} s after start-up, before the episode`);
    }
    // The neighbour's stall before the workload is its own level, against which hosa judges harm.
    if (sensitive) await Bun.sleep(NEIGHBOUR_LEAD_S * 1000);

    // Each agent's cost and the cgroup's usage, sampled through the whole run.
    const watched: [string, number][] = [
      ...daemons.map((d) => [d.name, d.proc.pid] as [string, number]),
      ...(agent ? [["hosa", agent.proc.pid] as [string, number]] : []),
    ];
    for (const [n] of watched) costSamples.set(n, []);
    const raw: { tS: number; memoryBytes: number; cpuNs: number; pids: number; ioBytes: number }[] = [];
    let pidsMaxHitS: number | null = null;
    let lastMetricsWrite = 0;
    let pendingWallMs: number | null = null;
    let lastPendingPoll = 0;
    const sample = () => {
      const tS = perfS();
      const u = cg.usage();
      raw.push({ tS, memoryBytes: u.memoryBytes, cpuNs: u.cpuUsageNs, pids: u.pids, ioBytes: u.ioBytes });
      if (pidsMaxHitS === null && /^max [1-9]/m.test(cg.read("pids", "pids.events"))) pidsMaxHitS = tS;
      if (prom && tS - lastMetricsWrite >= 1) {
        lastMetricsWrite = tS;
        prom.writeMetrics(cg.name, {
          memoryBytes: u.memoryBytes,
          memoryLimitBytes: scenario.alertLimitBytes ?? scenario.memoryLimitBytes,
          cpuUsageS: u.cpuUsageNs / 1e9,
          pids: u.pids,
          pidsMax: scenario.pidsMax,
          ioBytes: u.ioBytes,
        });
      }
      if (prom && pendingWallMs === null && tS - lastPendingPoll >= 5) {
        lastPendingPoll = tS;
        void prom.pendingSinceWallMs(cg.name).then((w) => {
          if (w !== null && pendingWallMs === null) pendingWallMs = w;
        });
      }
      if (raw.length % 5 === 0) for (const [n, pid] of watched) {
        const s = readProc(pid, tS);
        if (s) costSamples.get(n)?.push(s);
      }
    };
    sampling = setInterval(sample, 100);

    // Start at a random offset to Prometheus's 15 s cycle (its rules run at a fixed phase).
    const preEpisodeS = prom ? 2 + Math.random() * SCRAPE_INTERVAL_S : 2;
    await Bun.sleep(preEpisodeS * 1000);
    const oomBefore = cg.oomKills();
    let oomKillAtS: number | null = null;
    const wallAtPerfZeroMs = Date.now() - performance.now();
    const lastScrape = prom ? await prom.lastScrapeWallMs() : null;

    const argv = await scenario.command(ctx);
    const loadAvg1 = loadavg()[0];
    const t0 = perfS();
    const wallAtT0Ms = wallAtPerfZeroMs + t0 * 1000;
    const scrapePhaseS = lastScrape !== null ? (((wallAtT0Ms - lastScrape) / 1000) % SCRAPE_INTERVAL_S + SCRAPE_INTERVAL_S) % SCRAPE_INTERVAL_S : null;
    workload = Bun.spawn(argvInCgroup(cg, argv), { stdout: "pipe", stderr: "pipe", stdin: "ignore", cwd: ctx.dir });
    const wlLines: StampedLine[] = [];
    void collectLines(workload.stdout, perfS, wlLines);
    void collectLines(workload.stderr, perfS, wlLines);
    let exitedAtS: number | null = null;
    void workload.exited.then(() => {
      exitedAtS = perfS();
    });
    if (scenario.kind === "memory") {
      oomPoll = setInterval(() => {
        if (oomKillAtS === null && cg.oomKills() > oomBefore) oomKillAtS = perfS();
      }, 20);
    }
    const deadline = t0 + scenario.boundS;
    while (exitedAtS === null && perfS() < deadline) await Bun.sleep(50);
    let stoppedAtBound = false;
    if (exitedAtS === null) {
      stoppedAtBound = true;
      for (const pid of cg.pids()) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
      await Promise.race([workload.exited, Bun.sleep(5000)]);
    } else {
      // Let late reports (an agent's log line, a daemon's message) land.
      await Bun.sleep(1500);
    }
    const endS = perfS();
    clearInterval(sampling);
    sampling = undefined;
    if (oomPoll) clearInterval(oomPoll);
    oomPoll = undefined;
    sample();
    if (prom && pendingWallMs === null) pendingWallMs = await prom.pendingSinceWallMs(cg.name);
    for (const d of daemons) await d.stop();
    if (agent) {
      await agent.stop();
      notes.push(...releaseLeftovers(suite, cg));
    }

    const rel = (t: number) => t - t0;
    const events: SystemEvent[] = [];
    const oomKills = cg.oomKills() - oomBefore;
    const sig = workload.signalCode == null ? null : String(workload.signalCode);
    const exitAt = exitedAtS as number | null;
    let killedBy: string | null = null;
    if (!stoppedAtBound && sig) {
      if (oomKills > 0) killedBy = "kernel OOM killer";
      else if (daemons.some((d) => d.name === "nohang" && d.actedAtS() !== null)) killedBy = "nohang";
      else killedBy = `signal ${sig}`;
    }
    if (exitAt !== null) events.push({ system: "workload", kind: "exit", tS: rel(exitAt), detail: sig ? `ended by ${sig}` : `exited ${workload.exitCode}` });
    if (oomKillAtS !== null) {
      events.push({ system: "kernel", kind: "kill", tS: rel(oomKillAtS), detail: "cgroup OOM kill (memory.oom_control oom_kill)" });
    }
    if (pidsMaxHitS !== null && pidsMaxHitS >= t0) {
      events.push({ system: "kernel", kind: "containment", tS: rel(pidsMaxHitS), detail: `pids.max ${scenario.pidsMax} refused a fork` });
    }
    for (const d of daemons) {
      const a = d.actedAtS();
      if (a !== null) events.push({ system: d.name, kind: d.name === "earlyoom" ? "would-kill" : "kill", tS: rel(a), detail: d.actedLine() ?? "" });
    }
    if (prom) {
      if (pendingWallMs !== null) events.push({ system: "prometheus", kind: "pending", tS: (pendingWallMs - wallAtT0Ms) / 1000, detail: "rule condition true (pending)" });
      for (const a of prom.alerts.filter((x) => x.cgroup === cg.name)) {
        events.push({ system: "prometheus", kind: "firing", tS: (a.startsAtWallMs - wallAtT0Ms) / 1000, detail: `${a.alertname} firing` });
        events.push({ system: "prometheus", kind: "alert", tS: (a.receivedWallMs - wallAtT0Ms) / 1000, detail: `${a.alertname} webhook received` });
      }
    }
    let hosa: RunRecord["hosa"] = null;
    if (agent) {
      const entries: HosaLogEntry[] = readHosaLog(agent.paths.logFile, wallAtT0Ms);
      const levels = entries.filter((e) => e.kind === "level");
      const before = levels.filter((e) => e.tS < 0);
      const levelAtStart = before.length ? before[before.length - 1].level : 0;
      const during = entries.filter((e) => e.tS >= 0 && e.tS <= rel(endS));
      const cont = during.find((e) => isContainment(e, cg.name));
      // At rest at t = 0, detection is the first level >= 1. Already raised by
      // the shared machine's background, it is the first escalation above that
      // level or the first action naming the scenario's cgroup, whichever is first.
      const det =
        levelAtStart === 0
          ? during.find((e) => e.kind === "level" && e.level >= 1)
          : during.find((e) => (e.kind === "level" && e.level > levelAtStart) || (e.kind === "action" && e.targetCgroup !== null && e.targetCgroup.includes(cg.name)));
      if (levelAtStart >= 1 && !notes.some((n) => n.startsWith("hosa was still at level"))) notes.push(`hosa was already at level ${levelAtStart} when the episode started`);
      if (det) {
        const what = det.kind === "level" ? `level ${det.level} ${det.levelName}` : `${det.action} on the scenario's cgroup`;
        events.push({ system: "hosa", kind: "detection", tS: det.tS, detail: `${what}, D_M ${det.dm ?? "?"}, ${det.dominant}${levelAtStart ? ` (from level ${levelAtStart})` : ""}` });
      }
      if (cont) events.push({ system: "hosa", kind: "containment", tS: cont.tS, detail: `${cont.action} on ${cont.targetCgroup}` });
      const actions = during.filter((e) => e.kind === "action");
      const elsewhere = actions.filter((e) => (e.outcome ?? "").startsWith("applied") && e.targetCgroup !== null && !e.targetCgroup.includes(cg.name));
      if (elsewhere.length) notes.push(`hosa also acted on ${[...new Set(elsewhere.map((e) => e.targetCgroup))].join(", ")}`);
      hosa = {
        levelAtStart,
        maxLevel: Math.max(levelAtStart, ...during.map((e) => e.level)),
        levels: during.filter((e) => e.kind === "level").map((e) => ({ tS: e.tS, level: e.level, dm: e.dm, reason: e.reason, dominant: e.dominant })),
        actions: actions.map((e) => ({ tS: e.tS, target: e.targetCgroup ?? e.target, action: e.action, outcome: e.outcome })),
        actionsElsewhere: elsewhere.length,
      };
      if (agent.proc.exitCode !== null && agent.proc.exitCode !== 0 && agent.proc.exitCode !== 143) {
        notes.push(`hosa run exited ${agent.proc.exitCode}: ${agent.lines.slice(-1)[0]?.line ?? ""}`);
      }
    }
    if (killedBy === null && oomKills > 0) notes.push(`the kernel OOM-killed ${oomKills} process(es) in the cgroup without ending the workload`);
    events.sort((a, b) => a.tS - b.tS);

    const timeline: TimelinePoint[] = [];
    for (let i = 1; i < raw.length; i++) {
      const a = raw[i - 1];
      const b = raw[i];
      const dt = b.tS - a.tS;
      if (dt <= 0) continue;
      timeline.push({
        tS: rel(b.tS),
        memoryBytes: b.memoryBytes,
        cpuCores: Math.max(0, (b.cpuNs - a.cpuNs) / 1e9 / dt),
        pids: b.pids,
        ioBytesPerS: Math.max(0, (b.ioBytes - a.ioBytes) / dt),
      });
    }
    const cost: Record<string, ProcCost | null> = {};
    for (const [n, s] of costSamples) cost[n] = summariseCost(s.filter((x) => x.tS >= t0));
    return {
      scenario: scenario.name,
      group,
      run,
      startedAt: new Date(wallAtT0Ms).toISOString(),
      cgroup: cg.relPath("memory"),
      boundS: scenario.boundS,
      durationS: rel(endS),
      preEpisodeS,
      scrapePhaseS,
      watchedByPrometheus: prom !== null,
      loadAvg1,
      workload: {
        exitedAtS: exitAt === null ? null : rel(exitAt),
        exitCode: workload.exitCode,
        signal: sig,
        killed: killedBy !== null,
        killedBy,
        stoppedAtBound,
        oomKills,
        reportedMb: lastMb(wlLines),
        peakMemoryBytes: Math.max(0, ...raw.filter((r) => r.tS >= t0).map((r) => r.memoryBytes)),
        lastLines: wlLines.slice(-3).map((l) => l.line),
      },
      events,
      timeline,
      neighbour: { before: prober.summary(t0 - preEpisodeS, t0), during: prober.summary(t0, endS) },
      sensitiveCgroup: sensitive ? sensitive.relPath("memory") : null,
      cost,
      hosa,
      notes,
    };
  } finally {
    if (sampling) clearInterval(sampling);
    if (oomPoll) clearInterval(oomPoll);
    for (const d of daemons) await d.stop();
    if (agent) await agent.stop();
    for (const p of helpers) await stopPid(p, 1000);
    if (workload && alive(workload.pid)) await stopPid(workload, 1000);
    await suite.cgroups.remove(cg);
    for (const c of side) await suite.cgroups.remove(c);
    if (!process.env.HOSA_BENCH_KEEP) rmSync(runDir, { recursive: true, force: true });
  }
}

/** How long a latency-sensitive neighbour ticks beside a running agent before the workload starts, seconds. */
const NEIGHBOUR_LEAD_S = 10;

/** Start the scenario's latency-sensitive neighbour in a cgroup of its own (removed with the run); returns that cgroup. */
function startNeighbour(scenario: Scenario, ctx: ScenarioContext): BenchCgroup {
  const n = ctx.sideCgroup("neighbour");
  const unified = n.unifiedProcs();
  const args =
    scenario.neighbour === "io" ? ["--period-ms", "20", "--work-us", "100", "--io-file", `${ctx.dir}/neighbour.dat`] : ["--period-ms", "10", "--work-us", "3000"];
  const seconds = String(scenario.boundS + NEIGHBOUR_LEAD_S + 60);
  ctx.track(Bun.spawn(argvInCgroup(n, [ctx.tools.ticker, ...args, "--seconds", seconds], unified ? [unified] : []), { stdout: "ignore", stderr: "ignore", stdin: "ignore" }));
  return n;
}

/** The level of the last level entry in a decision log (0 when there is none). */
export function currentHosaLevel(logFile: string): number {
  let text = "";
  try {
    text = readFileSync(logFile, "utf8");
  } catch {
    return 0;
  }
  const lines = text.trimEnd().split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!lines[i].includes('"kind":"level"')) continue;
    try {
      return Number(JSON.parse(lines[i]).level ?? 0);
    } catch {
      return 0;
    }
  }
  return 0;
}

async function waitForLevelZero(logFile: string, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const level = currentHosaLevel(logFile);
    if (level === 0 || performance.now() > deadline) return level;
    await Bun.sleep(250);
  }
}

const UNLIMITED = 9223372036854771712;

/**
 * After hosa has exited, put back what it left on the benchmark's own
 * processes and cgroups (a quarantine is lifted only by hand, so its
 * SIGSTOPs outlive the agent), and say so in the run's notes.
 */
function releaseLeftovers(suite: Suite, cg: BenchCgroup): string[] {
  const notes: string[] = [];
  for (const c of [suite.neighbourCgroup, cg]) {
    if (!c) continue;
    for (const pid of c.pids()) {
      let state = "";
      try {
        const st = readFileSync(`/proc/${pid}/stat`, "utf8");
        state = st.slice(st.lastIndexOf(")") + 2)[0];
      } catch {}
      if (state === "T") {
        try {
          process.kill(pid, "SIGCONT");
        } catch {}
        notes.push(`hosa left pid ${pid} in ${c.name} stopped after it exited; the harness resumed it`);
      }
    }
  }
  const n = suite.neighbourCgroup;
  if (n) {
    const limit = Number(n.read("memory", "memory.limit_in_bytes").trim());
    if (limit && limit < UNLIMITED) {
      notes.push(`hosa left memory.limit_in_bytes ${limit} on the neighbour; reset`);
      n.write("memory", "memory.limit_in_bytes", "-1");
    }
    const soft = Number(n.read("memory", "memory.soft_limit_in_bytes").trim());
    if (soft && soft < UNLIMITED) {
      notes.push(`hosa left memory.soft_limit_in_bytes ${soft} on the neighbour; reset`);
      n.write("memory", "memory.soft_limit_in_bytes", "-1");
    }
    const quota = n.read("cpu", "cpu.cfs_quota_us").trim();
    if (quota && quota !== "-1") {
      notes.push(`hosa left cpu.cfs_quota_us ${quota} on the neighbour; reset`);
      n.write("cpu", "cpu.cfs_quota_us", "-1");
    }
    const shares = n.read("cpu", "cpu.shares").trim();
    if (shares && shares !== "1024") {
      notes.push(`hosa left cpu.shares ${shares} on the neighbour; reset`);
      n.write("cpu", "cpu.shares", "1024");
    }
  }
  return notes;
}

/** MB of memory this machine has available now (for scenarios that need a lot). */
export function availableBytes(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync("/proc/meminfo", "utf8"));
    return m ? Number(m[1]) * 1024 : freemem();
  } catch {
    return freemem();
  }
}
