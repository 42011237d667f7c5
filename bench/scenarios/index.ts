// The Lethal Interval scenarios (issue 7): failures that must be contained and
// benign bursts that must not be. Each one starts its workload inside the
// run's cgroup, is bounded in time, and leaves nothing behind.
import { mkdirSync, writeFileSync } from "node:fs";
import { cacheWarmCommand, prepareCacheWarm } from "../lib/cache-warm.ts";
import { argvInCgroup, type BenchCgroup } from "../lib/cgroups.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export type ScenarioKind = "memory" | "fork" | "cpu" | "io" | "net";

export interface Tools {
  leaker: string;
  forkstorm: string;
  /** bench/scenarios/ticker.c: a latency-sensitive neighbour that says how late it woke (or how long its synced writes took). */
  ticker: string;
  bun: string;
  benchDir: string;
}

export interface ScenarioContext {
  cg: BenchCgroup;
  /** A scratch directory of this run, removed afterwards. */
  dir: string;
  tools: Tools;
  /** Another cgroup of the benchmark (the server a flood aims at), removed with the run. */
  sideCgroup(name: string): BenchCgroup;
  /** Track a helper process so the run stops it. */
  track(p: Bun.Subprocess): void;
}

export interface Scenario {
  name: string;
  title: string;
  kind: ScenarioKind;
  benign: boolean;
  memoryLimitBytes: number;
  /**
   * The limit the Prometheus rule divides by, when it is not the cgroup's:
   * PEERS.md's alert-path run keeps the rule on the 2 GiB the service was
   * given while the cgroup's real limit is lifted so it lives long enough.
   */
  alertLimitBytes?: number;
  pidsMax: number;
  /** The episode never runs longer than this. */
  boundS: number;
  runs: { baseline: number; hosa: number };
  /** Left out of the full suite unless named (or `--with-optional`). */
  optional?: boolean;
  /**
   * A latency-sensitive neighbour beside the workload (bench/scenarios/ticker.c
   * in a cgroup of its own, named in hosa's `respond.latency_sensitive`, its
   * cgroup2 stall readable on a hybrid host), ticking from before hosa starts:
   * "cpu" wakes every 10 ms for 3 ms of work, "io" writes 4 KiB and
   * fdatasync()s every 20 ms (bench/trust.ts's neighbours). What the product
   * meets when a runaway harms a service the operator cares for.
   */
  neighbour?: "cpu" | "io";
  /** Refuse to start when the machine has less memory available than this. */
  needsAvailableBytes?: number;
  prepare?(ctx: ScenarioContext): Promise<void>;
  /** argv of the workload; it is started inside `ctx.cg` from its first instruction. */
  command(ctx: ScenarioContext): string[] | Promise<string[]>;
}

function leak(name: string, title: string, rateMb: number, maxMb: number, limit: number, boundS: number, runs: Scenario["runs"], populate = false): Scenario {
  return {
    name,
    title,
    kind: "memory",
    benign: false,
    memoryLimitBytes: limit,
    pidsMax: 4096,
    boundS,
    runs,
    command: (ctx) => [ctx.tools.leaker, "--rate-mb", String(rateMb), "--max-mb", String(maxMb), ...(populate ? ["--populate"] : [])],
  };
}

/** A C file big enough that compiling it takes a few seconds of CPU and some memory. */
function generatedC(functions: number): string {
  let s = "#include <stdint.h>\n";
  for (let i = 0; i < functions; i++) {
    s += `uint64_t f${i}(uint64_t x) { uint64_t a = x * ${i + 3}u; for (int k = 0; k < ${(i % 7) + 2}; k++) a = (a << 3) ^ (a >> 5) ^ ${i}u; return a; }\n`;
  }
  s += "uint64_t all(uint64_t x) { uint64_t s = 0;\n";
  for (let i = 0; i < functions; i++) s += ` s += f${i}(x + ${i});\n`;
  return `${s} return s; }\n`;
}

export const SCENARIOS: Scenario[] = [
  leak("leak-50", "memory leak 50 MB/s, cgroup limit 2 GiB", 50, 3000, 2 * GiB, 60, { baseline: 3, hosa: 3 }),
  leak("leak-500", "memory leak 500 MB/s (MAP_POPULATE), cgroup limit 2 GiB", 500, 3000, 2 * GiB, 15, { baseline: 2, hosa: 2 }, true),
  leak("leak-5", "memory leak 5 MB/s, cgroup limit 256 MiB", 5, 3000, 256 * MiB, 65, { baseline: 1, hosa: 1 }),
  {
    ...leak("leak-50-12g", "memory leak 50 MB/s, limit lifted to 12 GiB, rule still on 2 GiB (the alert path)", 50, 9000, 12 * GiB, 190, { baseline: 1, hosa: 0 }),
    alertLimitBytes: 2 * GiB,
    optional: true,
    needsAvailableBytes: 14 * GiB,
  },
  {
    name: "fork-storm",
    title: "fork storm: up to 3000 sleeping children in 10 s, pids.max 1024",
    kind: "fork",
    benign: false,
    memoryLimitBytes: 2 * GiB,
    pidsMax: 1024,
    boundS: 15,
    runs: { baseline: 1, hosa: 1 },
    command: (ctx) => [ctx.tools.forkstorm, "--max", "3000", "--seconds", "10"],
  },
  {
    name: "cpu-saturation",
    title: "CPU saturation: one worker per core for 20 s",
    kind: "cpu",
    benign: false,
    memoryLimitBytes: 2 * GiB,
    pidsMax: 4096,
    boundS: 22,
    runs: { baseline: 1, hosa: 1 },
    command: () => ["stress-ng", "--cpu", "0", "--timeout", "20s", "--quiet"],
  },
  {
    name: "io-flood",
    title: "I/O flood: fio, 2 jobs writing 2 GiB each (O_DIRECT), 20 s at most",
    kind: "io",
    benign: false,
    memoryLimitBytes: 2 * GiB,
    pidsMax: 4096,
    boundS: 22,
    runs: { baseline: 1, hosa: 1 },
    command: (ctx) => [
      "fio",
      "--name=flood",
      `--directory=${ctx.dir}`,
      "--rw=write",
      "--bs=1M",
      "--size=2G",
      "--numjobs=2",
      "--direct=1",
      "--runtime=20",
      "--group_reporting",
      "--output-format=terse",
    ],
  },
  {
    name: "conn-flood",
    title: "connection flood: up to 8000 held TCP connections to a loopback server in 12 s",
    kind: "net",
    benign: false,
    memoryLimitBytes: 2 * GiB,
    pidsMax: 4096,
    boundS: 16,
    runs: { baseline: 1, hosa: 1 },
    command: async (ctx) => {
      const server = ctx.sideCgroup("conn-server");
      const p = Bun.spawn(argvInCgroup(server, [ctx.tools.bun, `${ctx.tools.benchDir}/scenarios/conn-server.ts`, "0"]), {
        stdout: "pipe",
        stderr: "ignore",
        stdin: "ignore",
      });
      ctx.track(p);
      const reader = p.stdout.getReader();
      const first = await Promise.race([reader.read(), Bun.sleep(10000).then(() => null)]);
      reader.releaseLock();
      const port = /listening (\d+)/.exec(first?.value ? new TextDecoder().decode(first.value) : "")?.[1];
      if (!port) throw new Error("the flood's target server did not start");
      return [ctx.tools.bun, `${ctx.tools.benchDir}/scenarios/conn-flood.ts`, port, "8000", "12"];
    },
  },
  {
    name: "benign-compile",
    title: "benign: compiling a generated 1500-function C file in a loop for 20 s",
    kind: "cpu",
    benign: true,
    memoryLimitBytes: 2 * GiB,
    pidsMax: 4096,
    boundS: 22,
    runs: { baseline: 1, hosa: 2 },
    prepare: async (ctx) => {
      writeFileSync(`${ctx.dir}/gen.c`, generatedC(1500));
    },
    command: (ctx) => ["timeout", "20", "sh", "-c", `while :; do cc -O2 -c '${ctx.dir}/gen.c' -o '${ctx.dir}/gen.o' || exit 1; done`],
  },
  {
    name: "benign-backup-read",
    title: "benign: backup-like sequential read of a 1 GiB file (O_DIRECT), 15 s",
    kind: "io",
    benign: true,
    memoryLimitBytes: 2 * GiB,
    pidsMax: 4096,
    boundS: 17,
    runs: { baseline: 1, hosa: 2 },
    prepare: async (ctx) => {
      mkdirSync(ctx.dir, { recursive: true });
      const p = Bun.spawn(["dd", "if=/dev/zero", `of=${ctx.dir}/backup.img`, "bs=1M", "count=1024", "oflag=direct", "status=none"]);
      await p.exited;
    },
    command: (ctx) => ["timeout", "15", "sh", "-c", `while :; do dd if='${ctx.dir}/backup.img' of=/dev/null bs=1M iflag=direct status=none || exit 1; done`],
  },
  {
    name: "benign-cpu-spike",
    title: "benign: short CPU spike, one core for 3 s",
    kind: "cpu",
    benign: true,
    memoryLimitBytes: 2 * GiB,
    pidsMax: 4096,
    boundS: 12,
    runs: { baseline: 1, hosa: 2 },
    command: () => ["stress-ng", "--cpu", "1", "--timeout", "3s", "--quiet"],
  },
  {
    name: "benign-cache-warm",
    // A real cache warm (bench/lib/cache-warm.ts, as bench/trust.ts runs it):
    // a file read into the page cache. The scenario this replaces wrote 600 MB
    // of anonymous memory at 100 MB/s: for its first seconds that is a leak
    // faster than the 50 MB/s one hosa must contain within 1 s, not a healthy
    // burst (bench/RESULTS-cortex.md).
    title: "benign: cache warming, a 1.5 GiB file read into the page cache then held (levels off), limit 2 GiB",
    kind: "memory",
    benign: true,
    memoryLimitBytes: 2 * GiB,
    pidsMax: 4096,
    boundS: 25,
    runs: { baseline: 1, hosa: 2 },
    prepare: (ctx) => prepareCacheWarm(`${ctx.dir}/warm.img`, 1536),
    command: (ctx) => cacheWarmCommand(`${ctx.dir}/warm.img`, 5),
  },
];

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
