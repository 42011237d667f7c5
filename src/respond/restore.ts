// Putting back what the journal says hosa changed, and only what hosa still
// owns: a value that is no longer the one hosa wrote was changed by someone
// else (an operator, an orchestrator) and is left alone, with that said.
import type { HosaConfig } from "../config.ts";
import { CG, type CgroupFs, createCgroupFs, normalizeValue } from "./cgroupfs.ts";
import { type ChangeEntry, Journal, type OpenChange, type SetEntry } from "./journal.ts";
import { startTimeOf } from "./targets.ts";
import type { ActionRecord } from "./types.ts";

/** The XDP engineer's control (src/respond/xdp.ts), by shape: the responder never needs more. */
export interface XdpControl {
  mode(): "native" | "generic";
  set(policy: "off" | "shed-new" | "block-all" | "isolate" | "rate-new"): void;
  close(): void;
}
export type OpenXdp = (ifname: string, opts: { healthcheck: string[]; management: string[] }) => XdpControl;

export interface RestoreDeps {
  fs: CgroupFs;
  procRoot: string;
  journal: Journal;
  /** src/respond/xdp.ts detachXdp: detach whatever is on the interface (crash recovery). */
  detachXdp?: (ifname: string) => boolean;
  /** XDP controls this process holds, by interface; restoring sets "off" and closes them. */
  liveXdp?: Map<string, XdpControl>;
  kill: (pid: number, signal: NodeJS.Signals) => void;
}

export function journalPath(cfg: HosaConfig): string {
  return `${cfg.paths.stateDir}/actions.journal`;
}

/** The current value of a journaled file, in the form hosa wrote it (per device for io files). */
export function readCurrent(fs: CgroupFs, dir: string, file: string, dev?: string): string | undefined {
  const raw = fs.read(dir, file);
  if (raw === undefined) return undefined;
  return dev ? deviceLine(file, raw, dev) : normalizeValue(file, raw);
}

const IO_KEYS = ["rbps", "wbps", "riops", "wiops"] as const;

/** One device's line of io.max / blkio.throttle.*, absent meaning unlimited, in a fixed key order. */
export function deviceLine(file: string, raw: string, dev: string): string {
  const line = raw.split("\n").find((l) => l.startsWith(`${dev} `));
  if (file === CG.ioMax) {
    const kv = new Map<string, string>();
    for (const tok of (line ?? "").split(/\s+/).slice(1)) {
      const [k, v] = tok.split("=");
      if (k && v) kv.set(k, v);
    }
    return `${dev} ${IO_KEYS.map((k) => `${k}=${kv.get(k) ?? "max"}`).join(" ")}`;
  }
  // blkio.throttle.*_device: "maj:min value"; writing 0 removes the rule.
  return line ? line.trim().replace(/\s+/g, " ") : `${dev} 0`;
}

export function describeKey(e: ChangeEntry): string {
  if (e.op === "set") return e.dev ? `${e.file} ${e.dev}` : e.file;
  if (e.op === "xdp") return `xdp ${e.ifname}`;
  return `SIGSTOP ${e.pid}`;
}

function record(e: ChangeEntry, t: number, action: string, outcome: string): ActionRecord {
  const target = e.op === "set" ? `/${e.dir}` : e.op === "xdp" ? e.ifname : String(e.pid);
  const kind = e.op === "set" ? "cgroup" : e.op === "xdp" ? "xdp" : "signal";
  return { id: `${e.id}-restore`, t, level: e.level, kind, target, action, outcome };
}

/**
 * Restore one set entry pair (first holds the original, last hosa's value).
 * The file may also hold `prior`'s value: the last entry was journaled, and
 * the agent killed before its write. Returns the outcome and whether it is over.
 */
export function restoreSet(fs: CgroupFs, first: SetEntry, last: SetEntry, prior?: ChangeEntry): { outcome: string; over: boolean; action: string } {
  const action = `${describeKey(first)} ${last.value}→${first.prev}`;
  const cur = readCurrent(fs, first.dir, first.file, first.dev);
  if (cur === undefined) return { outcome: "skipped: cgroup gone", over: true, action };
  if (cur === first.prev) return { outcome: "restored (already at the original value)", over: true, action };
  const cutShort = prior?.op === "set" && cur === prior.value;
  if (cur !== last.value && !cutShort) {
    return { outcome: `skipped: changed by someone else since hosa wrote it (now ${cur}, hosa wrote ${last.value}); left as is`, over: true, action };
  }
  try {
    fs.write(first.dir, first.file, first.prev);
  } catch (e) {
    return { outcome: `failed: ${(e as Error).message.split("\n")[0]}`, over: false, action };
  }
  return { outcome: "restored", over: true, action };
}

/**
 * Restore every open change, newest first (so memory.oom_control, set before
 * the v1 ceiling, is put back after it). A failure keeps that entry open for
 * the next try and never stops the others.
 */
export function restoreChanges(open: OpenChange[], deps: RestoreDeps, t: number): { records: ActionRecord[]; stillOpen: OpenChange[] } {
  const records: ActionRecord[] = [];
  const stillOpen: OpenChange[] = [];
  for (const c of [...open].reverse()) {
    let outcome: string;
    let over = true;
    let action: string;
    if (c.first.op === "set" && c.last.op === "set") {
      const r = restoreSet(deps.fs, c.first, c.last, c.prior);
      ({ outcome, over, action } = r);
    } else if (c.first.op === "xdp") {
      action = `xdp ${c.first.ifname} → off (detach)`;
      try {
        const live = deps.liveXdp?.get(c.first.ifname);
        if (live) {
          live.set("off");
          live.close();
          deps.liveXdp?.delete(c.first.ifname);
          outcome = "restored";
        } else if (deps.detachXdp) {
          // A program attached through netlink outlives the process that attached it.
          outcome = deps.detachXdp(c.first.ifname) ? "restored (detached)" : "skipped: no XDP program attached any more";
        } else {
          outcome = "failed: XDP is not available in this build";
          over = false;
        }
      } catch (e) {
        outcome = `failed: ${(e as Error).message.split("\n")[0]}`;
        over = false;
      }
    } else if (c.first.op === "stop") {
      action = `SIGCONT ${c.first.pid}`;
      const now = startTimeOf(deps.procRoot, c.first.pid);
      if (now === undefined) outcome = "skipped: process gone";
      else if (now !== c.first.startTime) outcome = "skipped: PID reused by another process";
      else {
        try {
          deps.kill(c.first.pid, "SIGCONT");
          outcome = "restored";
        } catch (e) {
          outcome = `failed: ${(e as Error).message.split("\n")[0]}`;
          over = false;
        }
      }
    } else {
      continue;
    }
    if (over) deps.journal.append({ op: "done", key: c.key, outcome });
    else stillOpen.push(c);
    records.push(record(c.first, t, action, outcome));
  }
  return { records, stillOpen: stillOpen.reverse() };
}

export interface RecoverDeps {
  fs?: CgroupFs;
  procRoot?: string;
  detachXdp?: (ifname: string) => boolean;
  kill?: (pid: number, signal: NodeJS.Signals) => void;
  /** Seconds for the records' `t`. */
  t?: number;
}

/**
 * On start (after a crash or SIGKILL) and on `hosa quarantine release`: put
 * back everything the journal says is still in force, then compact the
 * journal atomically. Bad lines come back as warnings for the caller to print.
 */
export function recoverFromJournal(cfg: HosaConfig, deps: RecoverDeps = {}): { records: ActionRecord[]; warnings: string[] } {
  const journal = Journal.open(journalPath(cfg));
  const { open, warnings } = journal.load();
  const { records, stillOpen } = restoreChanges(
    open,
    {
      fs: deps.fs ?? createCgroupFs(cfg.sense.cgroupRoot),
      procRoot: deps.procRoot ?? cfg.sense.procRoot,
      journal,
      detachXdp: deps.detachXdp,
      kill: deps.kill ?? ((pid, sig) => process.kill(pid, sig)),
    },
    deps.t ?? Date.now() / 1000,
  );
  if (open.length > 0 || warnings.length > 0) journal.compact(stillOpen);
  return { records, warnings };
}
