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
//   bun bench/probe-overhead.ts [--seconds 3] [--rounds 3] [--workers 1] [--stressors switch,get,fault] [--json]
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { enableRunStats } from "../src/ffi/libhosa.ts";
import { detectCgroupHierarchy, openProbes } from "../src/sense/bpf-probes.ts";
import { fmt, median } from "./lib/stats.ts";

const ALL_STRESSORS = [
  { name: "switch", what: "context switches (pipe ping-pong)" },
  { name: "get", what: "get*() system calls" },
  { name: "fault", what: "minor and major page faults" },
] as const;
const only = process.argv.indexOf("--stressors");
const STRESSORS = only >= 0 ? ALL_STRESSORS.filter((s) => (process.argv[only + 1] ?? "").split(",").includes(s.name)) : ALL_STRESSORS;
if (STRESSORS.length === 0) throw new Error(`--stressors wants some of ${ALL_STRESSORS.map((s) => s.name).join(",")}`);

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
const results: Record<string, { off: Rate[]; on: Rate[] }> = {};
try {
  for (const s of STRESSORS) results[s.name] = { off: [], on: [] };
  for (let round = 0; round < rounds; round++) {
    for (const s of STRESSORS) {
      for (const withProbes of [false, true, true, false]) {
        const probes = withProbes ? openProbes({ cgroupHierarchy: detectCgroupHierarchy() }) : undefined;
        const statsOff = withProbes ? enableRunStats() : undefined;
        try {
          const before = probes?.programStats();
          const rate = runStressor(s.name, workers, seconds, dir);
          if (probes && before) {
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
          results[s.name]![withProbes ? "on" : "off"].push(rate);
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

const rows = STRESSORS.map((s) => {
  const r = results[s.name]!;
  const offCpu = median(r.off.map((x) => x.cpuS))!;
  const onCpu = median(r.on.map((x) => x.cpuS))!;
  const offWall = median(r.off.map((x) => x.wallS))!;
  const onWall = median(r.on.map((x) => x.wallS))!;
  return {
    stressor: s.name,
    what: s.what,
    runs: r.off.length + r.on.length,
    opsPerCpuSOff: offCpu,
    opsPerCpuSOn: onCpu,
    slowdownCpuPct: (1 - onCpu / offCpu) * 100,
    opsPerWallSOff: offWall,
    opsPerWallSOn: onWall,
    slowdownWallPct: (1 - onWall / offWall) * 100,
    bpfShareOfCpuPct: median(r.on.map((x) => ((x.bpfNs ?? 0) / 1e9 / x.cpuSeconds) * 100)),
    bpfNsPerRun: median(r.on.map((x) => (x.bpfNs ?? 0) / Math.max(1, x.bpfRuns ?? 0))),
    bpfByProgram: Object.fromEntries(
      Object.keys(r.on[0]?.bpfByProgram ?? {}).map((name) => {
        const ns = r.on.reduce((a, x) => a + (x.bpfByProgram?.[name]?.ns ?? 0), 0);
        const runs = r.on.reduce((a, x) => a + (x.bpfByProgram?.[name]?.runs ?? 0), 0);
        return [name, { runs, nsPerRun: runs ? ns / runs : 0 }];
      }),
    ),
  };
});

// What one tick's read costs the agent: global counters, the per-cgroup dump, the event drain.
const readCost = (() => {
  const probes = openProbes({ cgroupHierarchy: detectCgroupHierarchy() });
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
  console.log(`probe overhead: stress-ng, ${workers} worker(s), ${seconds} s per run, ${rounds} rounds of off/on/on/off (medians)`);
  console.log("stressor  ops/CPU-s off   ops/CPU-s on  slowdown  | ops/s off      ops/s on   slowdown | BPF % of CPU  ns/run");
  for (const r of rows) {
    console.log(
      `${r.stressor.padEnd(8)} ${fmt(r.opsPerCpuSOff, 0).padStart(12)} ${fmt(r.opsPerCpuSOn, 0).padStart(13)} ${`${fmt(r.slowdownCpuPct, 1)}%`.padStart(9)}  | ${fmt(r.opsPerWallSOff, 0).padStart(10)} ${fmt(r.opsPerWallSOn, 0).padStart(12)} ${`${fmt(r.slowdownWallPct, 1)}%`.padStart(9)} | ${`${fmt(r.bpfShareOfCpuPct, 2)}%`.padStart(12)} ${fmt(r.bpfNsPerRun, 0).padStart(7)}`,
    );
  }
  console.log("per program (all runs with probes): runs, ns per run");
  const names = Object.keys(rows[0]?.bpfByProgram ?? {});
  for (const n of names) {
    const cells = rows.map((r) => `${r.stressor}: ${r.bpfByProgram[n]!.runs} x ${fmt(r.bpfByProgram[n]!.nsPerRun, 0)} ns`);
    console.log(`  ${n.padEnd(28)} ${cells.join("   ")}`);
  }
}
if (!process.argv.includes("--json")) {
  console.log(
    `read cost per tick: totals() ${fmt(readCost.totalsUs, 1)} us, perCgroup() ${fmt(readCost.perCgroupUs, 1)} us (${readCost.cgroups} cgroups), drainEvents() ${fmt(readCost.drainEventsUs, 1)} us`,
  );
}
