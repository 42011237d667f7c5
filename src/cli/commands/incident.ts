import type { Command } from "commander";
import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import { loadConfig, type HosaConfig } from "../../config.ts";
import { Cortex, findEpisode, liveExecutorContext, readDecisionLog } from "../../cortex/cortex.ts";
import { renderHtml } from "../../cortex/html.ts";
import { listLine, renderStory } from "../../cortex/story.ts";
import type { LogEntry } from "../../cortex/types.ts";
import { EXIT, HosaError } from "../../errors.ts";
import { writeFileAtomic } from "../../util/atomic.ts";
import { shownPath } from "../../util/input.ts";
import { printJson } from "../output.ts";

interface Common {
  json?: boolean;
  log?: string;
}

/** The cortex over the configured (or given) decision log, brought up to date first. */
async function open(cmd: Command, opts: Common, executes: boolean): Promise<{ cfg: HosaConfig; cortex: Cortex; entries: LogEntry[] }> {
  const cfg = await loadConfig(cmd.optsWithGlobals().config as string | undefined);
  const logFile = opts.log ?? cfg.paths.logFile;
  // The agent's own log may not exist yet (no incident); one given by hand must.
  const { entries, unreadable } = readDecisionLog(logFile, { given: opts.log !== undefined });
  if (unreadable > 0) process.stderr.write(`hosa: ${shownPath(logFile)}: ${unreadable} line${unreadable === 1 ? "" : "s"} left out (torn, or not JSON)\n`);
  const say = (l: string) => process.stderr.write(`hosa: ${l}\n`);
  const cortex = new Cortex(cfg, { exec: executes && cfg.cortex.mode === "act" ? liveExecutorContext(cfg) : null, say });
  cortex.sync(entries);
  return { cfg, cortex, entries };
}

/** An id, or a unique part of one (its hash, its date). */
function resolveId(cortex: Cortex, id: string): string {
  const ids = cortex.store.list();
  if (ids.includes(id)) return id;
  const hits = ids.filter((x) => x.includes(id));
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1) throw new HosaError(`incident "${id}" is ambiguous: ${hits.slice(0, 5).join(", ")}`, EXIT.USAGE);
  throw new HosaError(`no incident "${id}"${ids.length ? ` (hosa incident list shows ${ids.length})` : " (none recorded)"}`, EXIT.USAGE);
}

export function registerIncident(program: Command): void {
  const inc = program.command("incident").description("incidents: what happened, the probable cause, the remediation and whether it worked");
  inc
    .command("list")
    .description("every incident of the decision log, newest last")
    .option("--json", "machine-readable output")
    .option("--log <file>", "decision log (default paths.log_file)")
    .action(async (opts: Common, cmd: Command) => {
      const { cortex } = await open(cmd, opts, false);
      const list = cortex.store.list().map((id) => cortex.summary(id)).filter((s) => s !== null);
      if (opts.json) printJson({ incidents: list });
      else if (list.length === 0) process.stdout.write("no incidents\n");
      else process.stdout.write(`${list.map(listLine).join("\n")}\n`);
    });
  inc
    .command("show <id>")
    .description("the incident's artifact chain as a story")
    .option("--json", "the artifacts themselves")
    .option("--log <file>", "decision log (default paths.log_file)")
    .action(async (idArg: string, opts: Common, cmd: Command) => {
      const { cortex } = await open(cmd, opts, false);
      const id = resolveId(cortex, idArg);
      const chain = cortex.store.chain(id);
      if (opts.json) printJson({ id, artifacts: chain });
      else process.stdout.write(renderStory(chain));
    });
  inc
    .command("approve <id>")
    .description("approve the incident's plan; in [cortex] mode = \"act\" it runs now")
    .option("--by <name>", "who approves (default the user running the command)")
    .option("--json", "machine-readable output")
    .option("--log <file>", "decision log (default paths.log_file)")
    .action(async (idArg: string, opts: Common & { by?: string }, cmd: Command) => {
      const { cortex, entries } = await open(cmd, opts, true);
      const id = resolveId(cortex, idArg);
      const before = cortex.summary(id);
      if (before && before.plan === "blocked") throw new HosaError(`cannot approve ${id}: its plan is blocked (hosa incident show ${id})`, EXIT.USAGE);
      const by = opts.by ?? userInfo().username;
      const s = cortex.approve(id, by, entries);
      if (opts.json) printJson(s);
      else process.stdout.write(`${id}: approved by ${by}; plan ${s.plan}, ${s.execution}, verification ${s.verification}\n`);
    });
  inc
    .command("report <id>")
    .description("write the incident report")
    .requiredOption("--html <file>", "one self-contained HTML file")
    .option("--log <file>", "decision log (default paths.log_file)")
    .action(async (idArg: string, opts: Common & { html: string }, cmd: Command) => {
      const { cortex, entries } = await open(cmd, opts, false);
      const id = resolveId(cortex, idArg);
      const ep = findEpisode(entries, id);
      const html = renderHtml(cortex.store.chain(id), ep?.entries ?? [], new Date().toISOString());
      try {
        writeFileAtomic(opts.html, html);
      } catch (e) {
        throw new HosaError(`cannot write ${opts.html}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, EXIT.FAILURE);
      }
      process.stdout.write(`${opts.html}: ${id} (${Math.round(Buffer.byteLength(html) / 1024)} kB)\n`);
    });
  inc
    .command("watch")
    .description("run the cortex beside the agent: follow the decision log and keep incidents up to date")
    .option("--interval <seconds>", "how often to read the log", "2")
    .option("--duration <seconds>", "stop after this long (0: until a signal)", "0")
    .option("--log <file>", "decision log (default paths.log_file)")
    .action(async (opts: Common & { interval: string; duration: string }, cmd: Command) => {
      const interval = Number(opts.interval);
      const duration = Number(opts.duration);
      if (!(interval > 0)) throw new HosaError(`bad --interval "${opts.interval}": expected seconds > 0`, EXIT.USAGE);
      if (!(duration >= 0)) throw new HosaError(`bad --duration "${opts.duration}": expected seconds ≥ 0`, EXIT.USAGE);
      const cfg = await loadConfig(cmd.optsWithGlobals().config as string | undefined);
      const logFile = opts.log ?? cfg.paths.logFile;
      const cortex = new Cortex(cfg, { exec: cfg.cortex.mode === "act" ? liveExecutorContext(cfg) : null, say: (l) => process.stderr.write(`hosa: ${l}\n`) });
      let stopping = false;
      let wake: (() => void) | null = null;
      const stop = () => {
        stopping = true;
        wake?.();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
      const t0 = Date.now();
      const seen = new Map<string, string>();
      try {
        while (!stopping && (duration === 0 || Date.now() - t0 < duration * 1000)) {
          if (existsSync(logFile)) {
            for (const s of cortex.sync(readDecisionLog(logFile).entries)) {
              const line = listLine(s);
              if (seen.get(s.id) !== line) process.stdout.write(`${line}\n`);
              seen.set(s.id, line);
            }
          }
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, interval * 1000);
          });
        }
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
      }
    });
}
