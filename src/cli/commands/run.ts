import type { Command } from "commander";
import { runAgent } from "../../agent.ts";
import { loadConfig } from "../../config.ts";
import { EXIT, HosaError } from "../../errors.ts";
import { parseDurationS } from "../../util/duration.ts";
import { settleRuntime } from "../runtime.ts";

interface RunFlags {
  record?: string;
  duration?: string;
  act?: boolean;
  detectOnly?: boolean;
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("the agent: sense, detect, respond, report until stopped")
    .option("--record <file>", "keep a protobuf recording of every sample (replay it with `hosa replay`)")
    .option("--duration <duration>", "stop by itself after this long (default: until SIGINT/SIGTERM)")
    .option("--act", "enable actions on the node for this run (same as [respond] mode = \"act\")")
    .option("--detect-only", "never touch the node, whatever the configuration says")
    .addHelpText(
      "after",
      "\nDefaults are safe: detection-only until [respond] mode = \"act\" (or --act).\n" +
        "Without a baseline it warms up first ([engine] calibration_s) and does not act until it has one.\n" +
        "Exit codes: 0 stopped cleanly, 3 bad config, 4 bad baseline, 5 not permitted, 6 another hosa holds the state directory.",
    )
    .action(async (flags: RunFlags, cmd: Command) => {
      const cfg = await loadConfig(cmd.optsWithGlobals().config);
      if (flags.act && flags.detectOnly) throw new HosaError("--act and --detect-only contradict each other", EXIT.USAGE);
      if (flags.act) cfg.respond.mode = "act";
      if (flags.detectOnly) cfg.respond.mode = "detect";
      const durationS = flags.duration ? parseDurationS(flags.duration, "--duration") : 0;
      process.exitCode = await runAgent(cfg, {
        record: flags.record,
        durationS,
        say: (line) => process.stderr.write(`hosa: ${line}\n`),
        onLoopStart: settleRuntime,
      });
    });
}
