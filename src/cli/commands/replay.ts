import type { Command } from "commander";
import Table from "cli-table3";
import { loadConfig } from "../../config.ts";
import { engineConfigFrom } from "../../engine/engine.ts";
import { LEVEL_NAMES, type Level } from "../../engine/types.ts";
import { checkBaselineDims, loadBaseline } from "../../baseline-file.ts";
import { openRecording } from "../../recording/open.ts";
import { decisionFields, formatDominant } from "../../engine/fields.ts";
import { replayEach } from "../../replay.ts";
import { knownDimensions } from "../../recording/known-dims.ts";
import { parseDurationS } from "../../util/duration.ts";
import { EXIT, HosaError } from "../../errors.ts";
import { shownPath } from "../../util/input.ts";
import { color, isTty, noteTimeOrder, timeOrderFlag } from "../output.ts";

interface ReplayFlags {
  baseline?: string;
  learn?: boolean;
  calibrate?: string;
  json?: boolean;
  unordered?: string;
}

const LEVEL_COLORS = [color.green, color.cyan, color.yellow, color.magenta, color.red, color.bgRed.white];

function levelLabel(l: Level): string {
  return LEVEL_COLORS[l](`${l} ${LEVEL_NAMES[l]}`);
}

export function registerReplay(program: Command): void {
  program
    .command("replay")
    .description("run a recording (protobuf or CSV) through the engine offline; same decisions as live")
    .argument("<file>", "recording: hosa protobuf (from `hosa run --record`) or CSV (header row, first column a timestamp)")
    .option("-b, --baseline <file>", "judge with this baseline instead of calibrating on the recording's first part")
    .option("--learn", "with --baseline: keep learning in homeostasis, as an agent started from that baseline does (default: judge with it as it is)")
    .option("--calibrate <duration>", "without --baseline: learn from this much of the start (default [engine] calibration_s, 5m), then judge and learn as the agent's warm-up does")
    .option("--json", "one JSON object per judged sample (t, level, then the decision log's fields)")
    .option("--unordered <drop|sort>", "a clock that steps back (monitoring exports): drop those samples, or sort by time; counted on stderr")
    .addHelpText(
      "after",
      "\nTimestamps must not go backwards; equal ones are accepted (docs/robustness.md). FILE - reads standard input.\n" +
        "Exit codes: 0 replayed, 2 bad flag, 3 bad config, 4 bad recording or baseline.\nExample: hosa replay incident.rec --baseline /var/lib/hosa/baseline.json",
    )
    .action(async (file: string, flags: ReplayFlags, cmd: Command) => {
      const cfg = await loadConfig(cmd.optsWithGlobals().config);
      const engineCfg = engineConfigFrom(cfg.engine);
      const calibrationS = flags.calibrate ? parseDurationS(flags.calibrate, "--calibrate") : cfg.engine.calibrationS;
      const reader = openRecording(file, knownDimensions(), { order: timeOrderFlag(flags.unordered) });
      if (flags.learn && !flags.baseline) throw new HosaError("--learn goes with --baseline (without one, replay learns as the agent does)", EXIT.USAGE);
      let baseline = null;
      if (flags.baseline) {
        baseline = loadBaseline(flags.baseline).baseline;
        checkBaselineDims(flags.baseline, baseline, reader.header.dims.map((d) => d.name));
      }
      if (flags.json) {
        let out = "";
        replayEach(reader, engineCfg, baseline, calibrationS, Boolean(flags.learn), (decision) => {
          out += `${JSON.stringify(decisionFields(decision))}\n`;
          if (out.length > 1 << 16) {
            process.stdout.write(out);
            out = "";
          }
        });
        process.stdout.write(out);
        noteTimeOrder(reader);
        return;
      }
      const changes: string[][] = [];
      let first = NaN;
      let last = NaN;
      let judged = 0;
      let maxLevel: Level = 0;
      const timeAt = [0, 0, 0, 0, 0, 0];
      let prevT = NaN;
      let prevLevel: Level = 0;
      replayEach(reader, engineCfg, baseline, calibrationS, Boolean(flags.learn), (d) => {
        if (Number.isNaN(first)) first = d.t;
        if (!Number.isNaN(prevT)) timeAt[prevLevel] += d.t - prevT;
        prevT = d.t;
        prevLevel = d.level;
        last = d.t;
        judged++;
        if (d.level > maxLevel) maxLevel = d.level;
        if (d.level !== d.previousLevel) {
          changes.push([
            (d.t - first).toFixed(2),
            `${levelLabel(d.previousLevel)} → ${levelLabel(d.level)}`,
            d.dm.toFixed(2),
            `${d.dmDerivative >= 0 ? "+" : ""}${d.dmDerivative.toFixed(2)}`,
            formatDominant(d),
            d.reason,
          ]);
        }
      });
      noteTimeOrder(reader);
      const tty = isTty();
      const table = new Table({
        head: ["t (s)", "level", "D_M", "dD_M/dt", "dominant", "reason"],
        ...(tty ? { wordWrap: true, colWidths: [9, 44, 8, 9, 34, 50] } : { style: { head: [], border: [] } }),
      });
      for (const row of changes) table.push(row);
      process.stdout.write(
        `${shownPath(reader.path)}: ${reader.header.dims.length} dimensions, ${judged} samples judged over ${(last - first).toFixed(1)} s` +
          `${baseline ? ` with baseline ${flags.baseline}${flags.learn ? ", learning" : " (not learning)"}` : `, first ${calibrationS} s learned as baseline`}\n`,
      );
      if (changes.length === 0) process.stdout.write(`no level change: ${levelLabel(0)} throughout\n`);
      else process.stdout.write(`${table.toString()}\n`);
      const spent = timeAt
        .map((s, l) => (s > 0 ? `L${l} ${s.toFixed(1)} s` : ""))
        .filter(Boolean)
        .join(", ");
      process.stdout.write(`highest level ${levelLabel(maxLevel)}; time at each level: ${spent || "n/a"}\n`);
    });
}
