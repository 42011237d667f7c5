// Where the false alarms come from (bench/RESULTS-datasets.md, issue 10):
// for each series, the Level 1 paths' rates on the calibration's held-out
// blocks (what placed θ1, ζ1 and θ1s) beside the false-alarm episodes of the
// test, attributed to the path that started each one (the decision's
// reason), by quarter of the test, with how far beyond its threshold it
// started. In process, the code `hosa calibrate --from` and `hosa replay
// --baseline` run; episodes counted as score.py counts them.
//   bun bench/datasets-alarms.ts [--data DIR] [--only NAME,NAME] [--before JSON]
// --before JSON: [engine] overrides (e.g. '{"heldOutOrder":"forward"}').
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gunzipSync } from "bun";
import { parseLabels } from "./datasets-score.ts";
import { NAB, SMD } from "./datasets.ts";
import { Calibrator } from "../src/engine/calibrate.ts";
import { defaultEngineConfig } from "../src/engine/engine.ts";
import { openRecording } from "../src/recording/open.ts";
import { knownDimensions } from "../src/recording/known-dims.ts";
import { replay } from "../src/replay.ts";

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const DATA = resolve(opt("--data") ?? join(import.meta.dir, "../../shared/datasets"));
const ONLY = opt("--only")?.split(",");
const cfg = { ...defaultEngineConfig(), ...JSON.parse(opt("--before") ?? "{}") };

const PATHS = ["D̄_M", "Z", "raw", "rise", "other"] as const;
type Path = (typeof PATHS)[number];

/** The path that started an episode, from the decision's reason, and the statistic over its threshold. */
function pathOf(reason: string): { path: Path; ratio: number } {
  let m = /one sample of D_M ([\d.]+) > θ1s ([\d.]+)/.exec(reason);
  if (m) return { path: "raw", ratio: Number(m[1]) / Number(m[2]) };
  m = /alone ([+-]?[\d.]+) σ.*beyond ζ1 ([\d.]+)/.exec(reason);
  if (m) return { path: "Z", ratio: Math.abs(Number(m[1])) / Number(m[2]) };
  if (/ris/.test(reason)) return { path: "rise", ratio: NaN };
  m = /D_M ([\d.]+) > θ1 ([\d.]+)/.exec(reason);
  if (m) return { path: "D̄_M", ratio: Number(m[1]) / Number(m[2]) };
  return { path: "other", ratio: NaN };
}

/** Runs (episodes) of x > th a day, pooled over the held-out samples and the median over blocks. */
function heldOutRate(xs: Float64Array, th: number, cuts: number[], perDay: number): [number, number] {
  const bounds = cuts.length > 0 ? cuts.map((from, k) => [from, k + 1 < cuts.length ? cuts[k + 1] : xs.length]) : [[0, xs.length]];
  const rates: number[] = [];
  let all = 0;
  for (const [from, to] of bounds) {
    let runs = 0;
    for (let i = from; i < to; i++) if (xs[i] > th && (i === from || !(xs[i - 1] > th))) runs++;
    all += runs;
    rates.push((runs * perDay) / (to - from));
  }
  rates.sort((a, b) => a - b);
  const h = rates.length >> 1;
  return [(all * perDay) / xs.length, rates.length % 2 ? rates[h] : (rates[h - 1] + rates[h]) / 2];
}

const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : "–");
const median = (v: number[]) => {
  if (v.length === 0) return NaN;
  const s = [...v].sort((a, b) => a - b);
  return s[s.length >> 1];
};

process.stdout.write(
  "| series | held out: D̄_M / Z / raw / any (pooled a day) | median block | test false alarms a day: D̄_M / Z / raw / rise / other | all | by quarter of the test | started at (median statistic ÷ threshold) D̄_M / Z / raw |\n|---|---|---|---|---|---|---|\n",
);
const all = [...SMD.map((n) => [n, "smd"] as const), ...NAB.map((n) => [n, "nab"] as const)].filter(([n]) => !ONLY || ONLY.includes(n));
for (const [name, kind] of all) {
  const base = join(DATA, kind, name);
  const dir = mkdtempSync(join(tmpdir(), `hosa-alarms-${process.pid}-`));
  try {
    const train = join(dir, "train.csv");
    const test = join(dir, "test.csv");
    writeFileSync(train, gunzipSync(readFileSync(`${base}-train.csv.gz`)));
    writeFileSync(test, gunzipSync(readFileSync(`${base}-test.csv.gz`)));
    const reader = openRecording(train, knownDimensions());
    const cal = new Calibrator(reader.header.dims, cfg);
    for (const s of reader.samples()) cal.add(s);
    const b = cal.finish();
    const h = cal.heldOut;
    const theta1 = b.thresholds.theta1;
    const zeta1 = b.dimZeta1 ?? Infinity;
    const spike1 = b.dmSpike1 ?? Infinity;
    let held = ["–", "–"];
    if (h) {
      const any = new Float64Array(h.smoothed.length);
      for (let i = 0; i < any.length; i++) any[i] = h.smoothed[i] > theta1 || h.zMax[i] > zeta1 || h.raw[i] > spike1 ? 1 : 0;
      const r = [heldOutRate(h.smoothed, theta1, h.cuts, h.samplesPerDay), heldOutRate(h.zMax, zeta1, h.cuts, h.samplesPerDay), heldOutRate(h.raw, spike1, h.cuts, h.samplesPerDay), heldOutRate(any, 0.5, h.cuts, h.samplesPerDay)];
      held = [r.map((x) => f2(x[0])).join(" / "), r.map((x) => f2(x[1])).join(" / ")];
    }
    const labels = parseLabels(new TextDecoder().decode(gunzipSync(readFileSync(`${base}-labels.csv.gz`))));
    const truthAt = new Map<number, boolean>();
    labels.t.forEach((t, i) => truthAt.set(t, (truthAt.get(t) ?? false) || labels.truth[i]));
    const rows: { level: number; truth: boolean; reason: string }[] = [];
    for (const { decision: d } of replay(openRecording(test, knownDimensions()), cfg, b, 0)) rows.push({ level: d.level, truth: truthAt.get(d.t) ?? false, reason: d.reason });
    const step = labels.t.length > 1 ? (labels.t[labels.t.length - 1] - labels.t[0]) / (labels.t.length - 1) : 60;
    const days = (labels.t[labels.t.length - 1] - labels.t[0] + step) / 86400;
    const count: Record<Path, number> = { "D̄_M": 0, Z: 0, raw: 0, rise: 0, other: 0 };
    const ratios: Record<Path, number[]> = { "D̄_M": [], Z: [], raw: [], rise: [], other: [] };
    const quarter = [0, 0, 0, 0];
    let i = 0;
    while (i < rows.length) {
      if (rows[i].level < 1) {
        i++;
        continue;
      }
      let j = i;
      let touches = false;
      while (j < rows.length && rows[j].level >= 1) touches = rows[j++].truth || touches;
      if (!touches) {
        const p = pathOf(rows[i].reason);
        count[p.path]++;
        if (Number.isFinite(p.ratio)) ratios[p.path].push(p.ratio);
        quarter[Math.min(3, Math.floor((4 * i) / rows.length))]++;
      }
      i = j;
    }
    const total = PATHS.reduce((a, p) => a + count[p], 0);
    process.stdout.write(
      `| ${name} | ${held[0]} | ${held[1]} | ${PATHS.map((p) => f2(count[p] / days)).join(" / ")} | ${f2(total / days)} | ${quarter.join(", ")} | ${(["D̄_M", "Z", "raw"] as const).map((p) => f2(median(ratios[p]))).join(" / ")} |\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
