// CPU: at Level 2 the contributor's share drops to a quarter (cpu.weight,
// v1 cpu.shares); at Level 3 a CPU-bound contributor gets a quota of half
// what it used (cpu.max, v1 cpu.cfs_quota_us). docs/response.md § The ladder.
import type { Actuator, ActuatorContext, Restored, Step } from "../actuator.ts";
import { CG } from "../../kernel/files.ts";
import { restoreOwnFile } from "../cgroup-values.ts";
import type { OpenChange } from "../journal.ts";
import type { Target } from "../targets.ts";

const CPU_PERIOD_US = 100000;
const FILES: readonly string[] = [CG.cpuWeight, CG.cpuShares, CG.cpuMax, CG.cfsQuotaUs];

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
      if (level >= 3 && target.resource === "cpu") {
        const cpus = target.ratePerS / 1e6;
        const quota = Math.max(CPU_PERIOD_US / 10, Math.round((cpus / 2) * CPU_PERIOD_US));
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
