// Keeps the Lethal Interval harness from rotting: one short real scenario (a
// 50 MB/s leak in a 256 MiB cgroup, killed by the kernel after about 5 s)
// through the same code `bun bench/lethal.ts` runs, with earlyoom, nohang and
// Prometheus + Alertmanager watching, then hosa when dist/hosa is built. The
// full benchmark is not a test; this one checks the record is sane and that
// nothing the harness made is left behind.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { closeSuite, harnessUnsupported, openSuite, type RunRecord, runEpisode, type Suite } from "../../bench/harness.ts";
import { planRuns } from "../../bench/lethal.ts";
import { resultsMarkdown } from "../../bench/report/results.ts";
import { timelineSvg } from "../../bench/report/svg.ts";
import { type Scenario, SCENARIOS } from "../../bench/scenarios/index.ts";
import { hosaMissing } from "../../bench/systems/hosa.ts";

const MiB = 1024 * 1024;
const why = harnessUnsupported();
const hosaWhy = hosaMissing();

const shortLeak: Scenario = {
  ...SCENARIOS.find((s) => s.name === "leak-50")!,
  name: "leak-50-short",
  title: "memory leak 50 MB/s, cgroup limit 256 MiB (harness test)",
  memoryLimitBytes: 256 * MiB,
  boundS: 12,
};

describe.skipIf(why !== null)(`Lethal Interval harness${why ? ` (skipped: ${why})` : ""}`, () => {
  let suite: Suite;
  let baseline: RunRecord;

  beforeAll(async () => {
    suite = await openSuite({ prometheus: true, hosa: hosaWhy === null, calibrateS: 8, restWaitS: 5, log: () => {} });
  }, 60000);

  afterAll(async () => {
    if (suite) await closeSuite(suite);
  }, 30000);

  test("a 50 MB/s leak in a 256 MiB cgroup is OOM-killed by the kernel, the watchers never act, all is timed", async () => {
    expect(suite.unavailable.prometheus).toBeUndefined();
    baseline = await runEpisode(suite, shortLeak, "baseline", 1);
    const w = baseline.workload;
    expect(w.killed).toBe(true);
    expect(w.killedBy).toBe("kernel OOM killer");
    expect(w.oomKills).toBeGreaterThanOrEqual(1);
    expect(w.stoppedAtBound).toBe(false);
    const kill = baseline.events.find((e) => e.system === "kernel" && e.kind === "kill");
    expect(kill).toBeDefined();
    // 256 MiB at 50 MB/s is 5.4 s; the absolute schedule keeps the rate on a busy machine.
    expect(kill!.tS).toBeGreaterThan(3);
    expect(kill!.tS).toBeLessThan(shortLeak.boundS);
    expect(w.exitedAtS! - kill!.tS).toBeGreaterThanOrEqual(-0.05);
    expect(w.reportedMb!).toBeGreaterThan(120);
    expect(w.reportedMb!).toBeLessThanOrEqual(256);
    expect(w.peakMemoryBytes).toBeGreaterThan(0.7 * shortLeak.memoryLimitBytes);
    expect(w.peakMemoryBytes).toBeLessThanOrEqual(shortLeak.memoryLimitBytes);
    // Whole-machine daemons have nothing to act on inside a cgroup limit.
    expect(baseline.events.filter((e) => e.system === "earlyoom" || e.system === "nohang")).toEqual([]);
    expect(baseline.cost.earlyoom?.rssMaxBytes ?? 0).toBeGreaterThan(0);
    expect(baseline.cost.nohang?.rssMaxBytes ?? 0).toBeGreaterThan(0);
    // `for: 1m` cannot fire in a 6 s episode.
    expect(baseline.watchedByPrometheus).toBe(true);
    expect(baseline.events.filter((e) => e.system === "prometheus" && e.kind === "alert")).toEqual([]);
    expect(baseline.preEpisodeS).toBeGreaterThanOrEqual(2);
    expect(baseline.preEpisodeS).toBeLessThanOrEqual(17);
    // The timeline is ordered, spans the episode and saw the memory grow.
    const tl = baseline.timeline.filter((p) => p.tS >= 0);
    expect(tl.length).toBeGreaterThan(30);
    for (let i = 1; i < tl.length; i++) expect(tl[i].tS).toBeGreaterThan(tl[i - 1].tS);
    expect(Math.max(...tl.map((p) => p.memoryBytes))).toBe(w.peakMemoryBytes);
    expect(baseline.neighbour.during.probes).toBeGreaterThan(20);
    expect(baseline.neighbour.during.p50Ms!).toBeGreaterThan(0);
    expect(baseline.neighbour.during.p99Ms!).toBeGreaterThanOrEqual(baseline.neighbour.during.p50Ms!);
    // Nothing of the run is left: its cgroup is gone in every controller.
    expect(existsSync(`/sys/fs/cgroup/memory${baseline.cgroup}`)).toBe(false);
  }, 60000);

  test.skipIf(hosaWhy !== null)(`hosa acts on the same leak and its record is sane${hosaWhy ? ` (skipped: ${hosaWhy})` : ""}`, async () => {
    expect(suite.unavailable.hosa).toBeUndefined();
    // Beside a latency-sensitive neighbour (named in the agent's respond.latency_sensitive), as the cortex collection runs its CPU and I/O scenarios.
    const r = await runEpisode(suite, { ...shortLeak, neighbour: "io" }, "hosa", 1);
    expect(r.hosa).not.toBeNull();
    // The neighbour's cgroup, in every v1 controller and in the cgroup2 tree, is gone with the run.
    expect(r.sensitiveCgroup).toBe(`${r.cgroup}-neighbour`);
    for (const tree of ["memory", "cpu", "blkio", "unified"]) expect(existsSync(`/sys/fs/cgroup/${tree}${r.cgroup}-neighbour`)).toBe(false);
    const h = r.hosa!;
    // Either hosa saw the leak (an event inside the episode) or it never left level 0;
    // on a shared machine it may already be raised at t = 0, which the record says.
    const det = r.events.find((e) => e.system === "hosa" && e.kind === "detection");
    if (det) {
      expect(det.tS).toBeGreaterThanOrEqual(0);
      expect(det.tS).toBeLessThanOrEqual(r.durationS);
    } else expect(h.maxLevel === 0 || h.levelAtStart > 0).toBe(true);
    for (const l of h.levels) {
      expect(l.tS).toBeGreaterThanOrEqual(0);
      expect(l.level).toBeGreaterThanOrEqual(0);
      expect(l.level).toBeLessThanOrEqual(5);
    }
    expect(h.maxLevel).toBeGreaterThanOrEqual(h.levelAtStart);
    expect(r.cost.hosa?.rssMaxBytes ?? 0).toBeGreaterThan(1 * MiB);
    expect(r.cost.hosa!.cpuPercent).toBeGreaterThanOrEqual(0);
    // Its scope is the benchmark's own cgroups: no cgroup action lands anywhere else.
    for (const a of h.actions) expect(a.target === null || !a.target.startsWith("/") || a.target.includes(suite.cgroups.rootName)).toBe(true);
  }, 90000);

  test("the results markdown and the SVG timeline come from the record", () => {
    expect(baseline).toBeDefined();
    const md = resultsMarkdown({
      command: "bun test test/bench/lethal-harness.test.ts",
      startedAt: baseline.startedAt,
      finishedAt: baseline.startedAt,
      machine: { kernel: "k" },
      versions: { bun: Bun.version },
      unavailable: {},
      hosaCalibration: "",
      scenarios: [shortLeak],
      runs: [baseline],
      skipped: [],
      replay: null,
      figuresDir: "figures",
    });
    const kill = baseline.events.find((e) => e.kind === "kill")!.tS.toFixed(2);
    expect(md).toContain("bun test test/bench/lethal-harness.test.ts");
    expect(md).toContain(`| kernel alone (cgroup limit) | 1 | — | ${kill} s 1/1 |`);
    expect(md).toContain("![leak-50-short timeline](figures/leak-50-short.svg)");
    const svg = timelineSvg(shortLeak, [baseline], []);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain(`kernel kills ${kill} s`);
    expect(svg).toContain("memory.limit_in_bytes");
  });
});

test("planRuns refuses an unknown scenario and keeps optional ones out of the full suite", () => {
  expect(() => planRuns({ scenarios: ["nope"], quick: false, withOptional: false, hosa: true })).toThrow(/unknown scenario "nope"/);
  const full = planRuns({ scenarios: [], quick: false, withOptional: false, hosa: true });
  expect(full.some((p) => p.scenario.optional)).toBe(false);
  expect(full.filter((p) => p.scenario.name === "leak-50" && p.group === "hosa").length).toBe(3);
  const quick = planRuns({ scenarios: [], quick: true, withOptional: false, hosa: false });
  expect(quick.every((p) => p.group === "baseline" && p.of === 1)).toBe(true);
});
