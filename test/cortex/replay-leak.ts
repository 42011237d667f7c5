// A decision log from a replayed leak recording, built by the same stages the
// agent runs: test/recordings/leak.csv through the engine, the responder in
// detection-only mode choosing its target, the hash-chained decision log.
// The recording (a CSV export) holds no per-cgroup usage, so that one input
// is made here: a cgroup /workload/leak (2 GiB limit) whose memory grows by
// what the node's MemAvailable lost, beside an idle /workload/idle. From it
// the real danger tracker (src/engine/danger.ts) measures the danger the live
// agent would attach to each sample, and the responder ranks its targets.
// The per-cgroup usage is the only fake.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defaultConfig, type HosaConfig } from "../../src/config.ts";
import { engineConfigFrom } from "../../src/engine/engine.ts";
import { DangerTracker } from "../../src/engine/danger.ts";
import { openRecording } from "../../src/recording/open.ts";
import type { RecordingReader } from "../../src/recording/types.ts";
import { replay } from "../../src/replay.ts";
import { actionEntry, DecisionLog, levelEntry, wallTimeNs } from "../../src/report/decision-log.ts";
import { createCgroupFs } from "../../src/kernel/cgroupfs.ts";
import { createResponder } from "../../src/respond/responder.ts";
import type { CgroupUsage } from "../../src/sense/types.ts";
import { REPO } from "../harness.ts";

export const LEAK_CGROUP = "/workload/leak";
/** Wall time of recording t = 0: fixed, so the log (and the incident ids) are the same every run. */
const EPOCH_S = Date.UTC(2026, 10, 1, 12, 0, 0) / 1000;

function cgroupDir(root: string, path: string, files: Record<string, string>): void {
  const d = join(root, path);
  mkdirSync(d, { recursive: true });
  for (const [f, v] of Object.entries(files)) writeFileSync(join(d, f), v);
}

/** Write the decision log of the replayed leak under `dir` (the leak in cgroup `leak`); returns the config whose paths point there. */
export function replayLeakLog(dir: string, leak = LEAK_CGROUP, laterS = 0): { cfg: HosaConfig; logFile: string } {
  const cfg = defaultConfig();
  cfg.paths.stateDir = join(dir, "state");
  cfg.paths.logFile = join(dir, "decisions.log");
  cfg.cortex.playbookDir = "";
  const root = join(dir, "cgroupfs");
  cgroupDir(root, "", { "cgroup.controllers": "cpu io memory pids\n", "cgroup.procs": "" });
  for (const p of [leak, "/workload/idle"]) {
    cgroupDir(root, p, { "cgroup.procs": "", "memory.current": "104857600\n", "memory.high": "max\n", "memory.max": "max\n", "cpu.weight": "100\n", "cpu.max": "max 100000\n", "cgroup.freeze": "0\n" });
  }
  cfg.sense.cgroupRoot = root;
  cfg.sense.procRoot = join(REPO, "test/fixtures/proc");
  const responder = createResponder(cfg, { fs: createCgroupFs(root) });
  const csv = openRecording(join(REPO, "test/recordings/leak.csv"));
  const tracker = new DangerTracker();
  const log = DecisionLog.open(cfg.paths.logFile, { maxBytes: 1 << 30, keep: 1, stateDir: cfg.paths.stateDir, sign: false });
  const availIdx = csv.header.dims.findIndex((d) => d.name === "mem_available_bytes");
  let avail0 = NaN;
  const usage = (t: number, x: Float64Array): CgroupUsage[] => {
    if (Number.isNaN(avail0)) avail0 = x[availIdx]!;
    const leaked = Math.max(0, avail0 - x[availIdx]!);
    return [
      { path: leak, memoryBytes: 100 * 2 ** 20 + leaked, cpuUsageUs: t * 2e4, ioBytes: 0, pids: 1 },
      { path: "/workload/idle", memoryBytes: 100 * 2 ** 20, cpuUsageUs: t * 2e4, ioBytes: 0, pids: 1 },
    ];
  };
  // Each sample with the danger the live agent measures (src/sense/cgroup-watch.ts → DangerTracker).
  const reader: RecordingReader = {
    path: csv.path,
    header: { ...csv.header, dangerRecorded: true },
    stats: csv.stats,
    *samples() {
      for (const sample of csv.samples()) {
        const cgroups = usage(sample.t, sample.x).map((u) => ({ path: u.path, anonBytes: u.memoryBytes, limitBytes: 2 * 2 ** 30, pressing: false, contained: false }));
        sample.danger = tracker.update({ t: sample.t, cgroups, nodeAvailableBytes: sample.x[availIdx]! });
        yield sample;
      }
    },
  };
  try {
    // As the golden replay (test/recording/replay.test.ts): learn from the first 90 s, the leak starts at 120 s.
    for (const { sample, decision: d } of replay(reader, engineConfigFrom(cfg.engine), null, 90)) {
      const wall = wallTimeNs(BigInt(Math.round((EPOCH_S + laterS + d.t) * 1e6)) * 1000n);
      const actions = responder.onDecision(d, usage(sample.t, sample.x));
      if (d.level !== d.previousLevel) log.append(levelEntry(d, wall, "replay"));
      for (const a of actions) log.append(actionEntry(d, a, wall, "replay"));
    }
  } finally {
    log.close();
  }
  return { cfg, logFile: cfg.paths.logFile };
}
