// Collect the decision logs the cortex bench scores (issue 17): hosa in act
// mode, live, on the Lethal Interval scenarios (bench/scenarios), one decision
// log per episode kept (gzipped) under bench/cortex-logs/ with the workload's
// cgroup (and the agent's cgroup_scope) in index.json. The CPU runaway and the
// I/O flood run beside a latency-sensitive neighbour (COLLECTED below).
// bench/cortex.ts then replays these logs through the cortex, so the scoring
// is repeatable and cheap; rerun this to refresh them on a new build.
//
//   bun bench/cortex-collect.ts [--scenario NAME]... [--calibrate S] [--out DIR]
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { closeSuite, openSuite, runEpisode } from "./harness.ts";
import { type Scenario, SCENARIOS } from "./scenarios/index.ts";

const args = process.argv.slice(2);
const wanted: string[] = [];
let calibrateS = 60;
let out = `${import.meta.dir}/cortex-logs`;
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--scenario") wanted.push(args[++i]!);
  else if (args[i] === "--calibrate") calibrateS = Number(args[++i]);
  else if (args[i] === "--out") out = args[++i]!;
  else {
    console.error(`cortex-collect: unknown argument "${args[i]}"`);
    process.exit(2);
  }
}
/**
 * The scenarios as the product meets them, as bench/trust.ts runs them: a
 * CPU runaway and an I/O flood beside a service the operator named
 * latency-sensitive (the harness's `neighbour`), the flood writing for its
 * whole time (fio --time_based) rather than ending when its files are laid
 * out. The rest as bench/scenarios defines them.
 */
const COLLECTED: Scenario[] = SCENARIOS.map((s) => {
  if (s.name === "cpu-saturation") return { ...s, neighbour: "cpu" };
  if (s.name === "io-flood") return { ...s, neighbour: "io", command: async (ctx) => [...(await s.command(ctx)), "--time_based"] };
  return s;
});
const chosen = wanted.length
  ? wanted.map((n) => COLLECTED.find((s) => s.name === n) ?? (console.error(`cortex-collect: unknown scenario "${n}"`), process.exit(2)))
  : COLLECTED.filter((s) => !s.optional);
mkdirSync(out, { recursive: true });
// The harness removes a run's directory (and its decision log) unless asked to keep it; this script removes it after the copy.
process.env.HOSA_BENCH_KEEP = "1";
const log = (l: string) => console.log(`[cortex-collect] ${l}`);
const suite = await openSuite({ prometheus: false, hosa: true, calibrateS, log });
const index: Record<string, unknown>[] = [];
try {
  if (suite.unavailable.hosa) throw new Error(`hosa unavailable: ${suite.unavailable.hosa}`);
  for (const s of chosen) {
    for (let run = 1; run <= s.runs.hosa; run++) {
      log(`${s.name} run ${run}/${s.runs.hosa} (up to ${s.boundS} s)`);
      const r = await runEpisode(suite, s, "hosa", run);
      const src = `${suite.dir}/runs/${s.name}-hosa-${run}/hosa/decisions.log`;
      const name = `${s.name}-${run}.decisions.jsonl`;
      // Gzipped: a fork storm's quarantine logs one SIGSTOP per process (a megabyte of JSON).
      writeFileSync(`${out}/${name}.gz`, Bun.gzipSync(existsSync(src) ? readFileSync(src) : new Uint8Array()));
      rmSync(`${suite.dir}/runs/${s.name}-hosa-${run}`, { recursive: true, force: true });
      index.push({
        file: name,
        scenario: s.name,
        kind: s.kind,
        benign: s.benign,
        neighbour: s.neighbour ?? null,
        title: s.title,
        run,
        cgroup: r.cgroup,
        started_at: r.startedAt,
        load_avg_1: r.loadAvg1,
        killed: r.workload.killed,
      });
      writeFileSync(
        `${out}/index.json`,
        `${JSON.stringify({ calibrate_s: calibrateS, hosa_calibration: suite.hosaCalibration, cgroup_scope: suite.cgroups.rootRelPath("memory"), episodes: index }, null, 1)}\n`,
      );
      log(`  ${name}: cgroup ${r.cgroup}`);
    }
  }
} finally {
  await closeSuite(suite);
  rmSync(suite.dir, { recursive: true, force: true });
}
