// The ground floor: exit codes and the one error type. Every stage may import
// this file; it imports nothing.

/** Exit codes, written once. Scripts and tests depend on these numbers. */
export const EXIT = {
  OK: 0,
  /** Something went wrong at run time (I/O, kernel refused). */
  FAILURE: 1,
  /** Bad flag or argument. */
  USAGE: 2,
  /** Bad configuration file. */
  CONFIG: 3,
  /** Bad input file (recording, baseline, log): unreadable or malformed. */
  INPUT: 4,
  /** Not permitted: needs root or a capability. */
  PERMISSION: 5,
  /** The live agent could not be reached, or another instance holds the state directory. */
  AGENT: 6,
  /** `audit verify`: the hash chain is broken. */
  TAMPERED: 7,
  /** The operator declined a confirmation. */
  DECLINED: 8,
  /** A capability this node lacks (no BPF, no cgroup controller) that the command needed. */
  UNSUPPORTED: 9,
  /** Interrupted by SIGINT/SIGTERM before finishing (calibrate). */
  INTERRUPTED: 130,
} as const;

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
