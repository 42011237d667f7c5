import type { Command } from "commander";
import { HosaError } from "../../errors.ts";
import { EXIT } from "../exit-codes.ts";

export function registerAudit(program: Command): void {
  program
    .command("audit")
    .description("check the hash chain of a decision log")
    .action(() => {
      throw new HosaError("audit: not available in this build yet (issue #6)", EXIT.UNSUPPORTED);
    });
}
