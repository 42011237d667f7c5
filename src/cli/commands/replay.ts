import type { Command } from "commander";
import { HosaError } from "../../errors.ts";
import { EXIT } from "../exit-codes.ts";

export function registerReplay(program: Command): void {
  program
    .command("replay")
    .description("run a recording through the engine offline")
    .action(() => {
      throw new HosaError("replay: not available in this build yet (issue #3)", EXIT.UNSUPPORTED);
    });
}
