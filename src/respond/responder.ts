// The reflex: a decision's level turned into proportional, reversible actions
// on the cgroup the danger names (docs/response.md, docs/levels.md). The
// responder chooses targets and levels only; what is written where, journaled
// first and put back in steps, is the actuators' (src/respond/actuators/,
// one per controller, called in list order):
//
// Level 1: nothing here (faster sampling is the agent's).
// Level 2: cpu.weight (v1 cpu.shares) of the contributors to a quarter.
// Level 3: memory.high (v1: ceiling that rises slowly, OOM killer off),
//          cpu.max (v1 cfs_quota_us), io.max (v1 blkio.throttle.*), XDP shed-new.
// Level 4: memory.max (v1: the ceiling stops rising), freeze the contributors,
//          XDP block-all.
// Level 5: quarantine (src/respond/quarantine.ts), XDP isolate.
import type { HosaConfig } from "../config.ts";
import { DEFAULT_DANGER_HORIZON_S } from "../engine/danger.ts";
import type { Danger, Decision, Level } from "../engine/types.ts";
import type { CgroupUsage } from "../sense/types.ts";
import { type ContextDeps, createActuatorContext, type Step } from "./actuator.ts";
import { createActuators } from "./actuators/index.ts";
import { heldQuotas } from "./actuators/cpu.ts";
import { heldCeilings } from "./actuators/memory.ts";
import { readQuarantineState } from "./quarantine.ts";
import { restoreChanges } from "./restore.ts";
import { interactiveReason, norm, type Resource, safelistReason, selectTargets, type Target } from "./targets.ts";
import type { ActionRecord, Responder } from "./types.ts";

/** Danger must have been gone this long before containment relaxes: one noisy tick is not the end of it. */
export const DANGER_GONE_S = 1;

/** What a calm tick returns: shared, never written (callers that add records make a new array). */
const NO_ACTIONS: ActionRecord[] = Object.freeze([]) as unknown as ActionRecord[];

export interface ResponderDeps extends ContextDeps {
  /** Danger further than this does not slow anyone (engine.danger_horizon_s), seconds. */
  dangerHorizonS?: number;
}

export function createResponder(cfg: HosaConfig, deps: ResponderDeps = {}): Responder {
  const ctx = createActuatorContext(cfg, deps);
  const { act, journal, values } = ctx;
  const actuators = createActuators(ctx);

  let level: Level = 0;
  let prevUsage: CgroupUsage[] = [];
  let prevT = Number.NaN;
  let lastT = 0;
  const targets = new Map<string, Target>();
  const recent: Decision[] = [];
  const horizonS = deps.dangerHorizonS ?? cfg.engine.dangerHorizonS ?? DEFAULT_DANGER_HORIZON_S;
  let lastDanger: Danger | null = null;
  let lastDangerT = Number.NEGATIVE_INFINITY;
  /** Danger targets the safelist refused, said once per episode. */
  const refused = new Set<string>();
  let compacted = true;
  const rec = ctx.rec;

  /** Actuators with steps due by time (tick): whether one is pending; one without due() always is. */
  const tickers = actuators.filter((a) => a.tick !== undefined);
  const timedStepDue = (): boolean => {
    for (const a of tickers) if (a.due === undefined || a.due()) return true;
    return false;
  };

  /** A proven danger within the horizon is the last one seen; a pending one (seen, not yet steady) is no evidence yet: nothing stands on it. */
  const noteDanger = (danger: Danger, t: number): void => {
    if (danger.cgroup && danger.ttfS < horizonS && !danger.pending) {
      lastDanger = danger;
      lastDangerT = t;
    }
  };
  const noteDecision = (decision: Decision): void => {
    recent.push(decision);
    if (recent.length > 50) recent.shift();
  };

  /** Why the cgroup may not be frozen now (null: it may); set per decision by the danger gate. */
  let freezeVeto: Step["freezeVeto"] = null;

  /**
   * Level 5 ends only through `hosa quarantine release` (or the watchdog),
   * which restored every journaled value from its own process. What this
   * responder still remembers is stale: forget it, and let the level the
   * engine holds at (3) contain afresh whatever still grows.
   */
  function forgetReleased(out: ActionRecord[], t: number, newLevel: number): void {
    let active = false;
    try {
      active = readQuarantineState(cfg)?.active ?? false;
    } catch {}
    if (active) return;
    for (const a of actuators) a.forget?.(true);
    values.clear();
    targets.clear();
    level = 0;
    out.push(rec(t, newLevel, "quarantine", "node", "quarantine released", "restored (by `hosa quarantine release`); containing afresh from this level"));
  }

  return {
    onDecision(decision: Decision, cgroups: CgroupUsage[], danger?: Danger): ActionRecord[] {
      const t = decision.t;
      lastT = t;
      // The calm tick (docs/footprint.md): Level 0 held at Level 0, no danger
      // standing, nothing held, nothing due by time. The full path below would
      // build its step objects, closures and a copy of the targets only to do
      // nothing; this does the same bookkeeping and returns no action.
      if (decision.level === 0 && level === 0 && danger !== undefined && values.size === 0 && targets.size === 0 && (compacted || !act || !ctx.used()) && !timedStepDue()) {
        noteDanger(danger, t);
        noteDecision(decision);
        if (refused.size > 0) refused.clear();
        if (cgroups.length > 0) {
          prevUsage = cgroups;
          prevT = t;
        }
        return NO_ACTIONS;
      }
      const out: ActionRecord[] = [];
      const step = (lvl: Level, retry: boolean): Step => ({ out, t, level: lvl, previous: level, targets: [...targets.values()], retry, decisions: recent, cgroups, freezeVeto });
      noteDecision(decision);
      const dtS = Number.isFinite(prevT) ? t - prevT : 0;
      let newLevel = decision.level;
      // The danger gate (docs/response.md § Danger gate): what slows a
      // workload needs a named cgroup heading to exhaustion, and acts on it
      // alone; quarantine needs containment failing on top. Once the danger
      // is gone, everything relaxes whatever the level says.
      let fresh: Target | null = null;
      if (danger !== undefined) {
        noteDanger(danger, t);
        const standing = lastDanger !== null && t - lastDangerT < DANGER_GONE_S ? lastDanger : null;
        const cap: Level = standing ? (standing.containmentFailing ? 5 : 4) : 1;
        // A quarantine in force stays until it is released.
        if (!(level === 5 && newLevel === 5) && newLevel > cap) newLevel = cap;
        freezeVeto = (tg) => {
          if (!standing || standing.cgroup !== tg.path) return "no danger trajectory on it";
          if (tg.resource === "memory" && !standing.containmentFailing) return "its memory ceiling holds it (freeze only when containment fails)";
          if (tg.resource === "cpu" || tg.resource === "io") return `${tg.resource === "cpu" ? "CPU" : "I/O"} harm is held by a throttle, never by a freeze`;
          // A v1 frozen task cannot even be killed, and a frozen storm shows nothing: its CPU quota holds it while its forks are refused.
          if (tg.resource === "pids" && !standing.containmentFailing) return "its CPU quota holds the fork storm (freeze only when containment fails)";
          return interactiveReason(tg.path, ctx.safelist);
        };
        if (standing && newLevel >= 2) {
          const resource: Resource = standing.resource.startsWith("pids") ? "pids" : standing.resource.startsWith("cpu") ? "cpu" : standing.resource.startsWith("io") ? "io" : "memory";
          const key = `${standing.cgroup}#${resource}`;
          if (!targets.has(key)) {
            const path = standing.cgroup as string;
            const why = safelistReason(path, ctx.safelist);
            if (why) {
              if (!refused.has(key)) out.push(rec(t, newLevel, "cgroup", path, "danger target", `skipped: ${why}`));
              refused.add(key);
            } else {
              const usage = cgroups.find((u) => norm(u.path) === path) ?? { path, memoryBytes: 0, cpuUsageUs: 0, ioBytes: 0, pids: 0 };
              fresh = { path, resource, delta: 0, ratePerS: standing.ratePerS ?? 0, usage, evidence: standing.evidence };
              targets.set(key, fresh);
            }
          }
        }
      }
      if (level === 5 && newLevel < 5) forgetReleased(out, t, newLevel);
      // Ungated (no danger measured, as in the actuator tests): targets come
      // from growth between two calls; after a jump from Level 0 there may be
      // no earlier usage yet, so an empty target set is retried.
      const escalate = newLevel > level && newLevel >= 2;
      const retry = danger === undefined ? newLevel >= 2 && newLevel === level && targets.size === 0 && cgroups.length > 0 : fresh !== null && newLevel >= 2 && newLevel <= level;
      if (escalate || retry) {
        compacted = false;
        if (danger === undefined) {
          const sel = selectTargets(decision, prevUsage, cgroups, dtS, ctx.safelist);
          if (escalate) for (const s of sel.skipped) out.push(rec(t, newLevel, "cgroup", s.path, "contributor", `skipped: ${s.reason}`));
          for (const tg of sel.targets) targets.set(`${tg.path}#${tg.resource}`, tg);
        } else if (fresh) out.push(rec(t, newLevel, "cgroup", fresh.path, "danger target", `chosen: ${fresh.evidence}`));
        // Containment stays on everyone targeted so far in this episode.
        const s = step(newLevel, retry);
        const perTarget = { ...s, level: Math.min(newLevel, 4) as Level };
        for (const tg of targets.values()) for (const a of actuators) a.contain?.(perTarget, tg);
        for (const a of actuators) a.escalate?.(s);
      } else if (newLevel < level) {
        // Below Level 3 new connections are rate-limited for relax_s, then XDP goes (docs/response.md § Letting go).
        for (const a of actuators) a.descend?.(step(newLevel, false));
        values.startRelax(t, newLevel);
        if (newLevel < 2) {
          for (const [k, tg] of targets) if (!values.holdsTarget(tg.path)) targets.delete(k);
        }
      }
      const previous = level;
      level = newLevel;
      // Whatever is due by time: timed XDP steps first, then rising ceilings and relaxation.
      const due = { ...step(newLevel, false), previous };
      for (const a of actuators) a.tick?.(due);
      values.tick(out, t, level);
      if (act && values.size === 0 && !actuators.some((a) => a.holds?.()) && level === 0 && ctx.used() && !compacted) {
        journal.compact([]);
        compacted = true;
      }
      if (newLevel <= 1 && values.size === 0) {
        targets.clear();
        refused.clear();
      }
      if (cgroups.length > 0) {
        prevUsage = cgroups;
        prevT = t;
      }
      return out;
    },

    restoreAll(reason: string, opts: { keepQuarantine?: boolean } = {}): ActionRecord[] {
      const t = lastT;
      if (!act) return values.wouldRestore(t, level, reason);
      const loaded = journal.load();
      const { warnings } = loaded;
      // A quarantine in force outlives the agent (only release lifts it):
      // its stopped processes and isolation stay, every other value goes back.
      const kept = opts.keepQuarantine ? loaded.open.filter((c) => c.first.op === "stop" || c.first.op === "xdp") : [];
      const open = loaded.open.filter((c) => !kept.includes(c));
      const { records, stillOpen: left } = restoreChanges(open, actuators, journal, t);
      for (const w of warnings) records.push(rec(t, level, "cgroup", journal.path, "read journal", `skipped: ${w}`));
      const stillOpen = [...kept, ...left];
      journal.compact(stillOpen);
      for (const a of actuators) a.forget?.(false);
      values.clear();
      targets.clear();
      level = 0;
      return records;
    },

    heldCeilings(): Map<string, Record<string, number>> {
      return act ? heldQuotas(values, heldCeilings(values)) : new Map();
    },

    inForce(): ActionRecord[] {
      return [...values.inForce(), ...actuators.flatMap((a) => a.inForce?.() ?? [])];
    },
  };
}
