import type { Command } from "commander";
import { HosaError } from "../../errors.ts";
import { EXIT } from "../exit-codes.ts";

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("the agent: sense, detect, respond, report until stopped")
    .action(() => {
      throw new HosaError("run: not available in this build yet (issue # sense, detect, respond, report until stopped:4)", EXIT.UNSUPPORTED);
    });
}
