// Replay end to end: 1 million samples × 8 dimensions through `dist/hosa
// replay`, CSV and protobuf, in the same run. Target: under 5 s each.
// Usage: bun bench/replay.bench.ts [--samples N]
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { CsvRecordingWriter } from "../src/recording/csv.ts";
import { ProtoRecordingWriter } from "../src/recording/protobuf.ts";
import { leakRecording, synthDims } from "../test/recordings/synthetic.ts";

const repo = resolve(import.meta.dir, "..");
const exe = join(repo, "dist/hosa");
const arg = process.argv.indexOf("--samples");
const samples = arg > 0 ? Number(process.argv[arg + 1]) : 1_000_000;
const outDir = join(repo, "bench/out");
mkdirSync(outDir, { recursive: true });
const csv = join(outDir, `replay-${samples}.csv`);
const rec = join(outDir, `replay-${samples}.rec`);

if (!existsSync(exe)) {
  console.error("bench: dist/hosa is missing: run scripts/build.sh");
  process.exit(1);
}
if (!existsSync(csv) || !existsSync(rec)) {
  const tickS = 0.1;
  const total = samples * tickS;
  // The leak sits in the middle so the engine escalates and de-escalates.
  const story = { seed: 1, calmS: total / 2, leakS: 30, afterS: total / 2 - 30, tickS, leakMBps: 50 };
  const dims = synthDims();
  const c = new CsvRecordingWriter(csv, dims);
  const p = new ProtoRecordingWriter(rec, { hosaVersion: "bench", dims, node: null, startedUnixS: 0 });
  for (const s of leakRecording(story)) {
    c.write(s);
    p.write(s);
  }
  c.close();
  p.close();
}

function time(file: string, json: boolean): { s: number; out: number } {
  const args = [exe, "replay", file, "--calibrate", "300s"];
  if (json) args.push("--json");
  const t0 = Bun.nanoseconds();
  const r = Bun.spawnSync(args, { stdout: "pipe", stderr: "pipe" });
  const s = (Bun.nanoseconds() - t0) / 1e9;
  if (r.exitCode !== 0) throw new Error(`replay failed: ${r.stderr.toString()}`);
  return { s, out: r.stdout.length };
}

const rows: string[] = [];
for (const [label, file] of [
  ["CSV", csv],
  ["protobuf", rec],
] as const) {
  const mb = (statSync(file).size / 2 ** 20).toFixed(1);
  const human = time(file, false);
  const json = time(file, true);
  rows.push(`| ${label} (${mb} MiB) | ${human.s.toFixed(2)} s | ${(samples / human.s / 1e6).toFixed(2)} M/s | ${json.s.toFixed(2)} s |`);
}
console.log(`replay of ${samples} samples × 8 dimensions, dist/hosa, bun ${Bun.version}, ${navigator.hardwareConcurrency} cores`);
console.log("| recording | table of level changes | samples/s | --json (one object per sample) |");
console.log("| --- | --- | --- | --- |");
for (const r of rows) console.log(r);
