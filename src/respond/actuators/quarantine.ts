// Quarantine (Level 5): SIGSTOP of the named cgroups' processes, journaled
// first with their start time so a reused PID never gets the SIGCONT, and
// the state file, snapshot and environment actions of src/respond/quarantine.ts.
// Only `hosa quarantine release` (or the edge-remote watchdog) lifts it.
import type { Actuator, ActuatorContext, Restored, Step } from "../actuator.ts";
import { hierarchyDir, readPids } from "../../kernel/cgroupfs.ts";
import type { OpenChange } from "../journal.ts";
import { enterQuarantine, extendQuarantine } from "../quarantine.ts";
import { commOf, hasControllingTty, isKernelThread, startTimeOf } from "../../kernel/proc.ts";
import { PROTECTED_COMMS } from "../targets.ts";
import type { ActionRecord } from "../types.ts";

function protectedPid(ctx: ActuatorContext, pid: number): string | null {
  const { procRoot, selfPid, safelist } = ctx.safelist;
  if (pid === selfPid) return "hosa itself";
  if (pid === 1) return "PID 1";
  if (isKernelThread(procRoot, pid)) return "kernel thread";
  const comm = commOf(procRoot, pid) ?? "";
  if (PROTECTED_COMMS.some((n) => comm === n || comm.startsWith(`${n}-`))) return `protected process ${comm}`;
  if (safelist.includes(comm)) return `safelisted process ${comm}`;
  if (hasControllingTty(procRoot, pid)) return `interactive process ${comm} (controlling terminal)`;
  return null;
}

/** SIGSTOP every process of these cgroups that is not protected, journaled first. Returns the PIDs stopped. */
export function stopContributors(ctx: ActuatorContext, t: number, paths: string[], out: ActionRecord[]): number[] {
  const stopped: number[] = [];
  const rec = (pid: number, outcome: string): ActionRecord => ({ id: `q${Math.round(t * 1000)}-${pid}`, t, level: 5, kind: "signal", target: String(pid), action: "SIGSTOP", outcome });
  for (const path of paths) {
    for (const pid of readPids(ctx.fs, hierarchyDir(ctx.layout, "memory", path))) {
      const why = protectedPid(ctx, pid);
      if (why) {
        out.push(rec(pid, `skipped: ${why}`));
        continue;
      }
      if (!ctx.act) {
        out.push(rec(pid, "would apply (detection-only)"));
        continue;
      }
      const startTime = startTimeOf(ctx.procRoot, pid);
      if (!startTime) continue;
      ctx.journal.append({ op: "stop", id: `q${Math.round(t * 1000)}-${pid}`, t, level: 5, pid, startTime });
      try {
        ctx.kill(pid, "SIGSTOP");
        stopped.push(pid);
        out.push(rec(pid, "applied"));
      } catch (e) {
        ctx.journal.append({ op: "done", key: `stop:${pid}`, outcome: "kill failed" });
        out.push(rec(pid, `failed: ${(e as Error).message.split("\n")[0]}`));
      }
    }
  }
  return stopped;
}

export function quarantineActuator(ctx: ActuatorContext): Actuator {
  let quarantined = false;
  return {
    name: "quarantine",
    escalate(step: Step): void {
      if (step.level !== 5) return;
      const paths = step.targets.map((x) => x.path);
      if (quarantined && step.retry) step.out.push(...extendQuarantine(ctx, step.t, paths));
      if (quarantined) return;
      quarantined = true;
      const ifname = ctx.cfg.respond.xdpInterface;
      step.out.push(
        ...enterQuarantine(ctx, {
          t: step.t,
          targets: paths,
          decisions: step.decisions,
          cgroups: step.cgroups,
          xdp: ifname ? { ifname, policy: ctx.xdpPolicy() } : null,
          ...ctx.quarantine,
        }),
      );
    },
    descend(): void {
      // Below 5 only after `hosa quarantine release` (the engine's releaseQuarantine()).
      quarantined = false;
    },
    restore(c: OpenChange): Restored | null {
      if (c.first.op !== "stop") return null;
      const action = `SIGCONT ${c.first.pid}`;
      const now = startTimeOf(ctx.procRoot, c.first.pid);
      if (now === undefined) return { action, outcome: "skipped: process gone", over: true };
      if (now !== c.first.startTime) return { action, outcome: "skipped: PID reused by another process", over: true };
      try {
        ctx.kill(c.first.pid, "SIGCONT");
        return { action, outcome: "restored", over: true };
      } catch (e) {
        return { action, outcome: `failed: ${(e as Error).message.split("\n")[0]}`, over: false };
      }
    },
    holds: () => quarantined,
    forget(): void {
      quarantined = false;
    },
  };
}
