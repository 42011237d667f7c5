// Memory: at Level 3 a ceiling just above what the contributor uses
// (memory.high; v1 has none, so its OOM killer goes off and
// memory.limit_in_bytes becomes a ceiling that rises slowly), at Level 4 a
// hard one (memory.max; the v1 ceiling stops rising). docs/response.md § The ladder.
import type { Actuator, ActuatorContext, Restored, Step } from "../actuator.ts";
import { hierarchyDir } from "../../kernel/cgroupfs.ts";
import { CG } from "../../kernel/files.ts";
import { type CgroupValues, pageUp, readCurrent, restoreOwnFile } from "../cgroup-values.ts";
import type { OpenChange } from "../journal.ts";
import type { Target } from "../targets.ts";

const MIB = 1024 * 1024;
/** v1 stand-in for memory.high: the ceiling rises this fast while contained, so the leak crawls instead of dying. */
export const V1_CEILING_RISE_BYTES_PER_S = 2 * MIB;
const LIMIT_FILES: readonly string[] = [CG.memoryLimit, CG.memoryHigh, CG.memoryMax];
const FILES: readonly string[] = [...LIMIT_FILES, CG.oomControl];

const headroom = (usage: number) => pageUp(Math.max(16 * MIB, usage * 0.02));

/** Cgroups hosa holds a memory ceiling on: per limit file, the value it replaced in bytes (Infinity for none). */
export function heldCeilings(values: CgroupValues): Map<string, Record<string, number>> {
  const out = new Map<string, Record<string, number>>();
  for (const m of values.values()) {
    if (!LIMIT_FILES.includes(m.file)) continue;
    const orig = m.orig === "max" ? Number.POSITIVE_INFINITY : Number(m.orig);
    const files = out.get(m.target) ?? {};
    files[m.file] = Number.isFinite(orig) ? orig : Number.POSITIVE_INFINITY;
    out.set(m.target, files);
  }
  return out;
}

export function memoryActuator(ctx: ActuatorContext): Actuator {
  const { layout, values, fs, act } = ctx;

  function usageNow(target: Target): number {
    const raw = layout.memoryHierarchy === "memory-v1" ? fs.read(hierarchyDir(layout, "memory", target.path), CG.memoryUsage) : fs.read(target.path.replace(/^\/+/, ""), CG.memoryCurrent);
    const n = raw === undefined ? Number.NaN : Number(raw.trim());
    return Number.isFinite(n) ? n : target.usage.memoryBytes;
  }

  return {
    name: "memory",
    contain(step: Step, target: Target): void {
      const { out, t, level } = step;
      if (level < 3 || target.resource !== "memory") return;
      const p = target.path;
      const usage = usageNow(target);
      const ceiling = pageUp(usage + headroom(usage));
      const under = (o: string) => o === "max" || Number(o) > ceiling;
      if (layout.memoryHierarchy === "v2") {
        values.impose(out, t, 3, p, "memory", CG.memoryHigh, (o) => (under(o) ? String(ceiling) : null));
      } else {
        // v1 has no memory.high. With the cgroup's OOM killer off, a task at
        // the limit sleeps in the charge path instead of being killed
        // (Documentation/admin-guide/cgroup-v1/memory.rst §10), and raising
        // the limit wakes it: a ceiling that rises slowly is a soft limit.
        const lim = hierarchyDir(layout, "memory", p);
        const limKey = values.keyOf(lim, CG.memoryLimit);
        values.impose(out, t, 3, p, "memory", CG.oomControl, (o) => (o === "1" ? null : "1"), { after: limKey });
        if (!act || readCurrent(fs, lim, CG.oomControl) === "1") {
          const held = values.get(limKey);
          if (held && level === 3 && held.mode !== "relaxing") {
            held.mode = "rising";
            held.lastStepT = t;
          } else if (held && level >= 4 && held.mode !== "relaxing") {
            // Level 4 stops the ceiling where it is: recomputing it from usage would lift it a step.
            held.mode = "fixed";
            held.layer = Math.max(held.layer, 4);
          } else {
            values.impose(out, t, level >= 4 ? 4 : 3, p, "memory", CG.memoryLimit, (o) => (under(o) ? String(ceiling) : null), {
              mode: level >= 4 ? "fixed" : "rising",
              risePerS: V1_CEILING_RISE_BYTES_PER_S,
            });
          }
        }
      }
      if (level >= 4 && layout.memoryHierarchy === "v2") {
        const now = usageNow(target);
        const max = pageUp(now + 2 * headroom(now));
        values.impose(out, t, 4, p, "memory", CG.memoryMax, (o) => (o === "max" || Number(o) > max ? String(max) : null));
      }
    },
    descend(step: Step): void {
      // The v1 ceiling set at Level 4 keeps containing at Level 3, rising again.
      if (layout.memoryHierarchy !== "memory-v1" || step.level !== 3) return;
      for (const m of values.values()) {
        if (m.file !== CG.memoryLimit || m.layer <= 3 || m.mode === "relaxing") continue;
        m.mode = "rising";
        m.layer = 3;
        m.lastStepT = step.t;
      }
    },
    restore: (c: OpenChange): Restored | null => restoreOwnFile(fs, FILES, c),
  };
}
