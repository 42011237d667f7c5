// The one place that catches, prints and exits. Every command throws
// HosaError(message, exitCode) and this file turns it into one line on stderr.
import { Command, CommanderError } from "commander";
import { EXIT, HosaError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { escapeControl } from "../util/input.ts";

/** The command named on the command line: the first word that is not an option (nor -c's value). */
function commandOf(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-c" || a === "--config") i++;
    else if (!a.startsWith("-")) return a;
  }
  return undefined;
}

/** An error line never carries more than this, whatever the input held. */
const MAX_ERROR_CHARS = 1000;

/** One line, escaped, bounded: input can never flood or drive the terminal through an error. */
export function errorLine(message: string): string {
  let m = escapeControl(message);
  if (m.length > MAX_ERROR_CHARS) m = `${m.slice(0, MAX_ERROR_CHARS)}… (${m.length} characters)`;
  return `hosa: ${m}\n`;
}

/**
 * A reader that went away (`hosa replay … | head`) is not an error: end
 * quietly with 0, as coreutils do under SIGPIPE's default action. Bun
 * reports EPIPE as an 'error' event on the stream, or throws it from write().
 */
function quietOnEpipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e?.code === "EPIPE") process.exit(EXIT.OK);
      throw e;
    });
  }
}

function isEpipe(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === "EPIPE";
}

export async function main(argv: string[]): Promise<number> {
  quietOnEpipe();
  const program = new Command();
  program
    .name("hosa")
    .description("The spinal cord of a Linux node: senses the kernel, learns its normal, contains collapse locally")
    .version(VERSION, "-V, --version")
    .option("-c, --config <file>", "configuration file (default /etc/hosa/hosa.toml)")
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeErr: (s) => {
        // Commander's own errors are reformatted in the catch below.
        if (!s.startsWith("error:")) process.stderr.write(s);
      },
    });
  // `hosa run` stays up for months: it loads its own command only, not the
  // other commands' modules (tables, recordings), whose heap it would carry.
  if (commandOf(argv) === "run") {
    // Its runtime settings first (an exec of itself, once), before anything is loaded.
    (await import("./runtime.ts")).tuneRuntime(argv);
    (await import("./commands/run.ts")).registerRun(program);
  } else (await import("./commands/index.ts")).registerCommands(program);
  for (const c of program.commands) {
    c.exitOverride();
    for (const sub of c.commands) sub.exitOverride();
  }
  if (argv.length === 0) {
    // No command is a usage error: the usage goes to stderr, and a script that forgot its argument sees 2.
    process.stderr.write(program.helpInformation());
    return EXIT.USAGE;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return EXIT.OK;
      // Usage shown because a command was missing (`hosa -c f`, `hosa audit`) is an error; `hosa help` is not.
      if (e.code === "commander.help") return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
      // Commander puts its near-miss suggestion on a second line: "(Did you mean replay?)". Keep it, on the one line.
      const msg = e.message
        .replace(/^error: /, "")
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean)
        .join(" ");
      process.stderr.write(errorLine(msg));
      return EXIT.USAGE;
    }
    if (isEpipe(e)) return EXIT.OK;
    if (e instanceof HosaError) {
      process.stderr.write(errorLine(e.message));
      return e.exitCode;
    }
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err.code === "string" && err.path) {
      process.stderr.write(errorLine(`${err.syscall ?? "access"} ${err.path}: ${err.code}`));
      return err.code === "EACCES" || err.code === "EPERM" ? EXIT.PERMISSION : EXIT.FAILURE;
    }
    process.stderr.write(errorLine(`internal error: ${String(err?.message ?? e).split("\n")[0]}`));
    if (process.env.HOSA_DEBUG) console.error(e);
    return EXIT.FAILURE;
  }
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2));
  // Let the event loop end by itself: process.exit() now would cut short
  // what is still queued for a pipe. Nothing should be left running; if
  // something is, the unref'd timer ends the process anyway.
  process.exitCode = code;
  setTimeout(() => process.exit(code), 5000).unref();
}
