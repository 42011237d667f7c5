import type { Command } from "commander";
import { HosaError } from "../../errors.ts";
import { EXIT } from "../exit-codes.ts";

export function registerCalibrate(program: Command): void {
  program
    .command("calibrate")
    .description("learn the baseline from the live node or --from a recording")
    .action(() => {
      throw new HosaError("calibrate: not available in this build yet (issue #4)", EXIT.UNSUPPORTED);
    });
}
