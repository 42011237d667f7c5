// Cost of the eBPF probes to the workload they watch: stress-ng stressors that
// hammer the scheduler, syscalls and page faults, run alternately without and
// with the probes attached (ABBA order per round, so drift cancels), in the
// same process. Slowdown is measured on bogo-ops per CPU second (user+system:
// BPF programs run in the workload's own context, so their cost lands there,
// while a neighbour's load does not) and on bogo-ops per wall second. On a
// shared machine both are noisy; the kernel's own BPF run-time statistics
// (BPF_ENABLE_STATS, on only during the "with" runs) give the exact time the
// programs ran, per event and as a share of the stressor's CPU time (an upper
// bound: events of other processes on the node count too).
//
// Each [sense] probes mode given (--modes, default lean,full) is measured in
// the same rounds: off, lean, full, full*, lean*, off. Run-time statistics
// cost two clock reads per program run, so they are on only in the starred
// runs: slowdowns come from the others, BPF time from those.
//
//   bun bench/probe-overhead.ts [--seconds 3] [--rounds 3] [--workers 1] [--stressors switch,get,fault] [--modes lean,full] [--json]
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { enableRunStats } from "../src/ffi/libhosa.ts";
import { detectCgroupLayout } from "../src/kernel/cgroups.ts";
import { openProbes, PROBE_MODES, type ProbeMode } from "../src/sense/bpf-probes.ts";
import { fmt, median } from "./lib/stats.ts";

const ALL_STRESSORS = [
  { name: "switch", what: "context switches (pipe ping-pong)" },
  { name: "get", what: "get*() system calls" },
  { name: "fault", what: "minor and major page faults" },
] as const;
const only = process.argv.indexOf("--stressors");
const STRESSORS = only >= 0 ? ALL_STRESSORS.filter((s) => (process.argv[only + 1] ?? "").split(",").includes(s.name)) : ALL_STRESSORS;
if (STRESSORS.length === 0) throw new Error(`--stressors wants some of ${ALL_STRESSORS.map((s) => s.name).join(",")}`);
const mi = process.argv.indexOf("--modes");
const MODES = (mi >= 0 ? (process.argv[mi + 1] ?? "").split(",") : ["lean", "full"]) as ProbeMode[];
if (MODES.length === 0 || MODES.some((m) => !PROBE_MODES.includes(m))) throw new Error(`--modes wants some of ${PROBE_MODES.join(",")}`);

interface Rate {
  cpuS: number;
  wallS: number;
  /** usr+sys seconds of all stressor instances. */
  cpuSeconds: number;
  /** Nanoseconds the probes ran during this run, and how many times (with probes only). */
  bpfNs?: number;
  bpfRuns?: number;
  bpfByProgram?: Record<string, { ns: number; runs: number }>;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} wants a positive number`);
  return v;
}

function runStressor(stressor: string, workers: number, seconds: number, dir: string): Rate {
  const yaml = join(dir, `${stressor}.yaml`);
  const r = Bun.spawnSync(
    ["stress-ng", `--${stressor}`, String(workers), "--timeout", `${seconds}s`, "--metrics-brief", "--yaml", yaml, "--temp-path", dir],
    { stdout: "ignore", stderr: "pipe", timeout: (seconds + 30) * 1000 },
  );
  if (r.exitCode !== 0) throw new Error(`stress-ng --${stressor} exited ${r.exitCode}: ${r.stderr.toString().trim().split("\n").pop()}`);
  const text = readFileSync(yaml, "latin1");
  const cpuS = Number(/bogo-ops-per-second-usr-sys-time:\s*([\d.]+)/.exec(text)?.[1]);
  const wallS = Number(/bogo-ops-per-second-real-time:\s*([\d.]+)/.exec(text)?.[1]);
  const cpuSeconds = Number(/user-time:\s*([\d.]+)/.exec(text)?.[1]) + Number(/system-time:\s*([\d.]+)/.exec(text)?.[1]);
  return { cpuS, wallS, cpuSeconds };
}

const seconds = arg("seconds", 3);
const rounds = arg("rounds", 3);
const workers = arg("workers", 1);
const dir = mkdtempSync(join(tmpdir(), "hosa-probe-overhead-"));
const results: Record<string, Record<string, Rate[]>> = {};
const order: (ProbeMode | "off")[] = ["off", ...MODES, ...[...MODES].reverse(), "off"];
try {
  for (const s of STRESSORS) results[s.name] = Object.fromEntries(["off", ...MODES].map((m) => [m, []]));
  for (let round = 0; round < rounds; round++) {
    for (const s of STRESSORS) {
      for (const [idx, mode] of order.entries()) {
        const withProbes = mode !== "off";
        const probes = withProbes ? openProbes({ cgroupHierarchy: detectCgroupLayout().memoryHierarchy, mode }) : undefined;
        const statsOff = withProbes && idx > MODES.length ? enableRunStats() : undefined;
        try {
          const before = probes?.programStats();
          const rate = runStressor(s.name, workers, seconds, dir);
          if (probes && before && statsOff) {
            rate.bpfByProgram = {};
            rate.bpfNs = 0;
            rate.bpfRuns = 0;
            for (const p of probes.programStats()) {
              const b = before.find((x) => x.name === p.name)!;
              const ns = p.runTimeNs - b.runTimeNs;
              const runs = p.runCount - b.runCount;
              rate.bpfByProgram[p.name] = { ns, runs };
              rate.bpfNs += ns;
              rate.bpfRuns += runs;
            }
          }
          results[s.name]![mode]!.push(rate);
          // Reading the maps as the agent would keeps the measurement honest about per-tick cost too.
          probes?.totals();
          probes?.perCgroup();
        } finally {
          statsOff?.();
          probes?.close();
        }
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const rows = STRESSORS.flatMap((s) =>
  MODES.map((mode) => {
    const off = results[s.name]!.off!;
    const all = results[s.name]![mode]!;
    const on = all.filter((x) => x.bpfNs === undefined);
    const timed = all.filter((x) => x.bpfNs !== undefined);
    const offCpu = median(off.map((x) => x.cpuS))!;
    const onCpu = median(on.map((x) => x.cpuS))!;
    const offWall = median(off.map((x) => x.wallS))!;
    const onWall = median(on.map((x) => x.wallS))!;
    // The spread: each "with" run against the median "without".
    const slowdowns = on.map((x) => (1 - x.cpuS / offCpu) * 100);
    return {
      stressor: s.name,
      what: s.what,
      mode,
      runs: off.length + all.length,
      opsPerCpuSOff: offCpu,
      opsPerCpuSOn: onCpu,
      slowdownCpuPct: (1 - onCpu / offCpu) * 100,
      slowdownCpuMinPct: Math.min(...slowdowns),
      slowdownCpuMaxPct: Math.max(...slowdowns),
      opsPerWallSOff: offWall,
      opsPerWallSOn: onWall,
      slowdownWallPct: (1 - onWall / offWall) * 100,
      bpfShareOfCpuPct: median(timed.map((x) => ((x.bpfNs ?? 0) / 1e9 / x.cpuSeconds) * 100)),
      bpfNsPerRun: median(timed.map((x) => (x.bpfNs ?? 0) / Math.max(1, x.bpfRuns ?? 0))),
      bpfByProgram: Object.fromEntries(
        Object.keys(timed[0]?.bpfByProgram ?? {}).map((name) => {
          const ns = timed.reduce((a, x) => a + (x.bpfByProgram?.[name]?.ns ?? 0), 0);
          const runs = timed.reduce((a, x) => a + (x.bpfByProgram?.[name]?.runs ?? 0), 0);
          return [name, { runs, nsPerRun: runs ? ns / runs : 0 }];
        }),
      ),
    };
  }),
);

// What one tick's read costs the agent: global counters, the per-cgroup dump, the event drain.
const readCost = (() => {
  const probes = openProbes({ cgroupHierarchy: detectCgroupLayout().memoryHierarchy, mode: MODES[0] });
  try {
    const totals = probes.totals();
    const perCgroup = probes.perCgroup();
    const time = (f: () => void, n = 2000) => {
      const t0 = Bun.nanoseconds();
      for (let i = 0; i < n; i++) f();
      return (Bun.nanoseconds() - t0) / n / 1000;
    };
    return {
      cgroups: perCgroup.size,
      totalsUs: time(() => probes.totals(totals)),
      perCgroupUs: time(() => probes.perCgroup(perCgroup)),
      drainEventsUs: time(() => probes.drainEvents()),
    };
  } finally {
    probes.close();
  }
})();

if (process.argv.includes("--json")) {
  console.log(JSON.stringify({ seconds, rounds, workers, rows, readCost }, null, 2));
} else {
  console.log(`probe overhead: stress-ng, ${workers} worker(s), ${seconds} s per run, ${rounds} rounds of ${order.map((m, i) => (m !== "off" && i > MODES.length ? `${m}*` : m)).join("/")} (* = BPF run statistics on; medians; spread of each run with probes against the median without)`);
  console.log("stressor mode  ops/CPU-s off   ops/CPU-s on  slowdown (spread)        | ops/s off      ops/s on   slowdown | BPF % of CPU  ns/run");
  for (const r of rows) {
    console.log(
      `${r.stressor.padEnd(8)} ${r.mode.padEnd(5)} ${fmt(r.opsPerCpuSOff, 0).padStart(12)} ${fmt(r.opsPerCpuSOn, 0).padStart(13)} ${`${fmt(r.slowdownCpuPct, 1)}%`.padStart(7)} (${fmt(r.slowdownCpuMinPct, 1)}..${fmt(r.slowdownCpuMaxPct, 1)}%)`.padEnd(66) +
        ` | ${fmt(r.opsPerWallSOff, 0).padStart(10)} ${fmt(r.opsPerWallSOn, 0).padStart(12)} ${`${fmt(r.slowdownWallPct, 1)}%`.padStart(9)} | ${`${fmt(r.bpfShareOfCpuPct, 2)}%`.padStart(12)} ${fmt(r.bpfNsPerRun, 0).padStart(7)}`,
    );
  }
  console.log("per program (runs with statistics on): runs x ns per run");
  for (const r of rows) {
    console.log(`  ${r.stressor} ${r.mode}:`);
    for (const [n, p] of Object.entries(r.bpfByProgram)) if (p.runs > 0) console.log(`    ${n.padEnd(28)} ${p.runs} x ${fmt(p.nsPerRun, 0)} ns`);
  }
}
if (!process.argv.includes("--json")) {
  console.log(
    `read cost per tick: totals() ${fmt(readCost.totalsUs, 1)} us, perCgroup() ${fmt(readCost.perCgroupUs, 1)} us (${readCost.cgroups} cgroups), drainEvents() ${fmt(readCost.drainEventsUs, 1)} us`,
  );
}
