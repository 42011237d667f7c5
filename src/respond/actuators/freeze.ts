// Freeze: at Level 4 the contributor's processes stop being scheduled
// (cgroup.freeze, v1 freezer.state), unless the danger gate vetoes it (a
// memory ceiling still holds, an interactive session). Lifted at once on the
// way down: the levels below still hold. docs/response.md § The ladder.
import type { Actuator, ActuatorContext, Restored, Step } from "../actuator.ts";
import { CG } from "../../kernel/files.ts";
import { restoreOwnFile } from "../cgroup-values.ts";
import type { OpenChange } from "../journal.ts";
import type { Target } from "../targets.ts";

const FILES: readonly string[] = [CG.freeze, CG.freezerState];

export function freezeActuator(ctx: ActuatorContext): Actuator {
  const { layout, values, fs } = ctx;
  return {
    name: "freeze",
    contain(step: Step, target: Target): void {
      const { out, t, level } = step;
      if (level < 4) return;
      const p = target.path;
      const why = step.freezeVeto?.(target);
      if (why) out.push(ctx.rec(t, 4, "cgroup", p, "freeze", `skipped: ${why}`));
      else if (layout.memoryHierarchy === "v2") values.impose(out, t, 4, p, "freezer", CG.freeze, (o) => (o === "1" ? null : "1"), { atOnce: true });
      else values.impose(out, t, 4, p, "freezer", CG.freezerState, (o) => (o === "FROZEN" ? null : "FROZEN"), { atOnce: true });
    },
    restore: (c: OpenChange): Restored | null => restoreOwnFile(fs, FILES, c),
  };
}
