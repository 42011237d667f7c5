// Putting back what the journal says hosa changed, and only what hosa still
// owns: a value that is no longer the one hosa wrote was changed by someone
// else (an operator, an orchestrator) and is left alone, with that said.
// Each journaled change goes back through the actuator that made it.
import type { HosaConfig } from "../config.ts";
import type { Actuator } from "./actuator.ts";
import { createActuatorContext } from "./actuator.ts";
import { createActuators } from "./actuators/index.ts";
import type { CgroupFs } from "../kernel/cgroupfs.ts";
import type { ChangeEntry, Journal, OpenChange } from "./journal.ts";
import type { ActionRecord } from "./types.ts";

function record(e: ChangeEntry, t: number, action: string, outcome: string): ActionRecord {
  const target = e.op === "set" ? `/${e.dir}` : e.op === "xdp" ? e.ifname : String(e.pid);
  const kind = e.op === "set" ? "cgroup" : e.op === "xdp" ? "xdp" : "signal";
  return { id: `${e.id}-restore`, t, level: e.level, kind, target, action, outcome };
}

/**
 * Restore every open change, newest first (so memory.oom_control, set before
 * the v1 ceiling, is put back after it), each by the actuator that owns it. A
 * failure keeps that entry open for the next try and never stops the others.
 */
export function restoreChanges(open: OpenChange[], actuators: Actuator[], journal: Journal, t: number): { records: ActionRecord[]; stillOpen: OpenChange[] } {
  const records: ActionRecord[] = [];
  const stillOpen: OpenChange[] = [];
  for (const c of [...open].reverse()) {
    let r = null;
    for (const a of actuators) {
      r = a.restore?.(c, t) ?? null;
      if (r) break;
    }
    if (!r) continue;
    if (r.over) journal.append({ op: "done", key: c.key, outcome: r.outcome });
    else stillOpen.push(c);
    records.push(record(c.first, t, r.action, r.outcome));
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
  const ctx = createActuatorContext(cfg, deps);
  const { open, warnings } = ctx.journal.load();
  const { records, stillOpen } = restoreChanges(open, createActuators(ctx), ctx.journal, deps.t ?? Date.now() / 1000);
  if (open.length > 0 || warnings.length > 0) ctx.journal.compact(stillOpen);
  return { records, warnings };
}
