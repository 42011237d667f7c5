import type { Command } from "commander";
import Table from "cli-table3";
import { hostname } from "node:os";
import { lockStateDir } from "../../agent.ts";
import { type HosaConfig, loadConfig } from "../../config.ts";
import { EXIT, HosaError } from "../../errors.ts";
import { DecisionLog } from "../../report/decision-log.ts";
import { createCgroupFs } from "../../kernel/cgroupfs.ts";
import { manualQuarantine, quarantineStatus, readQuarantineState, releaseQuarantine } from "../../respond/quarantine.ts";
import type { ActionRecord } from "../../respond/types.ts";
import { detachXdp, openXdp } from "../../respond/xdp.ts";
import { discoverNode } from "../../kernel/proprioception.ts";
import { color, isTty, printJson } from "../output.ts";

interface Flags {
  yes?: boolean;
  json?: boolean;
  cgroup?: string[];
}

function requireRoot(what: string): void {
  const uid = process.getuid?.() ?? 0;
  if (uid !== 0) throw new HosaError(`quarantine ${what}: needs root (running as uid ${uid})`, EXIT.PERMISSION);
}

function whoAmI(): string {
  return process.env.SUDO_USER || process.env.USER || `uid ${process.getuid?.() ?? "?"}`;
}

/** y/N on a terminal; without one, --yes is the only way to say yes. */
function confirm(question: string, what: string, yes: boolean | undefined): void {
  if (yes) return;
  if (!process.stdin.isTTY) throw new HosaError(`quarantine ${what}: not confirmed: no terminal to ask on, pass --yes`, EXIT.DECLINED);
  const answer = prompt(`${question} [y/N]`);
  if (!answer || !/^y(es)?$/i.test(answer.trim())) throw new HosaError(`quarantine ${what}: declined`, EXIT.DECLINED);
}

function readState(cfg: HosaConfig) {
  try {
    return readQuarantineState(cfg);
  } catch (e) {
    throw new HosaError(`cannot read the quarantine state: ${(e as Error).message.split("\n")[0]}`, EXIT.INPUT);
  }
}

function printRecords(records: ActionRecord[]): void {
  for (const r of records) {
    const bad = r.outcome.startsWith("failed");
    const line = `${r.kind} ${r.target}: ${r.action}: ${r.outcome}`;
    process.stdout.write(`  ${bad ? color.red(line) : r.outcome.startsWith("skipped") ? color.yellow(line) : line}\n`);
  }
}

/** Append to the decision log when no agent holds the state directory; the agent logs it otherwise. */
function logRelease(cfg: HosaConfig, line: Record<string, unknown>): string {
  let unlock: () => void;
  try {
    unlock = lockStateDir(cfg.paths.stateDir);
  } catch (e) {
    if (e instanceof HosaError && e.exitCode === EXIT.AGENT) return "the running agent logs it";
    throw e;
  }
  try {
    const log = DecisionLog.open(cfg.paths.logFile, { maxBytes: cfg.report.logMaxBytes, keep: cfg.report.logKeep, stateDir: cfg.paths.stateDir });
    log.append(line);
    log.close();
    return `logged in ${cfg.paths.logFile}`;
  } finally {
    unlock();
  }
}

export function registerQuarantine(program: Command): void {
  const q = program
    .command("quarantine")
    .description("the manual way out of Level 5, and what is in force")
    .addHelpText("after", "\nWorks from the state directory ([paths] state_dir) whether or not the agent runs.");

  q.command("status")
    .description("what is in force: level, since, mode, stopped PIDs, frozen cgroups, cgroup values, XDP, watchdog")
    .option("--json", "print the status as JSON")
    .action(async (flags: Flags, cmd: Command) => {
      const cfg = await loadConfig(cmd.optsWithGlobals().config);
      readState(cfg);
      const { state, inForce, warnings } = quarantineStatus(cfg, createCgroupFs(cfg.sense.cgroupRoot));
      if (flags.json) {
        printJson({
          active: state?.active ?? false,
          level: state?.active ? 5 : state?.hold ? 3 : null,
          since: state?.since ?? null,
          mode: state?.mode ?? null,
          host: state?.host ?? hostname(),
          stopped_pids: state?.active ? state.stoppedPids : [],
          frozen_cgroups: state?.active ? state.frozenCgroups : [],
          xdp: state?.active ? state.xdp : null,
          watchdog_deadline: state?.watchdogDeadlineMs ? new Date(state.watchdogDeadlineMs).toISOString() : null,
          k8s: state?.k8s ?? null,
          hold: state?.hold ?? null,
          released: state?.released ?? null,
          snapshot: state?.snapshot ?? null,
          notes: state?.notes ?? [],
          in_force: inForce.map((x) => ({ what: x.what, hosa_value: x.hosaValue, original: x.original, current: x.current })),
          warnings,
        });
        return;
      }
      for (const w of warnings) process.stderr.write(`hosa: ${w}\n`);
      if (!state?.active) {
        const after = state?.released ? ` (released by ${state.released.by} at ${state.released.at}, ${state.released.how}; holding at Level 3)` : "";
        process.stdout.write(`no quarantine in force on ${state?.host ?? hostname()}${after}\n`);
      } else {
        process.stdout.write(`${color.red.bold("QUARANTINE")} (Level 5) on ${state.host} since ${state.since}, mode ${state.mode}\n`);
        process.stdout.write(`  stopped PIDs: ${state.stoppedPids.join(", ") || "none"}\n`);
        process.stdout.write(`  frozen cgroups: ${state.frozenCgroups.join(", ") || "none"}\n`);
        process.stdout.write(`  XDP: ${state.xdp ? `${state.xdp.policy} on ${state.xdp.ifname}` : "none"}\n`);
        if (state.watchdogDeadlineMs) process.stdout.write(`  watchdog releases at ${new Date(state.watchdogDeadlineMs).toISOString()}\n`);
        if (state.k8s) process.stdout.write(`  node ${state.k8s.node}: taint ${state.k8s.tainted ? "applied" : "not applied"}, event ${state.k8s.event ? "posted" : "not posted"}\n`);
        for (const n of state.notes) process.stdout.write(`  ${n}\n`);
        process.stdout.write(`  forensic snapshot: ${state.snapshot}\n`);
      }
      if (inForce.length) {
        const table = new Table({ head: ["in force", "hosa", "original", "now"], style: { head: isTty() ? ["cyan"] : [], border: isTty() ? ["grey"] : [] } });
        for (const x of inForce) table.push([x.what, x.hosaValue, x.original, x.current ?? "-"]);
        process.stdout.write(`${table.toString()}\n`);
      }
    });

  q.command("release")
    .description("lift the quarantine: network back, SIGCONT, thaw, taint removed, every journaled value restored; the node holds at Level 3")
    .option("--yes", "do not ask for confirmation")
    .option("--json", "print what was done as JSON")
    .addHelpText("after", "\nRoot only. Asks on a terminal; without one, --yes is required.\nExit codes: 0 released (or nothing to release), 5 not root, 8 declined.")
    .action(async (flags: Flags, cmd: Command) => {
      requireRoot("release");
      const cfg = await loadConfig(cmd.optsWithGlobals().config);
      const st = readState(cfg);
      if (!st?.active) {
        if (flags.json) printJson({ released: false, reason: "no quarantine in force" });
        else process.stdout.write(`no quarantine in force on ${st?.host ?? hostname()}\n`);
        return;
      }
      confirm(`Release quarantine on ${st.host}?`, "release", flags.yes);
      const r = await releaseQuarantine(cfg, { who: whoAmI(), detachXdp });
      const logged = r.logLine ? logRelease(cfg, r.logLine) : "";
      if (flags.json) {
        printJson({ released: r.released, released_by: r.state?.released?.by, released_at: r.state?.released?.at, hold: "Level 3", actions: r.records, warnings: r.warnings, log_line: r.logLine });
        return;
      }
      for (const w of r.warnings) process.stderr.write(`hosa: ${w}\n`);
      process.stdout.write(`quarantine on ${st.host} released by ${r.state?.released?.by}; holding at Level 3 (${logged})\n`);
      printRecords(r.records);
      if (r.records.some((x) => x.outcome.startsWith("failed"))) process.exitCode = EXIT.FAILURE;
    });

  q.command("enter")
    .description("quarantine this node by hand (Level 5): XDP isolate, SIGSTOP of the given cgroups' processes, forensic snapshot")
    .option("--cgroup <path...>", "contributor cgroups to stop (attribution hierarchy: memory on v1/hybrid)")
    .option("--yes", "do not ask for confirmation")
    .option("--json", "print what was done as JSON")
    .addHelpText("after", "\nRoot only; acts only with [respond] mode = \"act\", otherwise says what it would do.")
    .action(async (flags: Flags, cmd: Command) => {
      requireRoot("enter");
      const cfg = await loadConfig(cmd.optsWithGlobals().config);
      confirm(`Quarantine ${hostname()}?`, "enter", flags.yes);
      let envClass: string | undefined;
      if (cfg.respond.quarantineMode === "auto") {
        try {
          envClass = discoverNode(cfg.sense.procRoot).environmentClass;
        } catch {
          // Unsure means the most conservative class (cloud-vm), chosen by resolveQuarantineMode().
        }
      }
      const r = await manualQuarantine(cfg, { cgroups: flags.cgroup ?? [], who: whoAmI(), openXdp, envClass });
      if (flags.json) {
        printJson({ active: r.state?.active ?? false, mode: r.state?.mode ?? null, actions: r.records });
        return;
      }
      process.stdout.write(r.state?.active ? `quarantine in force on ${r.state.host} (${r.state.mode})\n` : "detection-only: nothing was done\n");
      printRecords(r.records);
    });
}
