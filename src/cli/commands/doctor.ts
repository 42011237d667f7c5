import type { Command } from "commander";
import { HosaError } from "../../errors.ts";
import { EXIT } from "../exit-codes.ts";

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("what this node is and what will work on it")
    .action(() => {
      throw new HosaError("doctor: not available in this build yet (issue #4)", EXIT.UNSUPPORTED);
    });
}
