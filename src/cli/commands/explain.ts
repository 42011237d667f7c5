import type { Command } from "commander";
import { existsSync } from "node:fs";
import { loadConfig } from "../../config.ts";
import type { Decision, Level, Regime } from "../../engine/types.ts";
import { EXIT, HosaError } from "../../errors.ts";
import { logFiles, readLogText } from "../../report/decision-log.ts";
import { escapeControlKeepLines, inputExists, shownPath } from "../../util/input.ts";
import { entriesSince, explainDecision, explainSnapshot, parseDuration, renderTimeline, type LogEntry } from "../../report/explain.ts";
import { parseListen } from "../../report/server.ts";
import { snapshotFromJson, type AgentSnapshot } from "../../report/snapshot.ts";
import { printJson } from "../output.ts";
import { runVerify } from "./audit.ts";

interface ExplainOptions {
  json?: boolean;
  log?: string;
  since?: string;
  verify?: string | boolean;
}

/**
 * Entries of a log and its rotated predecessors, oldest first. A torn last
 * line (crash mid-write) is left out and said on stderr; a file that is not a
 * decision log (compressed, binary) is refused.
 */
function readEntries(path: string): LogEntry[] {
  if (!inputExists(path, "cannot read")) throw new HosaError(`cannot read ${shownPath(path)}: no such file`, EXIT.INPUT);
  const files = logFiles(path);
  const out: LogEntry[] = [];
  for (const file of files.length > 0 ? files : [path]) {
    const text = readLogText(file, "cannot read");
    const lines = text.split("\n");
    const torn = !text.endsWith("\n") && text.length > 0;
    lines.pop();
    lines.forEach((line, i) => {
      let e: unknown;
      try {
        e = JSON.parse(line);
      } catch {
        throw new HosaError(`cannot read ${shownPath(file)}: line ${i + 1}: not a JSON decision entry`, EXIT.INPUT);
      }
      if (typeof e !== "object" || e === null || Array.isArray(e) || typeof (e as LogEntry).timestamp !== "string") {
        throw new HosaError(`cannot read ${shownPath(file)}: line ${i + 1}: not a decision entry (no timestamp)`, EXIT.INPUT);
      }
      out.push(e as LogEntry);
    });
    if (torn) {
      if (lines.length === 0) throw new HosaError(`cannot read ${shownPath(file)}: not a hosa decision log: one line with no newline and no entry before it`, EXIT.INPUT);
      process.stderr.write(`hosa: ${shownPath(file)}: line ${lines.length + 1} is torn (no newline: a crash mid-write?), left out\n`);
    }
  }
  return out;
}

/** A level entry back into the engine's Decision, for the same words as live. */
function decisionFromEntry(e: LogEntry): Decision {
  const n = (v: unknown, dflt = NaN) => (typeof v === "number" ? v : dflt);
  const th = (e.thresholds ?? {}) as Record<string, number>;
  return {
    t: n(e.t, 0),
    level: n(e.level, 0) as Level,
    levelName: String(e.level_name ?? ""),
    previousLevel: n(e.previous_level, n(e.level, 0)) as Level,
    dmRaw: n(e.d_m_raw),
    dm: n(e.d_m),
    dmDerivative: n(e.d_m_derivative),
    dmAcceleration: n(e.d_m_acceleration),
    phi: n(e.phi),
    regime: n(e.regime, 0) as Regime,
    dominant: Array.isArray(e.dominant_dims) ? (e.dominant_dims as { dim: string; share: number }[]) : [],
    thresholds: { theta1: n(th.theta1), theta2: n(th.theta2), theta3: n(th.theta3), theta4: n(th.theta4) },
    ttfS: n(e.ttf_s, Infinity),
    ttfDim: typeof e.ttf_dim === "string" ? e.ttf_dim : null,
    reason: String(e.reason ?? ""),
    learning: Boolean(e.learning),
  };
}

async function fetchSnapshot(listen: string): Promise<AgentSnapshot> {
  if (!listen) throw new Error("report.metrics_listen is empty");
  const { host, port } = parseListen(listen);
  const h = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  const url = `http://${h.includes(":") ? `[${h}]` : h}:${port}/explain`;
  const res = await fetch(url, { signal: AbortSignal.timeout(1500) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return snapshotFromJson(await res.text());
}

function explainFromLog(path: string, holdS: number[], json: boolean): void {
  const entries = readEntries(path);
  const levels = entries.filter((e) => e.kind !== "action");
  // The last episode: from the last departure from homeostasis to the end.
  let start = 0;
  for (let i = entries.length - 1; i >= 0; i--) {
    if (entries[i]!.kind !== "action" && entries[i]!.previous_level === 0) {
      start = i;
      break;
    }
  }
  const episode = entries.slice(start);
  const last = levels[levels.length - 1];
  if (json) {
    printJson({ source: "log", file: path, last: last ?? null, episode });
    return;
  }
  if (!last) {
    process.stdout.write(`${shownPath(path)}: no level changes logged\n`);
    return;
  }
  // A log is input: its fields never reach the terminal as control characters.
  process.stdout.write(escapeControlKeepLines(`Last logged state (${last.timestamp}):\n${explainDecision(decisionFromEntry(last), holdS).join("\n")}\n\nLast episode:\n${renderTimeline(episode)}`));
}

export function registerExplain(program: Command): void {
  program
    .command("explain")
    .description("the live agent's decision in plain words, or --log an episode as a timeline")
    .option("--json", "machine-readable output")
    .option("--log <file>", "tell the story of an episode from a decision log")
    .option("--since <duration>", "with --log: only the last 30s / 10m / 2h before the last entry")
    .option("--verify [file]", "check the hash chain of a decision log (as `hosa audit verify`)")
    .action(async (opts: ExplainOptions, cmd: Command) => {
      const configPath = cmd.optsWithGlobals().config as string | undefined;
      if (opts.verify !== undefined) {
        await runVerify(typeof opts.verify === "string" ? opts.verify : undefined, Boolean(opts.json), configPath);
        return;
      }
      let sinceS: number | null = null;
      if (opts.since !== undefined) {
        sinceS = parseDuration(opts.since);
        if (sinceS === null) throw new HosaError(`bad --since "${opts.since}": expected a duration such as 30s, 10m or 2h`, EXIT.USAGE);
        if (!opts.log) throw new HosaError("bad --since: only with --log FILE", EXIT.USAGE);
      }
      const cfg = await loadConfig(configPath);
      if (opts.log) {
        const all = readEntries(opts.log);
        if (all.length === 0) throw new HosaError(`cannot explain ${shownPath(opts.log)}: empty log: no entries`, EXIT.INPUT);
        const entries = entriesSince(all, sinceS);
        if (opts.json) printJson({ source: "log", file: opts.log, since_s: sinceS, entries });
        else process.stdout.write(escapeControlKeepLines(renderTimeline(entries)));
        return;
      }
      let snap: AgentSnapshot;
      try {
        snap = await fetchSnapshot(cfg.report.metricsListen);
      } catch (e) {
        const err = e as Error & { code?: string };
        const why = err.name === "TimeoutError" ? "timed out" : (err.code ?? String(err.message ?? e).split("\n")[0]);
        if (!existsSync(cfg.paths.logFile)) {
          throw new HosaError(`agent not reachable at ${cfg.report.metricsListen} (${why}) and no decision log at ${cfg.paths.logFile}`, EXIT.AGENT);
        }
        process.stderr.write(`hosa: agent not reachable at ${cfg.report.metricsListen} (${why}): explaining from ${cfg.paths.logFile}\n`);
        explainFromLog(cfg.paths.logFile, cfg.engine.holdS, Boolean(opts.json));
        return;
      }
      if (opts.json) printJson({ source: "agent", ...snap });
      else process.stdout.write(explainSnapshot(snap, snap.holdS ?? cfg.engine.holdS));
    });
}
