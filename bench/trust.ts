// Trust (issue 11): healthy bursts must not be contained, real collapses
// must be, fast, on the right cgroup, and let go afterwards. One run, side by
// side: hosa (act mode, scope = this benchmark's cgroup), the rate watcher
// of bench/systems/rate-watcher.ts, and the kernel OOM killer alone.
//
//   bun bench/trust.ts [--benign] [--collapse [--leak-only | --only NAME [--runs N]]] [--leak-runs 5] [--calibrate-s 60] [--out bench/RESULTS-trust.md]
//
// Every workload runs in its own cgroup under hosa-trust-<pid>, bounded in
// time; unrelated "churn" cgroups grow and shrink meanwhile. Needs root and
// the v1 memory/cpu/cpuacct/pids/blkio controllers (this hybrid host).
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { cacheWarmCommand, prepareCacheWarm } from "./lib/cache-warm.ts";
import { argvInCgroup, type BenchCgroup, BenchCgroups, cgroupSupport } from "./lib/cgroups.ts";
import { fmt, median } from "./lib/stats.ts";
import { HOSA_BIN, type HosaLogEntry, type HosaPaths, calibrateHosa, readHosaLog, writeHosaConfig } from "./systems/hosa.ts";

const BENCH = new URL(".", import.meta.url).pathname.replace(/\/$/, "");
const MiB = 2 ** 20;
const GiB = 2 ** 30;
const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
};
const both = !process.argv.includes("--benign") && !process.argv.includes("--collapse");
const doBenign = both || process.argv.includes("--benign");
const doCollapse = both || process.argv.includes("--collapse");
const leakRuns = Number(arg("--leak-runs", "5"));
/** Only hosa's 50 MB/s leak runs (a quick re-measure). */
const leakOnly = process.argv.includes("--leak-only");
/** Only the other collapses whose name contains this (or one of these, "a|b") (no 50 MB/s leak, rate watcher or kernel runs): a quick re-measure. */
const only = arg("--only", "");
const calibrateS = Number(arg("--calibrate-s", "60"));
/** With --only: how many times each chosen collapse runs (one calibration, one agent). */
const onlyRuns = Number(arg("--runs", "1"));
const outFile = arg("--out", join(BENCH, "RESULTS-trust.md"));

const why = cgroupSupport();
if (why) {
  console.error(`trust bench: ${why}`);
  process.exit(9);
}
const say = (l: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${l}`);
const dir = join(tmpdir(), `hosa-trust-${process.pid}`);
mkdirSync(dir, { recursive: true });
const cgs = new BenchCgroups(`hosa-trust-${process.pid}`);
const procs: Bun.Subprocess[] = [];
let aborted = false;
const spawnIn = (cg: BenchCgroup, cmd: string[], out: "ignore" | "pipe" = "ignore") => {
  if (aborted) throw new Error("interrupted");
  const p = Bun.spawn(argvInCgroup(cg, cmd), { stdout: out, stderr: "ignore", stdin: "ignore" });
  procs.push(p);
  return p;
};
const cc = (src: string, out: string) => {
  const r = Bun.spawnSync(["cc", "-O2", "-o", out, src]);
  if (r.exitCode !== 0) throw new Error(`cc ${src}: ${r.stderr}`);
  return out;
};
const leaker = cc(join(BENCH, "leaker.c"), join(dir, "leaker"));
const forkstorm = cc(join(BENCH, "scenarios/forkstorm.c"), join(dir, "forkstorm"));
const ticker = cc(join(BENCH, "scenarios/ticker.c"), join(dir, "ticker"));

const paths: HosaPaths = {
  dir,
  config: join(dir, "hosa.toml"),
  baseline: join(dir, "baseline.json"),
  logFile: join(dir, "decisions.log"),
  stateDir: join(dir, "state"),
  metricsPort: 0,
};
// The latency-sensitive neighbour of the CPU runaway: named in the config
// (respond.latency_sensitive), idle but for that scenario. Its CPU stall is
// read from cgroup2's cpu.pressure, so it also gets a directory of the same
// relative path in the unified tree (hybrid host), made and removed here.
const victim = cgs.create("neighbour");
const UNIFIED = "/sys/fs/cgroup/unified";
const unifiedMade: string[] = [];
const unifiedDir = (cg: BenchCgroup) => `${UNIFIED}${cg.relPath("memory")}`;
function mirrorUnified(cg: BenchCgroup): string | null {
  if (!existsSync(`${UNIFIED}/cgroup.procs`)) return null;
  const want = unifiedDir(cg);
  const missing: string[] = [];
  for (let d = want; !existsSync(d); d = d.slice(0, d.lastIndexOf("/"))) missing.unshift(d);
  for (const d of missing) {
    mkdirSync(d);
    unifiedMade.unshift(d);
  }
  return `${want}/cgroup.procs`;
}
const victimUnified = mirrorUnified(victim);
writeHosaConfig(paths, cgs.rootRelPath("memory"), [victim.relPath("memory")]);
const RELAX_S = 30;
const lines: string[] = [];
const md = (l = "") => lines.push(l);

// Unrelated cgroups that grow and shrink all along: 40 MB/s up to 400 MB, freed, again.
const churn = ["churn-a", "churn-b"].map((n, i) => {
  const cg = cgs.create(n);
  spawnIn(cg, ["timeout", "3600", "sh", "-c", `sleep ${i * 4}; while :; do ${leaker} --rate-mb 40 --max-mb 400 >/dev/null; sleep 3; done`]);
  return cg;
});

let agent: Bun.Subprocess | null = null;
let agentErr = "";
async function startAgent(): Promise<void> {
  agent = Bun.spawn([HOSA_BIN, "-c", paths.config, "run"], { stdout: "ignore", stderr: "pipe" });
  void (async () => {
    for await (const c of agent!.stderr as ReadableStream<Uint8Array>) agentErr += new TextDecoder().decode(c);
  })();
  const end = Date.now() + 30000;
  while (!agentErr.includes("running on") && Date.now() < end) await Bun.sleep(100);
  if (!agentErr.includes("running on")) throw new Error(`hosa did not start: ${agentErr.trim().split("\n").pop()}`);
}
async function stopAgent(): Promise<void> {
  if (!agent) return;
  agent.kill("SIGTERM");
  await agent.exited;
  agent = null;
}
const log = (zeroMs: number): HosaLogEntry[] => readHosaLog(paths.logFile, zeroMs);
const levelNow = () => {
  const lv = log(0).filter((e) => e.kind === "level");
  return lv.length ? lv[lv.length - 1].level : 0;
};
/** The level in force at wall time `ms` (the last level entry before it). */
const levelAt = (ms: number) => {
  const lv = log(ms).filter((e) => e.kind === "level" && e.tS < 0);
  return lv.length ? lv[lv.length - 1].level : 0;
};
const cpuTicks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]);
};

// ---------- benign ----------
interface Benign {
  name: string;
  prepare?: () => Promise<void>;
  cmd: () => string[];
  /** Fixed work (a duration means something) or bounded by time. */
  fixedWork: boolean;
}
function genC(n: number, k: number): string {
  let s = "#include <stdint.h>\n";
  for (let i = 0; i < n; i++) s += `uint64_t f${k}_${i}(uint64_t x){uint64_t a=x*${i + 3}u;for(int j=0;j<${(i % 7) + 2};j++)a=(a<<3)^(a>>5)^${i}u;return a;}\n`;
  return s;
}
let serverPort = 0;
const BENIGN: Benign[] = [
  {
    name: "parallel compile (make -j4, 16 files)",
    prepare: async () => {
      mkdirSync(join(dir, "src"), { recursive: true });
      const objs: string[] = [];
      for (let k = 0; k < 16; k++) {
        writeFileSync(join(dir, "src", `f${k}.c`), genC(120, k));
        objs.push(`f${k}.o`);
      }
      writeFileSync(join(dir, "src", "Makefile"), `all: ${objs.join(" ")}\n%.o: %.c\n\tcc -O2 -c $< -o $@\nclean:\n\trm -f *.o\n`);
    },
    cmd: () => ["sh", "-c", `make -s -C ${dir}/src clean && make -s -j4 -C ${dir}/src`],
    fixedWork: true,
  },
  {
    name: "cache warm 1.5 GiB (cat of a file, levels off)",
    prepare: () => prepareCacheWarm(`${dir}/warm.img`, 1536),
    cmd: () => cacheWarmCommand(`${dir}/warm.img`, 5),
    fixedWork: true,
  },
  {
    name: "4 GiB sequential copy (cp)",
    prepare: async () => void (await Bun.spawn(["dd", "if=/dev/zero", `of=${dir}/src.img`, "bs=1M", "count=4096", "oflag=direct", "status=none"]).exited),
    cmd: () => ["sh", "-c", `cp ${dir}/src.img ${dir}/dst.img && sync && rm -f ${dir}/dst.img`],
    fixedWork: true,
  },
  { name: "all cores busy 20 s (stress-ng --cpu 0)", cmd: () => ["stress-ng", "--cpu", "0", "--timeout", "20s", "--quiet"], fixedWork: false },
  { name: "burst of 200 processes", cmd: () => ["sh", "-c", "for i in $(seq 200); do sleep 3 & done; wait"], fixedWork: true },
  { name: "loopback HTTP load (wrk -t2 -c8 -d15s)", cmd: () => ["wrk", "-t2", "-c8", "-d15s", `http://127.0.0.1:${serverPort}/`], fixedWork: false },
  { name: "2 GiB stress-ng --vm burst, 20 s", cmd: () => ["stress-ng", "--vm", "1", "--vm-bytes", "2G", "--timeout", "20s", "--quiet"], fixedWork: false },
];

interface BenignResult {
  name: string;
  baseS: number;
  hosaS: number;
  wrkBase?: number;
  wrkHosa?: number;
  maxLevel: number;
  l3Actions: number;
  l5: boolean;
  backToZeroS: number | null;
}

async function runBenign(b: Benign, i: number, withHosa: boolean): Promise<{ s: number; out: string }> {
  const cg = cgs.create(`benign-${i}-${withHosa ? "h" : "b"}`);
  const t0 = performance.now();
  const p = spawnIn(cg, ["timeout", "120", ...b.cmd()], "pipe");
  const out = await new Response(p.stdout as ReadableStream).text();
  await p.exited;
  const s = (performance.now() - t0) / 1000;
  await cgs.remove(cg);
  return { s, out };
}
const wrkRate = (out: string) => Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);

// ---------- collapse ----------
interface Episode {
  name: string;
  limitBytes?: number;
  pidsMax?: number;
  cmd: string[];
  runS: number;
  memory: boolean;
  /** The latency-sensitive neighbour runs from 15 s before to 15 s after; its response time (cpu: a request of 12 ms of CPU every 20 ms) or its synced 4 KiB writes (io) are measured. */
  neighbour?: "cpu" | "io";
  /** cpu.shares of the episode's cgroup and of the neighbour while it runs, as the kubelet sets them from CPU requests (milli-CPU × 1024 / 1000). */
  shares?: { culprit: number; neighbour: number };
}
const LEAK50: Episode = { name: "leak 50 MB/s, 2 GiB limit", limitBytes: 2 * GiB, cmd: [leaker, "--rate-mb", "50", "--max-mb", "3000", "--hold"], runS: 20, memory: true };
const EPISODES: Episode[] = [
  { name: "leak 500 MB/s (MAP_POPULATE), 2 GiB limit", limitBytes: 2 * GiB, cmd: [leaker, "--rate-mb", "500", "--max-mb", "3000", "--populate", "--hold"], runS: 8, memory: true },
  { name: "leak 5 MB/s, 256 MiB limit", limitBytes: 256 * MiB, cmd: [leaker, "--rate-mb", "5", "--max-mb", "3000", "--hold"], runS: 30, memory: true },
  { name: "fork storm, pids.max 1024", pidsMax: 1024, cmd: [forkstorm, "--max", "3000", "--seconds", "10"], runS: 12, memory: false },
  // A Kubernetes node's case: the runaway is a pod that requested 2 CPUs
  // (cpu.shares 2048), the service one that requested 0.5 (512) and needs
  // 0.6 at its peak. With equal shares (1024 each, as before 2026-12-02
  // 06:40) CFS gives a single service thread its fair half beside any
  // number of spinners: on a quiet node it got 0.57 of its 0.6 and was not
  // harmed, so the scenario proved nothing there (RESULTS-trust.md).
  {
    name: `CPU runaway (stress-ng --cpu ${4 * availableParallelism()}, 60 s, a pod requesting 2 CPUs: cpu.shares 2048) beside a latency-sensitive service needing 0.6 CPU (requesting 0.5: 512)`,
    cmd: ["stress-ng", "--cpu", String(4 * availableParallelism()), "--timeout", "60s", "--quiet"],
    runS: 60,
    memory: false,
    neighbour: "cpu",
    shares: { culprit: 2048, neighbour: 512 },
  },
  {
    name: "I/O flood (fio, 2 jobs, O_DIRECT, 60 s) beside a latency-sensitive neighbour's synced writes",
    cmd: ["fio", "--name=flood", `--directory=${dir}`, "--rw=write", "--bs=1M", "--size=1G", "--numjobs=2", "--direct=1", "--time_based", "--runtime=60", "--output-format=terse"],
    runS: 60,
    memory: false,
    neighbour: "io",
  },
];

interface CollapseResult {
  name: string;
  system: string;
  detectS: number | null;
  containS: number | null;
  beforeMBps: number | null;
  afterMBps: number | null;
  killed: boolean;
  otherActions: number;
  restoredS: number | null;
  maxLevel: number;
  /** The neighbour's lateness, p50/p99 of the per-second figures, ms: before, runaway uncontained, runaway contained, after. */
  neighbourMs?: { before: string; uncontained: string; contained: string; after: string };
  /** CPU scenarios: the CPUs the runaway and the neighbour used while the runaway ran, and the node's load average then. */
  cpuUse?: { runaway: number; neighbour: number; load: number };
}

const limitState = (cg: BenchCgroup) =>
  [cg.read("memory", "memory.limit_in_bytes").trim(), cg.read("memory", "memory.oom_control").split("\n")[0], cg.read("cpu", "cpu.shares").trim(), cg.read("cpu", "cpu.cfs_quota_us").trim()].join(" | ");

async function collapse(ep: Episode, k: number, system: "hosa" | "rate watcher" | "kernel", watcherOut?: { text: string }): Promise<CollapseResult> {
  const cg = cgs.create(`ep-${k}`);
  if (ep.limitBytes) cg.setMemoryLimit(ep.limitBytes);
  if (ep.pidsMax) cg.setPidsMax(ep.pidsMax);
  if (ep.shares) {
    cg.write("cpu", "cpu.shares", String(ep.shares.culprit));
    victim.write("cpu", "cpu.shares", String(ep.shares.neighbour));
  }
  const rel = cg.relPath("memory");
  const before = limitState(cg);
  let tick: Bun.Subprocess | null = null;
  const tickOut = { text: "" };
  if (ep.neighbour) {
    const moves = [...victim.procsFiles(), ...(victimUnified ? [victimUnified] : [])].map((f) => `echo $$ > '${f}' || exit 97;`).join(" ");
    tick = Bun.spawn(["/bin/sh", "-c", `${moves} exec "$@"`, "sh", ticker, ...(ep.neighbour === "io" ? ["--period-ms", "20", "--work-us", "100", "--io-file", join(dir, "neighbour.dat")] : ["--serve", "1", "--period-ms", "20", "--work-us", "12000"]), "--seconds", String(ep.runS + 30 + RELAX_S + 60)], { stdout: "pipe", stderr: "ignore" });
    procs.push(tick);
    void (async () => {
      for await (const c of tick!.stdout as ReadableStream<Uint8Array>) tickOut.text += new TextDecoder().decode(c);
    })();
    say("  neighbour ticking 15 s before the runaway");
    await Bun.sleep(15000);
  }
  const zero = Date.now();
  const t0 = performance.now();
  const cpuNs = (c: BenchCgroup) => Number(c.read("cpuacct", "cpuacct.usage")) || 0;
  const cpu0 = { runaway: cpuNs(cg), neighbour: cpuNs(victim) };
  const p = spawnIn(cg, ep.cmd);
  const usage = () => Number(cg.read("memory", "memory.usage_in_bytes")) || 0;
  let containS: number | null = null;
  let detectS: number | null = null;
  let killed = false;
  let u0 = 0;
  let uAt = 0;
  let afterMBps: number | null = null;
  let beforeMBps: number | null = null;
  while ((performance.now() - t0) / 1000 < ep.runS) {
    const el = (performance.now() - t0) / 1000;
    if (system === "hosa" && containS === null) {
      const entries = log(zero).filter((e) => e.tS >= 0);
      const d = entries.find((e) => (e.kind === "level" && e.level >= 1) || e.targetCgroup === rel);
      if (d && detectS === null) detectS = d.tS;
      // Contained: the first applied action that holds the resource in danger (a CPU share alone does not).
      const holds = (a: string) => (ep.memory ? a.startsWith("memory.limit") || a.startsWith("memory.high") || a.startsWith("memory.max") : !a.startsWith("cpu.shares") && !a.startsWith("cpu.weight"));
      const c = entries.find((e) => e.kind === "action" && e.targetCgroup === rel && e.outcome === "applied" && holds(e.action ?? ""));
      if (c) containS = c.tS;
    }
    if (system === "rate watcher" && containS === null) {
      const m = new RegExp(`contained ep-${k} (\\d+)`).exec(watcherOut?.text ?? "");
      if (m) containS = (Number(m[1]) - zero) / 1000;
    }
    if (system === "kernel" && cg.oomKills() > 0) {
      killed = true;
      containS = el;
      break;
    }
    if (ep.memory && containS !== null && u0 === 0 && el >= containS + 1) {
      beforeMBps = usage() / MiB / (containS || 1e-9);
      u0 = usage();
      uAt = el;
    }
    if (ep.memory && u0 > 0 && afterMBps === null && el >= uAt + 3) afterMBps = (usage() - u0) / MiB / (el - uAt);
    await Bun.sleep(20);
  }
  const ranS = (performance.now() - t0) / 1000;
  const cpuUse = ep.neighbour === "cpu" ? { runaway: (cpuNs(cg) - cpu0.runaway) / 1e9 / ranS, neighbour: (cpuNs(victim) - cpu0.neighbour) / 1e9 / ranS, load: Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]) } : undefined;
  killed ||= cg.oomKills() > 0 || p.exitCode === 137;
  p.kill("SIGKILL");
  await p.exited;
  const stopMs = performance.now();
  const stopWall = Date.now();
  let restoredS: number | null = null;
  if (system === "hosa") {
    const end = stopMs + (RELAX_S + 90) * 1000;
    while (performance.now() < end) {
      if (limitState(cg) === before) {
        restoredS = (performance.now() - stopMs) / 1000;
        break;
      }
      await Bun.sleep(250);
    }
  }
  let neighbourMs: CollapseResult["neighbourMs"];
  if (tick) {
    const left = stopWall + 16500 - Date.now();
    if (left > 0) await Bun.sleep(left);
    tick.kill("SIGTERM");
    await tick.exited;
    if (ep.shares) victim.write("cpu", "cpu.shares", "1024");
    const secs = tickOut.text
      .split("\n")
      .map((l) => /^lat (\d+) (\d+) (\d+) (\d+)/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ at: Number(m[1]), p50: Number(m[2]) / 1000, p99: Number(m[3]) / 1000 }));
    const cAt = containS === null ? Number.POSITIVE_INFINITY : zero + containS * 1000;
    const win = (a: number, b: number) => {
      const w = secs.filter((x) => x.at > a && x.at <= b);
      return w.length ? `${fmt(median(w.map((x) => x.p50)), 1)} / ${fmt(median(w.map((x) => x.p99)), 1)}` : "—";
    };
    neighbourMs = { before: win(zero - 15000, zero), uncontained: win(zero + 1000, Math.min(cAt, stopWall)), contained: win(cAt + 1000, stopWall), after: win(stopWall + 1000, stopWall + 16000) };
  }
  const entries = log(zero).filter((e) => e.tS >= 0);
  const otherActions = entries.filter((e) => e.kind === "action" && e.outcome === "applied" && e.targetCgroup !== rel).length;
  const maxLevel = Math.max(levelAt(zero), ...entries.filter((e) => e.kind === "level").map((e) => e.level));
  await cgs.remove(cg);
  return { name: ep.name, system, detectS, containS, beforeMBps, afterMBps, killed, otherActions, restoredS, maxLevel, neighbourMs, cpuUse };
}

async function waitLevelZero(boundS: number): Promise<number | null> {
  const t0 = performance.now();
  while ((performance.now() - t0) / 1000 < boundS) {
    if (levelNow() === 0) return (performance.now() - t0) / 1000;
    await Bun.sleep(250);
  }
  return null;
}

let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= doCleanup();
  return cleaning;
}
async function doCleanup(): Promise<void> {
  await stopAgent();
  try {
    writeFileSync(join(tmpdir(), `hosa-trust-${process.pid}.decisions.log`), readFileSync(paths.logFile));
  } catch {}
  for (const p of procs) p.kill("SIGKILL");
  for (const c of churn) await cgs.remove(c);
  await cgs.destroyAll();
  for (const d of unifiedMade) {
    for (let i = 0; i < 40 && existsSync(d); i++) {
      try {
        rmdirSync(d);
      } catch {
        await Bun.sleep(50);
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
}
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    say(`${sig}: cleaning up`);
    aborted = true;
    void cleanup().then(() => process.exit(130));
  });
}

const benignResults: BenignResult[] = [];
const collapseResults: CollapseResult[] = [];
let hosaCpuPct = Number.NaN;
let hosaRssMiB = Number.NaN;
try {
  const server = cgs.create("http-server");
  const sp = spawnIn(server, [process.execPath, join(BENCH, "lib/neighbour-server.ts"), "0"], "pipe");
  const first = await (sp.stdout as ReadableStream<Uint8Array>).getReader().read();
  serverPort = Number(/listening (\d+)/.exec(new TextDecoder().decode(first.value))?.[1]);

  if (doBenign) {
    say("benign workloads without hosa (baseline durations)");
    for (const [i, b] of BENIGN.entries()) {
      if (!b.name.includes(only)) continue;
      await b.prepare?.();
      const r = await runBenign(b, i, false);
      benignResults.push({ name: b.name, baseS: r.s, hosaS: Number.NaN, wrkBase: wrkRate(r.out), maxLevel: 0, l3Actions: 0, l5: false, backToZeroS: null });
      say(`  ${b.name}: ${r.s.toFixed(1)} s`);
    }
  }
  say(`calibrating hosa for ${calibrateS} s (churn running)`);
  await calibrateHosa(paths, calibrateS);
  await startAgent();
  const agentPid = agent!.pid;
  const cpu0 = cpuTicks(agentPid);
  const tAgent0 = performance.now();
  if (doBenign) {
    say("benign workloads with hosa");
    for (const [i, b] of BENIGN.entries()) {
      if (!b.name.includes(only)) continue;
      const zero = Date.now();
      const r = await runBenign(b, i, true);
      const backToZeroS = await waitLevelZero(120);
      const entries = log(zero).filter((e) => e.tS >= 0);
      const res = benignResults.find((r) => r.name === b.name)!;
      res.hosaS = r.s;
      res.wrkHosa = wrkRate(r.out);
      res.maxLevel = Math.max(levelAt(zero), ...entries.filter((e) => e.kind === "level").map((e) => e.level));
      res.l3Actions = entries.filter((e) => e.kind === "action" && e.level >= 3 && e.outcome === "applied").length;
      res.l5 = entries.some((e) => e.level >= 5);
      res.backToZeroS = backToZeroS;
      say(`  ${b.name}: ${r.s.toFixed(1)} s, max level ${res.maxLevel}, ${res.l3Actions} Level ≥ 3 actions, level 0 ${backToZeroS === null ? "not within 120 s" : `${backToZeroS.toFixed(1)} s after`}`);
    }
  }
  if (doCollapse) {
    let k = 0;
    for (let i = 0; i < (only ? 0 : leakRuns); i++) {
      const r = await collapse(LEAK50, k++, "hosa");
      collapseResults.push(r);
      say(`  hosa ${r.name} #${i + 1}: detected ${fmt(r.detectS)} s, contained ${fmt(r.containS)} s, after ${fmt(r.afterMBps, 1)} MiB/s, restored ${fmt(r.restoredS, 1)} s after stop, other actions ${r.otherActions}`);
      await waitLevelZero(60);
    }
    const chosen = leakOnly ? [] : EPISODES.filter((e) => only.split("|").some((o) => e.name.includes(o)));
    for (const ep of only ? chosen.flatMap((e) => Array.from({ length: onlyRuns }, () => e)) : chosen) {
      const r = await collapse(ep, k++, "hosa");
      collapseResults.push(r);
      say(`  hosa ${r.name}: detected ${fmt(r.detectS)} s, contained ${fmt(r.containS)} s, max level ${r.maxLevel}, restored ${fmt(r.restoredS, 1)} s after stop`);
      await waitLevelZero(60);
    }
  }
  hosaCpuPct = ((cpuTicks(agentPid) - cpu0) / 100 / ((performance.now() - tAgent0) / 1000)) * 100;
  hosaRssMiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${agentPid}/status`, "utf8"))?.[1]) / 1024;
  await stopAgent();
  if (doCollapse && !leakOnly && !only) {
    const watcher = Bun.spawn([process.execPath, join(BENCH, "systems/rate-watcher.ts"), `/sys/fs/cgroup/memory${cgs.rootRelPath("memory")}`], { stdout: "pipe", stderr: "ignore" });
    procs.push(watcher);
    const wout = { text: "" };
    void (async () => {
      for await (const c of watcher.stdout as ReadableStream<Uint8Array>) wout.text += new TextDecoder().decode(c);
    })();
    await Bun.sleep(500);
    for (let i = 0; i < leakRuns; i++) {
      const r = await collapse(LEAK50, 100 + i, "rate watcher", wout);
      collapseResults.push(r);
      say(`  rate watcher ${r.name} #${i + 1}: contained ${fmt(r.containS)} s, after ${fmt(r.afterMBps, 1)} MiB/s`);
    }
    watcher.kill("SIGTERM");
    await watcher.exited;
    const r = await collapse({ ...LEAK50, runS: 60 }, 200, "kernel");
    collapseResults.push(r);
    say(`  kernel alone ${r.name}: killed ${r.killed} at ${fmt(r.containS)} s`);
  }
} finally {
  await cleanup();
}

// ---------- report ----------
const rows = (sys: string, name: string) => collapseResults.filter((r) => r.system === sys && r.name === name);
const med = (xs: (number | null)[]) => median(xs.filter((x): x is number => x !== null));
md("# Trust: danger before harm, the right target, letting go (issue 11)");
md();
md(`Generated by \`bun bench/trust.ts\` on ${new Date().toISOString()}; hosa ${HOSA_BIN.replace(/.*\/(dist\/hosa)$/, "$1")} in act mode, calibrated ${calibrateS} s on this machine's load, relax_s ${RELAX_S}; two "churn" cgroups grew to 400 MB at 40 MB/s and were freed, over and over, all along. hosa's cost over the whole run: ${fmt(hosaCpuPct, 1)} % of one CPU, ${fmt(hosaRssMiB, 0)} MiB RSS.`);
md();
if (benignResults.length) {
  md("## Healthy but bursty work (each in its own cgroup, no memory limit)");
  md();
  md("| workload | without hosa | with hosa | max level | Level ≥ 3 actions | Level 5 | Level 0 again after the end |");
  md("| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of benignResults) {
    const dur = Number.isFinite(r.wrkBase ?? Number.NaN) ? `${fmt(r.wrkBase, 0)} req/s` : `${fmt(r.baseS, 1)} s`;
    const durH = Number.isFinite(r.wrkHosa ?? Number.NaN) ? `${fmt(r.wrkHosa, 0)} req/s` : `${fmt(r.hosaS, 1)} s`;
    md(`| ${r.name} | ${dur} | ${durH} | ${r.maxLevel} | ${r.l3Actions} | ${r.l5 ? "yes" : "no"} | ${r.backToZeroS === null ? "not within 120 s" : `${fmt(r.backToZeroS, 1)} s`} |`);
  }
  md();
}
if (collapseResults.length) {
  md(`## Real collapse: leak of 50 MB/s in a 2 GiB cgroup (${leakRuns} runs each)`);
  md();
  md("| system | detected (median) | contained (median, min–max) | growth after containment | process killed | actions on other cgroups | original values back after the leak stops |");
  md("| --- | --- | --- | --- | --- | --- | --- |");
  for (const sys of ["hosa", "rate watcher", "kernel"]) {
    const rs = rows(sys, LEAK50.name);
    if (!rs.length) continue;
    const c = rs.map((r) => r.containS).filter((x): x is number => x !== null);
    const after = rs.map((r) => (r.afterMBps !== null && r.beforeMBps ? (100 * r.afterMBps) / r.beforeMBps : null));
    md(
      `| ${sys} | ${sys === "hosa" ? `${fmt(med(rs.map((r) => r.detectS)))} s` : "—"} | ${sys === "kernel" ? `killed at ${fmt(med(c))} s` : `${fmt(med(c))} s (${fmt(Math.min(...c))}–${fmt(Math.max(...c))}) ${c.length}/${rs.length}`} | ` +
        `${sys === "kernel" ? "—" : `${fmt(med(after), 1)} % of before (${fmt(med(rs.map((r) => r.afterMBps)), 1)} MiB/s)`} | ${rs.filter((r) => r.killed).length}/${rs.length} | ${sys === "hosa" ? rs.reduce((a, r) => a + r.otherActions, 0) : "—"} | ` +
        `${sys === "hosa" ? `${fmt(med(rs.map((r) => r.restoredS)), 1)} s (max ${fmt(Math.max(...rs.map((r) => r.restoredS ?? Number.POSITIVE_INFINITY)), 1)})` : "—"} |`,
    );
  }
  md();
  md("## Other collapses, hosa");
  md();
  md("| scenario | detected | contained | max level | growth after containment | killed | actions on other cgroups | values back after the end |");
  md("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of collapseResults.filter((x) => x.system === "hosa" && x.name !== LEAK50.name)) {
    md(
      `| ${r.name} | ${r.detectS === null ? "never" : `${fmt(r.detectS)} s`} | ${r.containS === null ? "never" : `${fmt(r.containS)} s`} | ${r.maxLevel} | ${r.afterMBps === null ? "—" : `${fmt(r.afterMBps, 1)} MiB/s (${fmt(r.beforeMBps, 1)} before)`} | ${r.killed ? "yes" : "no"} | ${r.otherActions} | ${r.restoredS === null ? "—" : `${fmt(r.restoredS, 1)} s`} |`,
    );
  }
  md();
  const nb = collapseResults.filter((x) => x.neighbourMs);
  if (nb.length) {
    md("## The latency-sensitive neighbour: CPU runaway, a service's response time (a request of 12 ms of CPU every 20 ms, from when it was due to when it was done); I/O flood, how long its 4 KiB write + fdatasync took (every 20 ms). p50 / p99 ms, medians of per-second figures");
    md();
    md("| scenario | before the runaway (15 s) | runaway, not contained | runaway, contained | after (15 s) |");
    md("| --- | --- | --- | --- | --- |");
    for (const r of nb) md(`| ${r.name} | ${r.neighbourMs!.before} | ${r.neighbourMs!.uncontained} | ${r.neighbourMs!.contained} | ${r.neighbourMs!.after} |`);
    md();
    for (const r of nb.filter((x) => x.cpuUse)) md(`${r.name}: while it ran, the runaway used ${fmt(r.cpuUse!.runaway, 2)} CPUs and the service ${fmt(r.cpuUse!.neighbour, 2)} (load average ${fmt(r.cpuUse!.load, 1)} at the end).`);
    md();
  }
}
// Notes written by hand below the marker survive a regeneration.
const MARK = "<!-- notes: kept when bench/trust.ts regenerates this file -->";
let notes = `${MARK}\n`;
try {
  const old = readFileSync(outFile, "utf8");
  if (old.includes(MARK)) notes = old.slice(old.indexOf(MARK));
} catch {}
writeFileSync(outFile, `${lines.join("\n")}\n${notes}`);
say(`wrote ${outFile}`);
process.exit(0);
