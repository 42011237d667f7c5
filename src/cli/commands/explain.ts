import type { Command } from "commander";
import { HosaError } from "../../errors.ts";
import { EXIT } from "../exit-codes.ts";

export function registerExplain(program: Command): void {
  program
    .command("explain")
    .description("the live agent's decision in plain words, or --log an episode as a timeline")
    .action(() => {
      throw new HosaError("explain: not available in this build yet (issue #6)", EXIT.UNSUPPORTED);
    });
}
