import type { Command } from "commander";
import { HosaError } from "../../errors.ts";
import { EXIT } from "../exit-codes.ts";

export function registerQuarantine(program: Command): void {
  program
    .command("quarantine")
    .description("the manual way out of Level 5, and what is in force")
    .action(() => {
      throw new HosaError("quarantine: not available in this build yet (issue #5)", EXIT.UNSUPPORTED);
    });
}
