// XDP on respond.xdp_interface (src/respond/xdp.ts): shed new connections at
// Level 3, block all but management and health checks at 4, isolate at 5;
// on the way below 3 new connections are rate-limited for relax_s, then the
// program goes. docs/response.md § The ladder.
import type { Actuator, ActuatorContext, Restored, Step, XdpControl } from "../actuator.ts";
import type { OpenChange } from "../journal.ts";
import type { ActionRecord } from "../types.ts";

type Policy = "off" | "shed-new" | "block-all" | "isolate" | "rate-new";

const policyOf = (level: number): Policy => (level >= 5 ? "isolate" : level === 4 ? "block-all" : "shed-new");

/**
 * `hosa quarantine enter`: isolate the interface from this short-lived
 * process, journaled first. Left attached on exit on purpose: a program
 * attached through netlink outlives this process, and release detaches it.
 */
export function isolateByHand(ctx: ActuatorContext, t: number, ifname: string): { record: ActionRecord; xdp: { ifname: string; policy: string } | null } {
  const id = `q${Math.round(t * 1000)}-x`;
  const rec = (outcome: string): ActionRecord => ({ id, t, level: 5, kind: "xdp", target: ifname, action: "xdp off→isolate", outcome });
  if (!ctx.act) return { record: rec("would apply (detection-only)"), xdp: null };
  if (!ctx.openXdp) return { record: rec("failed: XDP is not available in this build; only cgroup actions are"), xdp: null };
  ctx.journal.append({ op: "xdp", id, t, level: 5, ifname, policy: "isolate", prev: "off" });
  try {
    ctx.openXdp(ifname, { healthcheck: ctx.cfg.respond.healthcheckSources, management: ctx.cfg.respond.managementSources }).set("isolate");
    return { record: rec("applied"), xdp: { ifname, policy: "isolate" } };
  } catch (e) {
    ctx.journal.append({ op: "done", key: `xdp:${ifname}`, outcome: "attach failed" });
    return { record: rec(`failed: ${(e as Error).message.split("\n")[0]}`), xdp: null };
  }
}

export interface XdpActuator extends Actuator {
  /** The policy in force (or that would be, detection-only), for the quarantine state. */
  policy(): Policy;
}

export function xdpActuator(ctx: ActuatorContext): XdpActuator {
  const { cfg, journal, act } = ctx;
  const opts = { healthcheck: cfg.respond.healthcheckSources, management: cfg.respond.managementSources };
  const live = new Map<string, XdpControl>();
  const inForce = new Map<string, ActionRecord>();
  let policy: Policy = "off";
  let unavailable = "";
  let offAtT: number | null = null;
  ctx.xdpPolicy = () => policy;

  function set(out: ActionRecord[], t: number, lvl: number, next: Policy): void {
    const ifname = cfg.respond.xdpInterface;
    if (!ifname || next === policy) return;
    const label = `xdp ${policy}→${next}`;
    if (!act) {
      policy = next;
      out.push(ctx.rec(t, lvl, "xdp", ifname, label, "would apply (detection-only)"));
      return;
    }
    if (unavailable) return;
    try {
      let ctl = live.get(ifname);
      if (!ctl) {
        if (next === "off") return;
        if (!ctx.openXdp) throw new Error("XDP is not available in this build; only cgroup actions are");
        journal.append({ op: "xdp", id: ctx.newId(t), t, level: lvl, ifname, policy: next, prev: policy });
        ctl = ctx.openXdp(ifname, opts);
        live.set(ifname, ctl);
      } else if (next !== "off") {
        journal.append({ op: "xdp", id: ctx.newId(t), t, level: lvl, ifname, policy: next, prev: policy });
      }
      ctl.set(next);
      if (next === "off") {
        ctl.close();
        live.delete(ifname);
        journal.append({ op: "done", key: `xdp:${ifname}`, outcome: "restored" });
        inForce.delete(`xdp:${ifname}`);
        out.push(ctx.rec(t, lvl, "xdp", ifname, label, "restored"));
      } else {
        const r = ctx.rec(t, lvl, "xdp", ifname, `${label} (${ctl.mode()})`, "applied");
        inForce.set(`xdp:${ifname}`, r);
        out.push(r);
      }
      policy = next;
    } catch (e) {
      unavailable = (e as Error).message.split("\n")[0];
      journal.append({ op: "done", key: `xdp:${ifname}`, outcome: "attach failed" });
      out.push(ctx.rec(t, lvl, "xdp", ifname, label, `failed: ${unavailable}`));
    }
  }

  return {
    name: "xdp",
    policy: () => policy,
    escalate(step: Step): void {
      if (step.level < 3) return;
      offAtT = null;
      set(step.out, step.t, step.level, policyOf(step.level));
    },
    descend(step: Step): void {
      if (step.level < 3 && step.previous >= 3) {
        set(step.out, step.t, step.level, "rate-new");
        offAtT = step.t + cfg.respond.relaxS;
      } else if (step.level >= 3) set(step.out, step.t, step.level, policyOf(step.level));
    },
    tick(step: Step): void {
      if (offAtT !== null && step.t >= offAtT && step.level < 3) {
        offAtT = null;
        set(step.out, step.t, step.level, "off");
      }
    },
    restore(c: OpenChange): Restored | null {
      if (c.first.op !== "xdp") return null;
      const ifname = c.first.ifname;
      const action = `xdp ${ifname} → off (detach)`;
      try {
        const ctl = live.get(ifname);
        if (ctl) {
          ctl.set("off");
          ctl.close();
          live.delete(ifname);
          return { action, outcome: "restored", over: true };
        }
        // A program attached through netlink outlives the process that attached it.
        if (ctx.detachXdp) return { action, outcome: ctx.detachXdp(ifname) ? "restored (detached)" : "skipped: no XDP program attached any more", over: true };
        return { action, outcome: "failed: XDP is not available in this build", over: false };
      } catch (e) {
        return { action, outcome: `failed: ${(e as Error).message.split("\n")[0]}`, over: false };
      }
    },
    due: () => offAtT !== null,
    holds: () => live.size > 0,
    inForce: () => [...inForce.values()],
    forget(released: boolean): void {
      // After a clean stop that keeps a quarantine, its isolation stays attached.
      if (released) {
        for (const ctl of live.values()) {
          try {
            ctl.close();
          } catch {}
        }
        live.clear();
      }
      inForce.clear();
      policy = "off";
      offAtT = null;
    },
  };
}
