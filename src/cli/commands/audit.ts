import type { Command } from "commander";
import { basename, dirname } from "node:path";
import { loadConfig } from "../../config.ts";
import { EXIT, HosaError } from "../../errors.ts";
import { verifyLog, type VerifyResult } from "../../report/decision-log.ts";
import { errnoWords, inputExists, shownPath } from "../../util/input.ts";
import { printJson } from "../output.ts";

/** Shared by `hosa audit verify` and `hosa explain --verify`: prints the result, throws on a broken chain. */
export async function runVerify(file: string | undefined, json: boolean, configPath: string | undefined): Promise<void> {
  const cfg = await loadConfig(configPath);
  const path = file ?? cfg.paths.logFile;
  if (!inputExists(path, "cannot verify")) throw new HosaError(`cannot verify ${shownPath(path)}: no such file`, EXIT.INPUT);
  // The signed head lives in the state dir; a log given by hand is checked against it only when it is the configured one.
  const stateDir = !file || file === cfg.paths.logFile ? cfg.paths.stateDir : undefined;
  let r: VerifyResult;
  try {
    r = verifyLog(path, { stateDir });
  } catch (e) {
    if (e instanceof HosaError) throw e;
    throw new HosaError(`cannot verify ${shownPath(path)}: ${errnoWords(e)}`, EXIT.INPUT);
  }
  if (json) printJson({ file: path, ...r });
  if (!r.ok) {
    const b = r.firstBroken!;
    throw new HosaError(`decision log tampered: ${b.file}${b.line > 0 ? ` line ${b.line}` : ""}: ${b.why}`, EXIT.TAMPERED);
  }
  if (!json) {
    const sig = r.signature === "verified" ? `, signed head verified${r.unsignedTail ? ` (${r.unsignedTail} entries since)` : ""}` : "";
    process.stdout.write(`decision log ok: ${r.entries} entries in ${r.files.length} file${r.files.length === 1 ? "" : "s"} (${shownPath(basename(path))} in ${shownPath(dirname(path))})${sig}\n`);
  }
}

export function registerAudit(program: Command): void {
  const audit = program.command("audit").description("check the hash chain of a decision log");
  audit
    .command("verify [file]")
    .description("verify the hash chain across rotated files (default: paths.log_file); names the first broken line")
    .option("--json", "machine-readable result")
    .action(async (file: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      await runVerify(file, Boolean(opts.json), cmd.optsWithGlobals().config);
    });
}
