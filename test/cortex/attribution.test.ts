// Naming the cgroup of an episode no danger record names (issue 17): the
// agent's `contributors` (which cgroup consumed most of each resource over
// the episode, src/report/decision-log.ts) and a danger on CPU or I/O, however
// the engine words it. The entries are written by the real decision log; the
// decisions are made here (test/report/helpers.ts): this machine's engine
// cannot be made to raise a CPU episode on demand (its θ follow the shared
// load), which is the one thing faked.
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { defaultConfig } from "../../src/config.ts";
import type { Hypotheses } from "../../src/cortex/analyze.ts";
import { Cortex, readDecisionLog } from "../../src/cortex/cortex.ts";
import { actionEntry, DecisionLog, EpisodeAttribution, levelEntry } from "../../src/report/decision-log.ts";
import type { Decision, Level } from "../../src/engine/types.ts";
import type { CgroupUsage } from "../../src/sense/types.ts";
import { tempDir } from "../harness.ts";
import { makeDecision } from "../report/helpers.ts";

const tmp = tempDir("hosa-cortex-attr-");
afterAll(() => tmp.cleanup());

const CPU_DIMS = [
  { dim: "cpu_busy_ratio", share: 0.55 },
  { dim: "psi_cpu_some_ratio", share: 0.3 },
  { dim: "runq_latency_us", share: 0.1 },
];

/** One episode 0→1→`peak`→1→0 of CPU-led decisions, each level change walked as the agent does; `extra` goes into every entry. */
function cpuEpisode(name: string, walk: (t: number) => CgroupUsage[], extra: Partial<Decision> = {}, peak: Level = 2): string {
  const file = join(tmp.dir, name, "decisions.log");
  const log = DecisionLog.open(file, { maxBytes: 1 << 30, keep: 1, stateDir: join(tmp.dir, name, "state"), sign: false });
  let now = 0;
  const att = new EpisodeAttribution(() => walk(now));
  const steps: [Level, Level, number][] = [
    [1, 0, 100],
    [peak, 1, 101],
    [1, peak, 112],
    [0, 1, 120],
  ];
  for (const [level, prev, t] of steps) {
    now = t;
    const d = makeDecision(level, prev, { t, dominant: CPU_DIMS, regime: 4, ttfS: Infinity, ttfDim: null, ...extra });
    const e = levelEntry(d, new Date(Date.UTC(2026, 11, 1, 12, 0, t)).toISOString().replace("Z", "000000Z"), "n");
    att.annotate(d, e);
    log.append(e);
  }
  log.close();
  return file;
}

function topOf(file: string, sub: string) {
  const cfg = defaultConfig();
  cfg.paths.stateDir = join(tmp.dir, sub);
  cfg.cortex.playbookDir = "";
  const { entries } = readDecisionLog(file);
  const cx = new Cortex(cfg);
  const [inc] = cx.sync(entries, entries.at(-1)!.timestamp);
  return cx.store.read<Hypotheses>(inc!.id, "root_cause_hypothesis")!.body.top!;
}

// A hog using 1.8 CPU, a neighbour 0.2 CPU and growing memory faster (it is not what the episode is about).
const usage = (t: number): CgroupUsage[] => [
  { path: "/bench", cpuUsageUs: t * 2e6, memoryBytes: t * 2 ** 20, ioBytes: 0, pids: 3 },
  { path: "/bench/hog", cpuUsageUs: t * 1.8e6, memoryBytes: 2 ** 20, ioBytes: 0, pids: 2 },
  { path: "/bench/web", cpuUsageUs: t * 0.2e6, memoryBytes: t * 2 ** 20, ioBytes: 0, pids: 1 },
];

test("a CPU episode with no danger and no action: the cgroup that consumed the CPU, cited by its log line", () => {
  const top = topOf(cpuEpisode("cpu", usage), "cpu");
  expect(top.mode).toBe("cpu_saturation");
  expect(top.cgroup).toBe("/bench/hog");
  const why = top.evidence.find((e) => e.why.includes("/bench/hog"))!;
  expect(why.why).toContain("consumed most cpu over the episode (1.80 CPU over 20 s)");
  expect(why.seq).toBe(3);
});

test("an older log without the field: no cgroup is named rather than a wrong one", () => {
  const top = topOf(cpuEpisode("old", () => []), "old");
  expect(top.mode).toBe("cpu_saturation");
  expect(top.cgroup).toBeNull();
});

test("a danger on CPU names its cgroup first, and counts as the strongest evidence once the engine contained it", () => {
  // "cpu stall": how issue 11's CPU harm words it (a neighbour kept waiting by one cgroup's CPU use).
  const danger = {
    dangerCgroup: "/bench/batch",
    dangerResource: "cpu stall",
    dangerTtfS: 12,
    dangerEvidence: "/bench/batch: 1.9 CPU while /bench/web waits 40 ms per run",
  } as Partial<Decision>;
  const top = topOf(cpuEpisode("danger", usage, danger, 3), "danger");
  expect(top.mode).toBe("cpu_saturation");
  expect(top.cgroup).toBe("/bench/batch");
  expect(top.parts.danger).toBe(1);
  // Seen but never raised to containment (Level ≥ 3): half as strong, and said so.
  const seen = topOf(cpuEpisode("danger-seen", usage, danger, 2), "danger-seen");
  expect(seen).toMatchObject({ mode: "cpu_saturation", cgroup: "/bench/batch" });
  expect(seen.parts.danger).toBe(0.5);
  expect(seen.evidence.map((e) => e.why).join("\n")).toContain("(never contained)");
});

test("a danger on I/O (\"io stall\") points to I/O saturation, not to the CPU the dimensions show", () => {
  const file = cpuEpisode("io-danger", usage, {
    dominant: [
      { dim: "blk_ios_per_s", share: 0.5 },
      { dim: "cpu_busy_ratio", share: 0.45 },
    ],
    dangerCgroup: "/bench/backup",
    dangerResource: "io stall",
    dangerTtfS: 10,
    dangerEvidence: "/bench/backup: 80 MiB/s while /bench/web waits on I/O",
  } as Partial<Decision>);
  const top = topOf(file, "io-danger");
  expect(top.mode).toBe("io_saturation");
  expect(top.cgroup).toBe("/bench/backup");
});

test("a faint opening and a danger far beyond the engine's horizon do not outweigh the surge that followed", () => {
  // As hosa logged a connection flood on this machine: Level 1 on a limit-ratio blip (1.6 θ1), Level 2 on TCP opens
  // (5.4 θ1), a memory trajectory 410 s from its limit (the engine's horizon is 120 s: no danger to it).
  const file = join(tmp.dir, "flood", "decisions.log");
  const log = DecisionLog.open(file, { maxBytes: 1 << 30, keep: 1, stateDir: join(tmp.dir, "flood", "state"), sign: false });
  let now = 0;
  const att = new EpisodeAttribution(() => [
    { path: "/bench/flood", cpuUsageUs: now * 2e5, memoryBytes: now * 5 * 2 ** 20, ioBytes: 0, pids: 1, probeCounters: { tcpActiveOpens: now * 3000 } },
    { path: "/bench/other", cpuUsageUs: 0, memoryBytes: 0, ioBytes: 0, pids: 1, probeCounters: { tcpActiveOpens: 0 } },
  ]);
  const far = { dangerCgroup: "/bench/flood", dangerResource: "memory limit", dangerTtfS: 410, dangerEvidence: "anon 3.8 MiB growing 5.0 MiB/s" };
  const steps: [Level, Level, number, Partial<Decision>][] = [
    [1, 0, 100, { dm: 34.6, dominant: [{ dim: "cgroup_mem_limit_ratio", share: 1 }], regime: 1 }],
    [2, 1, 100.3, { dm: 116.6, dominant: [{ dim: "tcp_active_opens_per_s", share: 0.96 }, { dim: "cgroup_mem_limit_ratio", share: 0.03 }], regime: 5, ...far }],
  ];
  for (const [level, prev, t, over] of steps) {
    now = t;
    const d = makeDecision(level, prev, { t, ttfS: Infinity, ttfDim: null, thresholds: { theta1: 21.6, theta2: 25.6, theta3: 31.8, theta4: 35.8 }, ...over } as Partial<Decision>);
    const e = levelEntry(d, new Date(Date.UTC(2026, 11, 1, 12, 0, 0) + t * 1000).toISOString().replace("Z", "000000Z"), "n");
    att.annotate(d, e);
    log.append(e);
  }
  log.close();
  const top = topOf(file, "flood");
  expect(top.mode).toBe("connection_flood");
  expect(top.cgroup).toBe("/bench/flood");
});

test("a fork storm the engine froze on its pids limit is a fork storm, though the memory its children take leads D_M", () => {
  // As hosa logged one on this machine: Level 1 → 4 on "pids limit", cpu.shares and the freeze on that cgroup (no
  // fork-specific control file), dimensions led by cgroup_mem_limit_ratio (each child's memory fills the cgroup).
  const file = join(tmp.dir, "fork", "decisions.log");
  const log = DecisionLog.open(file, { maxBytes: 1 << 30, keep: 1, stateDir: join(tmp.dir, "fork", "state"), sign: false });
  const pids = { dangerCgroup: "/bench/storm", dangerResource: "pids limit", dangerEvidence: "pids 1024 growing 2082/s for 0.5 s, limit 1024: 0.0 s to exhaustion" };
  const memLed: Partial<Decision> = { dm: 12, regime: 0, thresholds: { theta1: 42, theta2: 47.5, theta3: 59.9, theta4: 67.8 }, ttfS: Infinity, ttfDim: null };
  const at = (t: number) => new Date(Date.UTC(2026, 11, 1, 12, 0, 0) + t * 1000).toISOString().replace("Z", "000000Z");
  const d1 = makeDecision(1, 0, { ...memLed, t: 100, dominant: [{ dim: "cgroup_mem_limit_ratio", share: 0.4 }, { dim: "mem_used_ratio", share: 0.19 }], ...pids, dangerTtfS: 0.08 } as Partial<Decision>);
  const d4 = makeDecision(4, 1, { ...memLed, t: 101.9, dominant: [{ dim: "cgroup_mem_limit_ratio", share: 0.61 }, { dim: "psi_cpu_some_ratio", share: 0.14 }], ...pids, dangerTtfS: 0 } as Partial<Decision>);
  log.append(levelEntry(d1, at(100), "n"));
  log.append(levelEntry(d4, at(101.9), "n"));
  for (const [i, action] of ["cpu.shares 1024→256", "freezer.state THAWED→FROZEN"].entries()) {
    log.append(actionEntry(d4, { id: `a${i}`, t: 101.9, level: 4, kind: "cgroup", target: "/bench/storm", action, outcome: "applied" }, at(101.9), "n"));
  }
  log.append(levelEntry(makeDecision(0, 4, { ...memLed, t: 130 }), at(130), "n"));
  log.close();
  const top = topOf(file, "fork");
  expect(top).toMatchObject({ mode: "fork_storm", cgroup: "/bench/storm" });
  expect(top.parts.actions).toBeGreaterThan(0.5);
  expect(top.evidence.map((e) => e.why).join("\n")).toMatch(/(cpu\.shares|freezer\.state) .* on \/bench\/storm: applied/);
});
