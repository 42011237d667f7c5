import type { Command } from "commander";
import { registerRun } from "./run.ts";
import { registerCalibrate } from "./calibrate.ts";
import { registerExplain } from "./explain.ts";
import { registerReplay } from "./replay.ts";
import { registerQuarantine } from "./quarantine.ts";
import { registerDoctor } from "./doctor.ts";
import { registerAudit } from "./audit.ts";
import { registerIncident } from "./incident.ts";

export function registerCommands(program: Command): void {
  registerRun(program);
  registerCalibrate(program);
  registerExplain(program);
  registerReplay(program);
  registerQuarantine(program);
  registerDoctor(program);
  registerAudit(program);
  registerIncident(program);
}
