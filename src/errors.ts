import { EXIT } from "./cli/exit-codes.ts";

/** The one error type code throws on purpose; src/cli/main.ts prints `hosa: <message>` and exits with `exitCode`. */
export class HosaError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.FAILURE,
  ) {
    super(message);
    this.name = "HosaError";
  }
}
