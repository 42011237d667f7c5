// CPU: at Level 2 the contributor's share drops to a quarter (cpu.weight,
// v1 cpu.shares); at Level 3 a CPU-bound contributor gets a quota of half
// what it used (cpu.max, v1 cpu.cfs_quota_us; at least 0.01 CPU), a fork
// storm 0.1 CPU.
// docs/response.md § The ladder.
import type { Actuator, ActuatorContext, Restored, Step } from "../actuator.ts";
import { CG } from "../../kernel/files.ts";
import { type CgroupValues, restoreOwnFile } from "../cgroup-values.ts";
import type { OpenChange } from "../journal.ts";
import type { Target } from "../targets.ts";

const CPU_PERIOD_US = 100000;
const FILES: readonly string[] = [CG.cpuWeight, CG.cpuShares, CG.cpuMax, CG.cfsQuotaUs];

/**
 * Adds the CPU quotas hosa holds to `held` (per cgroup, file → its value
 * before, Infinity for none): the watch then reads their throttling, and a
 * CPU harm stands while the quota throttles (src/engine/cpu-harm.ts).
 */
export function heldQuotas(values: CgroupValues, held: Map<string, Record<string, number>>): Map<string, Record<string, number>> {
  for (const m of values.values()) {
    if (m.file !== CG.cfsQuotaUs && m.file !== CG.cpuMax) continue;
    const orig = m.orig === "-1" || m.orig.startsWith("max") ? Number.POSITIVE_INFINITY : Number(m.orig.split(" ")[0]);
    const files = held.get(m.target) ?? {};
    files[m.file] = Number.isFinite(orig) ? orig : Number.POSITIVE_INFINITY;
    held.set(m.target, files);
  }
  return held;
}

export function cpuActuator(ctx: ActuatorContext): Actuator {
  const { layout, values, fs } = ctx;
  return {
    name: "cpu",
    contain(step: Step, target: Target): void {
      const { out, t, level } = step;
      const p = target.path;
      if (level >= 2) {
        if (layout.memoryHierarchy === "v2") values.impose(out, t, 2, p, "cpu", CG.cpuWeight, (o) => String(Math.max(1, Math.floor(Number(o) / 4))));
        else values.impose(out, t, 2, p, "cpu", CG.cpuShares, (o) => String(Math.max(2, Math.floor(Number(o) / 4))));
      }
      // A CPU harm's culprit gets half the CPU it used (at least 0.01 CPU: on a node loaded from outside
      // the scope, a runaway that gets 0.07 CPU still takes most of its neighbour's, and a quota above
      // what it gets would give nothing back); a fork storm (pids) 0.1 CPU: its forks are what harms, not its CPU.
      if (level >= 3 && (target.resource === "cpu" || target.resource === "pids")) {
        const quota = target.resource === "cpu" ? Math.max(CPU_PERIOD_US / 100, Math.round((target.ratePerS / 1e6 / 2) * CPU_PERIOD_US)) : CPU_PERIOD_US / 10;
        if (layout.memoryHierarchy === "v2") values.impose(out, t, 3, p, "cpu", CG.cpuMax, (o) => (o.startsWith("max") || Number(o.split(" ")[0]) > quota ? `${quota} ${CPU_PERIOD_US}` : null));
        else {
          const d = values.dirFor(p, "cpu");
          const period = "dir" in d ? Number((fs.read(d.dir, CG.cfsPeriodUs) ?? "100000").trim()) : CPU_PERIOD_US;
          const q = Math.max(1000, Math.round((quota * period) / CPU_PERIOD_US));
          values.impose(out, t, 3, p, "cpu", CG.cfsQuotaUs, (o) => (Number(o) < 0 || Number(o) > q ? String(q) : null));
        }
      }
    },
    restore: (c: OpenChange): Restored | null => restoreOwnFile(fs, FILES, c),
  };
}
