import type { Command } from "commander";
import { hostname } from "node:os";
import { baselinePath, loadConfig } from "../../config.ts";
import { Calibrator } from "../../engine/calibrate.ts";
import { engineConfigFrom } from "../../engine/engine.ts";
import type { Baseline } from "../../engine/types.ts";
import { saveBaseline } from "../../baseline-file.ts";
import { EXIT, HosaError } from "../../errors.ts";
import { openRecording } from "../../recording/open.ts";
import { knownDimensions } from "../../recording/known-dims.ts";
import { calibrateFromRecording } from "../../replay.ts";
import { createSampler } from "../../sense/sampler.ts";
import { TickLoop } from "../../tick-loop.ts";
import { createLiveSource } from "../../sense/live-source.ts";
import { parseDurationS } from "../../util/duration.ts";
import { lineOverwriter, noteTimeOrder, printJson, timeOrderFlag } from "../output.ts";

interface CalibrateFlags {
  from?: string;
  out?: string;
  duration?: string;
  span?: string;
  json?: boolean;
  unordered?: string;
}

function summary(path: string, b: Baseline, spanS: number, source: string) {
  return {
    baseline: path,
    source,
    samples: b.count,
    span_s: Math.round(spanS * 1000) / 1000,
    dimensions: b.dims.map((d) => d.name),
    thresholds: b.thresholds,
    /** ζ1 on the largest single-dimension z (Level 1), null when off (one dimension, or no tail). */
    dim_zeta1: b.dimZeta1 ?? null,
    /** θ1s on one raw sample of D_M (Level 1: a short event of large magnitude), null when off. */
    dm_spike1: b.dmSpike1 ?? null,
    dm_mean: b.dmMean,
    dm_std: b.dmStd,
    step_s: b.stepS ?? null,
    /** Expected false-alarm episodes per day at Level ≥ 1..4 on data like these (-1: no tail to say). */
    false_alarms_per_day: b.falseAlarmsPerDay ?? [],
    supported: b.supported !== false,
    warnings: b.warnings ?? [],
  };
}

/** "2/day", "1/day", "1 per 10 days", "1 per year", "1 per 10 years". */
function rateWords(perDay: number): string {
  if (!(perDay >= 0)) return "unknown";
  if (perDay === 0) return "never";
  const two = (v: number) => String(Number(v.toPrecision(2)));
  if (perDay >= 0.995) return `${two(perDay)}/day`;
  const days = 1 / perDay;
  if (days < 364.5) return `1 per ${two(days)} days`;
  const years = Number((days / 365).toPrecision(2));
  return years === 1 ? "1 per year" : `1 per ${years} years`;
}

function printSummary(s: ReturnType<typeof summary>): void {
  const th = s.thresholds;
  const r = s.false_alarms_per_day;
  process.stdout.write(
    `baseline written to ${s.baseline}: ${s.samples} samples over ${s.span_s.toFixed(1)} s, ${s.dimensions.length} dimensions\n` +
      `thresholds on D_M: θ1 ${th.theta1.toFixed(3)}  θ2 ${th.theta2.toFixed(3)}  θ3 ${th.theta3.toFixed(3)}  θ4 ${th.theta4.toFixed(3)}\n` +
      (s.dim_zeta1 !== null ? `threshold on the largest single-dimension z: ζ1 ${s.dim_zeta1.toFixed(3)} σ (Level 1)\n` : "") +
      (s.dm_spike1 !== null ? `threshold on one raw sample of D_M: θ1s ${s.dm_spike1.toFixed(3)} (Level 1)\n` : "") +
      (r.length === 4 ? `expected false alarms on data like these: Level ≥ 1 ${rateWords(r[0])}, ≥ 2 ${rateWords(r[1])}, D_M > θ3 ${rateWords(r[2])}, > θ4 ${rateWords(r[3])}\n` : ""),
  );
  for (const w of s.warnings) process.stderr.write(`hosa: warning: ${w}\n`);
  if (!s.supported) process.stderr.write("hosa: warning: this baseline does not support its thresholds: hosa run will detect and log, but not act, until it is recalibrated\n");
}

function bar(frac: number, width = 30): string {
  const full = Math.round(frac * width);
  return `[${"#".repeat(full)}${".".repeat(width - full)}]`;
}

export function registerCalibrate(program: Command): void {
  program
    .command("calibrate")
    .description("learn the baseline from the live node (progress shown) or --from a recording")
    .option("--from <file>", "learn from a recording (protobuf or CSV) instead of the live node")
    .option("--out <file>", "where to write the baseline (default [paths] baseline, or <state_dir>/baseline.json)")
    .option("--duration <duration>", "live: how long to sample (default [engine] calibration_s, 5m)")
    .option("--span <duration>", "--from: learn from only the first part of the recording (default: all of it)")
    .option("--json", "print the result as JSON")
    .option("--unordered <drop|sort>", "--from: a clock that steps back: drop those samples, or sort by time; counted on stderr")
    .addHelpText(
      "after",
      "\nThe baseline is written atomically: an interrupted calibration (Ctrl-C) leaves the previous one intact.\nExit codes: 0 written, 3 bad config, 4 bad recording, 9 nothing to sample, 130 interrupted.",
    )
    .action(async (flags: CalibrateFlags, cmd: Command) => {
      const cfg = await loadConfig(cmd.optsWithGlobals().config);
      const engineCfg = engineConfigFrom(cfg.engine);
      const out = flags.out ?? baselinePath(cfg);
      if (flags.from) {
        if (flags.duration) throw new HosaError("--duration is for live calibration; with --from use --span", EXIT.USAGE);
        const spanS = flags.span ? parseDurationS(flags.span, "--span") : Infinity;
        const reader = openRecording(flags.from, knownDimensions(), { order: timeOrderFlag(flags.unordered) });
        const r = calibrateFromRecording(reader, engineCfg, spanS);
        noteTimeOrder(reader);
        saveBaseline(out, r.baseline, flags.from, r.spanS, new Date().toISOString());
        const s = summary(out, r.baseline, r.spanS, flags.from);
        if (flags.json) printJson(s);
        else printSummary(s);
        return;
      }
      if (flags.span) throw new HosaError("--span goes with --from", EXIT.USAGE);
      if (flags.unordered) throw new HosaError("--unordered goes with --from", EXIT.USAGE);
      const durationS = flags.duration ? parseDurationS(flags.duration, "--duration") : cfg.engine.calibrationS;
      if (durationS <= 0) throw new HosaError(`invalid --duration "${flags.duration}": must be more than 0`, EXIT.USAGE);
      await calibrateLive(cfg, engineCfg, out, durationS, Boolean(flags.json));
    });
}

async function calibrateLive(
  cfg: Awaited<ReturnType<typeof loadConfig>>,
  engineCfg: ReturnType<typeof engineConfigFrom>,
  out: string,
  durationS: number,
  json: boolean,
): Promise<void> {
  const source = createLiveSource(cfg.sense);
  let cal: Calibrator | null = null;
  let lastPct = -1;
  let start = 0;
  const tty = Boolean(process.stderr.isTTY);
  const overwrite = lineOverwriter(() => process.stderr.columns);
  // The agent's calm sampling: the same samples, taken by libhosa's thread and processed in batches.
  const sampler = cfg.sense.sampler === "auto" && cfg.sense.calmBatch > 1 && source.sampled ? createSampler() : undefined;
  const loop = new TickLoop({
    source,
    tickMs: () => cfg.sense.tickMs,
    sampler,
    batch: () => cfg.sense.calmBatch,
    onSamplerLost: (why) => process.stderr.write(`hosa: ${why}\n`),
    durationS,
    onStart: (t0) => {
      start = t0;
    },
    onTick: (sample, t) => {
      cal!.add(sample);
      const frac = Math.min(1, (t - start) / durationS);
      const pct = Math.floor(frac * 100);
      if (!json && pct !== lastPct) {
        const left = Math.max(0, durationS - (t - start));
        const line = `${bar(frac)} ${String(pct).padStart(3)}%  ${cal!.count} samples  ${left.toFixed(0)} s left`;
        if (tty) process.stderr.write(overwrite(line));
        else if (pct % 10 === 0) process.stderr.write(`${line}\n`);
        lastPct = pct;
      }
    },
  });
  const onSignal = () => loop.stop();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    if (source.fallbackNotice) process.stderr.write(`${source.fallbackNotice}\n`);
    cal = new Calibrator(source.dims, engineCfg);
    const names = source.dims.map((d) => d.name);
    if (!json) process.stderr.write(`calibrating for ${durationS} s on ${names.length} dimensions: ${names.join(", ")}\n`);
    const { stopped: interrupted } = await loop.run();
    if (!json && !interrupted) {
      const line = `${bar(1)} 100%  ${cal.count} samples  0 s left`;
      process.stderr.write(tty ? `${overwrite(line)}\n` : `${line}\n`);
    } else if (!json && tty) process.stderr.write("\n");
    if (interrupted) throw new HosaError(`calibration interrupted after ${cal.count} samples: ${out} left as it was`, EXIT.INTERRUPTED);
    if (cal.count < 2) throw new HosaError(`cannot calibrate: only ${cal.count} samples in ${durationS} s`, EXIT.FAILURE);
    const baseline = cal.finish();
    saveBaseline(out, baseline, `live:${hostname()}`, durationS, new Date().toISOString());
    const s = summary(out, baseline, durationS, `live:${hostname()}`);
    if (json) printJson(s);
    else printSummary(s);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    source.close();
  }
}
