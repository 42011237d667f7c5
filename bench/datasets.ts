// Public server telemetry, scored side by side in one run (bench/RESULTS-datasets.md):
// hosa (`dist/hosa calibrate --from train`, then `dist/hosa replay test
// --baseline ... --json`, which judges without learning) at Level ≥ 1 and
// ≥ 2, the 30-line reference detector (bench/datasets-reference.ts) and the
// trivial per-column detector shipped with the data (example_detector.py),
// all scored by the data's own score.py.
//   bun bench/datasets.ts [--data DIR] [--only NAME,NAME] [--json] [--markdown]
//   bun bench/datasets.ts --fast [--rhythm]   (in process; --rhythm: hour-of-day offsets, an experiment)
//   bun bench/datasets.ts --fast --before '{"regimeAfterS":0}'   (in process, a markdown table:
//     the default engine beside the engine with these [engine] overrides, in one run)
// DIR defaults to ../shared/datasets (5 SMD machines, 8 NAB series; its README).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gunzipSync } from "bun";
import { referenceDecisions } from "./datasets-reference.ts";
import { parseLabels, scoreDecisions, type Metrics } from "./datasets-score.ts";
import { defaultEngineConfig, type EngineConfig } from "../src/engine/engine.ts";
import { openRecording } from "../src/recording/open.ts";
import { knownDimensions } from "../src/recording/known-dims.ts";
import { calibrateFromRecording, replay } from "../src/replay.ts";

const REPO = resolve(import.meta.dir, "..");
const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const DATA = resolve(opt("--data") ?? join(REPO, "../shared/datasets"));
const ONLY = opt("--only")?.split(",");
const HOSA = join(REPO, "dist/hosa");

export const SMD = ["machine-1-2", "machine-1-6", "machine-2-2", "machine-3-4", "machine-3-10"];
export const NAB = [
  "nyc_taxi",
  "ambient_temperature_system_failure",
  "ec2_cpu_utilization_53ea38",
  "rds_cpu_utilization_e47b3b",
  "ec2_disk_write_bytes_c0d644",
  "ec2_network_in_5abac7",
  "exchange-4_cpc_results",
  "speed_7578",
];

export interface Score {
  pa_f1: number;
  event_recall: number;
  fp_episodes_per_day: number;
  segments: number;
}

export interface SeriesResult {
  name: string;
  kind: "smd" | "nab";
  hosa1: Score;
  hosa2: Score;
  hosa3: Score;
  maxLevel: number;
  /** Level of hosa's last decision (≥ 3 there: held to the end). */
  lastLevel: number;
  supported: boolean;
  reference: Score;
  trivial: Score;
  seconds: number;
}

function run(cmd: string[], stdoutPath?: string): string {
  const p = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  if (p.exitCode !== 0) throw new Error(`${cmd.join(" ")}: exit ${p.exitCode}: ${p.stderr.toString().trim()}`);
  const out = p.stdout.toString();
  if (stdoutPath) writeFileSync(stdoutPath, out);
  return out;
}

function score(labels: string, decisions: string, minLevel: number): Score {
  const out = JSON.parse(run(["python3", join(DATA, "score.py"), labels, decisions, "--min-level", String(minLevel)]));
  return { pa_f1: out.pa_f1, event_recall: out.event_recall, fp_episodes_per_day: out.fp_episodes_per_day, segments: out.segments ?? out.n_segments ?? 0 };
}

export function runSeries(name: string, kind: "smd" | "nab", dataDir = DATA, hosa = HOSA): SeriesResult {
  const started = Bun.nanoseconds();
  const dir = mkdtempSync(join(tmpdir(), `hosa-datasets-${process.pid}-`));
  try {
    const base = join(dataDir, kind, name);
    const train = join(dir, "train.csv");
    const test = join(dir, "test.csv");
    writeFileSync(train, gunzipSync(readFileSync(`${base}-train.csv.gz`)));
    writeFileSync(test, gunzipSync(readFileSync(`${base}-test.csv.gz`)));
    const labels = `${base}-labels.csv.gz`;
    const cfg = join(dir, "hosa.toml");
    writeFileSync(cfg, "");
    const baseline = join(dir, "baseline.json");
    const cal = JSON.parse(run([hosa, "-c", cfg, "calibrate", "--from", train, "--out", baseline, "--json"]));
    const decisions = join(dir, "hosa.jsonl");
    const text = run([hosa, "-c", cfg, "replay", test, "--baseline", baseline, "--json"], decisions);
    let maxLevel = 0;
    let lastLevel = 0;
    for (const line of text.split("\n")) {
      if (!line) continue;
      const level = Number(line.slice(line.indexOf('"level":') + 8, line.indexOf(",", line.indexOf('"level":'))));
      if (level > maxLevel) maxLevel = level;
      lastLevel = level;
    }
    const ref = join(dir, "reference.jsonl");
    writeFileSync(ref, referenceDecisions(readFileSync(train, "utf8"), readFileSync(test, "utf8")));
    const triv = join(dir, "trivial.jsonl");
    run(["python3", join(dataDir, "example_detector.py"), train, test], triv);
    return {
      name,
      kind,
      hosa1: score(labels, decisions, 1),
      hosa2: score(labels, decisions, 2),
      hosa3: score(labels, decisions, 3),
      maxLevel,
      lastLevel,
      supported: cal.supported,
      reference: score(labels, ref, 1),
      trivial: score(labels, triv, 1),
      seconds: (Bun.nanoseconds() - started) / 1e9,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The same judgement in process (the code `hosa calibrate --from` and
 * `hosa replay --baseline` run), scored by the TypeScript port of score.py:
 * for the pinned test and for quick runs (`--fast`).
 */
export function judgeInProcess(
  base: string,
  cfg: EngineConfig = defaultEngineConfig(),
  rhythm = false,
): { levels: number[]; times: number[]; labels: { t: number[]; truth: boolean[] }; supported: boolean; rhythm: boolean } {
  const dir = mkdtempSync(join(tmpdir(), `hosa-datasets-${process.pid}-`));
  try {
    const train = join(dir, "train.csv");
    const test = join(dir, "test.csv");
    let trainCsv = new TextDecoder().decode(gunzipSync(readFileSync(`${base}-train.csv.gz`)));
    let testCsv = new TextDecoder().decode(gunzipSync(readFileSync(`${base}-test.csv.gz`)));
    let used = false;
    if (rhythm) {
      const r = hourOfDayOffsets(trainCsv, testCsv);
      if (r) {
        [trainCsv, testCsv] = r;
        used = true;
      }
    }
    writeFileSync(train, trainCsv);
    writeFileSync(test, testCsv);
    const { baseline } = calibrateFromRecording(openRecording(train, knownDimensions()), cfg, Infinity);
    const levels: number[] = [];
    const times: number[] = [];
    for (const { decision } of replay(openRecording(test, knownDimensions()), cfg, baseline, 0)) {
      levels.push(decision.level);
      times.push(decision.t);
    }
    const labels = parseLabels(new TextDecoder().decode(gunzipSync(readFileSync(`${base}-labels.csv.gz`))));
    return { levels, times, labels, supported: baseline.supported !== false, rhythm: used };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The node's rhythm, as an experiment (issue 10 item 6, bench/RESULTS-datasets.md):
 * per-hour-of-day mean offsets of every column, learned on the train when it
 * spans at least 2 days (each hour seen twice), subtracted from train and
 * test before hosa sees them; the same as a baseline whose mean follows the
 * hour of day. Undefined (not applied) on a shorter train.
 */
export function hourOfDayOffsets(trainCsv: string, testCsv: string): [string, string] | undefined {
  const parse = (csv: string) => {
    const lines = csv.split("\n").filter((l) => l.length > 0);
    const rows = lines.slice(1).map((l) => {
      const c = l.split(",");
      const n = Number(c[0]);
      const t = Number.isFinite(n) ? n : Math.round(Date.parse(c[0]) / 1000);
      return { stamp: c[0], t, x: c.slice(1).map(Number) };
    });
    return { head: lines[0], rows };
  };
  const tr = parse(trainCsv);
  const te = parse(testCsv);
  if (tr.rows.length < 2 || tr.rows[tr.rows.length - 1].t - tr.rows[0].t < 2 * 86400) return undefined;
  const n = tr.rows[0].x.length;
  const hour = (t: number) => Math.floor((((t % 86400) + 86400) % 86400) / 3600);
  const sum = Array.from({ length: 24 }, () => new Float64Array(n));
  const cnt = new Float64Array(24);
  const all = new Float64Array(n);
  for (const r of tr.rows) {
    const h = hour(r.t);
    cnt[h]++;
    for (let j = 0; j < n; j++) {
      sum[h][j] += r.x[j];
      all[j] += r.x[j];
    }
  }
  const off = sum.map((s, h) => Float64Array.from(s, (v, j) => (cnt[h] > 0 ? v / cnt[h] - all[j] / tr.rows.length : 0)));
  const write = (p: ReturnType<typeof parse>) =>
    `${p.head}\n${p.rows.map((r) => `${r.stamp},${r.x.map((v, j) => v - off[hour(r.t)][j]).join(",")}`).join("\n")}\n`;
  return [write(tr), write(te)];
}

export function scoreInProcess(
  base: string,
  cfg?: EngineConfig,
  rhythm = false,
): { l1: Metrics; l2: Metrics; l3: Metrics; maxLevel: number; lastLevel: number; supported: boolean; rhythm: boolean } {
  const j = judgeInProcess(base, cfg, rhythm);
  const sc = (k: number) => scoreDecisions(j.labels.t, j.labels.truth, j.times, j.levels, k);
  return { l1: sc(1), l2: sc(2), l3: sc(3), maxLevel: Math.max(...j.levels), lastLevel: j.levels[j.levels.length - 1], supported: j.supported, rhythm: j.rhythm };
}

const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : "n/a");
const f1 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : "n/a");

function row(r: SeriesResult): string {
  const s = (x: Score) => `${f2(x.pa_f1)} | ${f2(x.event_recall)} | ${f1(x.fp_episodes_per_day)}`;
  return `| ${r.name} | ${s(r.hosa1)} | ${s(r.hosa2)} | ${f1(r.hosa3.fp_episodes_per_day)} | ${r.maxLevel} / ${r.lastLevel} | ${s(r.reference)} | ${s(r.trivial)} |`;
}

function mean(rs: SeriesResult[], f: (r: SeriesResult) => number): number {
  return rs.reduce((a, r) => a + f(r), 0) / rs.length;
}

if (import.meta.main && args.includes("--fast") && opt("--before") !== undefined) {
  // Before (the overrides) and after (the default engine), side by side, one run.
  const before = { ...defaultEngineConfig(), ...JSON.parse(opt("--before") as string) };
  const all = [...SMD.map((n) => [n, "smd"] as const), ...NAB.map((n) => [n, "nab"] as const)].filter(([n]) => !ONLY || ONLY.includes(n));
  const sums = { smd: new Array(12).fill(0), nab: new Array(12).fill(0) };
  const counts = { smd: 0, nab: 0 };
  process.stdout.write(
    "| series | before L≥1 PA-F1 | recall | FP/day | max / last | after L≥1 PA-F1 | recall | FP/day | max / last | after L≥2 PA-F1 | recall | FP/day | after L≥3 FP/day |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
  );
  for (const [name, kind] of all) {
    const b = scoreInProcess(join(DATA, kind, name), before);
    const a = scoreInProcess(join(DATA, kind, name));
    const v = [b.l1.pa_f1, b.l1.event_recall, b.l1.fp_episodes_per_day, a.l1.pa_f1, a.l1.event_recall, a.l1.fp_episodes_per_day, a.l2.pa_f1, a.l2.event_recall, a.l2.fp_episodes_per_day, a.l3.fp_episodes_per_day];
    v.forEach((x, i) => (sums[kind][i] += x));
    counts[kind]++;
    process.stdout.write(
      `| ${name} | ${f2(v[0])} | ${f2(v[1])} | ${f1(v[2])} | ${b.maxLevel} / ${b.lastLevel} | ${f2(v[3])} | ${f2(v[4])} | ${f1(v[5])} | ${a.maxLevel} / ${a.lastLevel} | ${f2(v[6])} | ${f2(v[7])} | ${f1(v[8])} | ${f1(v[9])} |\n`,
    );
  }
  for (const k of ["smd", "nab"] as const) {
    const c = counts[k];
    if (!c) continue;
    const m = sums[k].map((x: number) => x / c);
    process.stdout.write(
      `| **${k.toUpperCase()} mean** | ${f2(m[0])} | ${f2(m[1])} | ${f1(m[2])} | | ${f2(m[3])} | ${f2(m[4])} | ${f1(m[5])} | | ${f2(m[6])} | ${f2(m[7])} | ${f1(m[8])} | ${f1(m[9])} |\n`,
    );
  }
} else if (import.meta.main && args.includes("--fast")) {
  const all = [...SMD.map((n) => [n, "smd"] as const), ...NAB.map((n) => [n, "nab"] as const)].filter(([n]) => !ONLY || ONLY.includes(n));
  const sums = { smd: [0, 0, 0, 0], nab: [0, 0, 0, 0] };
  for (const [name, kind] of all) {
    const over = process.env.HOSA_ENGINE_OVERRIDE ? JSON.parse(process.env.HOSA_ENGINE_OVERRIDE) : {};
    const r = scoreInProcess(join(DATA, kind, name), { ...defaultEngineConfig(), ...over }, args.includes("--rhythm"));
    const s = sums[kind];
    s[0] += r.l1.pa_f1;
    s[1] += r.l1.event_recall;
    s[2] += r.l1.fp_episodes_per_day;
    s[3]++;
    process.stdout.write(
      `${name.padEnd(36)} L1 ${f2(r.l1.pa_f1)} ${f2(r.l1.event_recall)} ${f1(r.l1.fp_episodes_per_day)}  L2 ${f2(r.l2.pa_f1)} ${f2(r.l2.event_recall)} ${f1(r.l2.fp_episodes_per_day)}  L3 fp ${f1(r.l3.fp_episodes_per_day)}  max/last ${r.maxLevel}/${r.lastLevel}${r.supported ? "" : " unsupported"}${r.rhythm ? " rhythm" : ""}\n`,
    );
  }
  for (const k of ["smd", "nab"] as const) {
    const s = sums[k];
    if (s[3]) process.stdout.write(`${k} mean L1 PA-F1 ${f2(s[0] / s[3])} recall ${f2(s[1] / s[3])} FP/day ${f1(s[2] / s[3])}\n`);
  }
} else if (import.meta.main) {
  const results: SeriesResult[] = [];
  for (const name of SMD) if (!ONLY || ONLY.includes(name)) results.push(runSeries(name, "smd"));
  for (const name of NAB) if (!ONLY || ONLY.includes(name)) results.push(runSeries(name, "nab"));
  if (args.includes("--json")) {
    process.stdout.write(`${JSON.stringify(results, null, 1)}\n`);
  } else {
    const head =
      "| series | hosa L≥1 PA-F1 | recall | FP/day | hosa L≥2 PA-F1 | recall | FP/day | hosa L≥3 FP/day | max / last level | reference PA-F1 | recall | FP/day | trivial PA-F1 | recall | FP/day |\n" +
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";
    const lines = [head, ...results.map(row)];
    for (const kind of ["smd", "nab"] as const) {
      const rs = results.filter((r) => r.kind === kind);
      if (rs.length === 0) continue;
      const m = (f: (r: SeriesResult) => number) => f2(mean(rs, f));
      const mf = (f: (r: SeriesResult) => number) => f1(mean(rs, f));
      lines.push(
        `| **${kind.toUpperCase()} mean** | ${m((r) => r.hosa1.pa_f1)} | ${m((r) => r.hosa1.event_recall)} | ${mf((r) => r.hosa1.fp_episodes_per_day)} | ${m((r) => r.hosa2.pa_f1)} | ${m((r) => r.hosa2.event_recall)} | ${mf((r) => r.hosa2.fp_episodes_per_day)} | ${mf((r) => r.hosa3.fp_episodes_per_day)} | | ${m((r) => r.reference.pa_f1)} | ${m((r) => r.reference.event_recall)} | ${mf((r) => r.reference.fp_episodes_per_day)} | ${m((r) => r.trivial.pa_f1)} | ${m((r) => r.trivial.event_recall)} | ${mf((r) => r.trivial.fp_episodes_per_day)} |`,
      );
    }
    process.stdout.write(`${lines.join("\n")}\n`);
    process.stdout.write(`\n${results.length} series in ${f1(mean(results, (r) => r.seconds) * results.length)} s; baselines supported: ${results.filter((r) => r.supported).length}/${results.length}\n`);
  }
}
