// I/O: at Level 3 an I/O-bound contributor gets half its rate on every device
// it used (io.max, v1 blkio.throttle.*_bps_device). docs/response.md § The ladder.
import type { Actuator, ActuatorContext, Restored, Step } from "../actuator.ts";
import { CG } from "../../kernel/files.ts";
import { restoreOwnFile } from "../cgroup-values.ts";
import type { OpenChange } from "../journal.ts";
import type { Target } from "../targets.ts";

const MIB = 1024 * 1024;
const FILES: readonly string[] = [CG.ioMax, CG.blkioReadBps, CG.blkioWriteBps];

export function ioActuator(ctx: ActuatorContext): Actuator {
  const { layout, values, fs } = ctx;

  /** Devices a contributor has done I/O on, from io.stat (v2) or blkio.throttle.io_service_bytes (v1). */
  function ioDevices(target: string): { dir: string; devs: string[] } | { skip: string } {
    const d = values.dirFor(target, "blkio");
    if ("skip" in d) return d;
    const raw = fs.read(d.dir, layout.memoryHierarchy === "v2" ? CG.ioStat : CG.blkioServiceBytes) ?? "";
    const devs = new Set<string>();
    for (const line of raw.split("\n")) {
      const m = /^(\d+:\d+)\s+(.*)$/.exec(line.trim());
      if (!m) continue;
      // v2 "rbytes=1048576 wbytes=0 ...", v1 "Read 1048576": any non-zero count.
      if (m[2].split(/\s+/).some((tok) => /[1-9]/.test(tok.replace(/^\D+/, "")))) devs.add(m[1]);
    }
    return { dir: d.dir, devs: [...devs] };
  }

  return {
    name: "io",
    contain(step: Step, target: Target): void {
      const { out, t, level } = step;
      if (level < 3 || target.resource !== "io") return;
      const p = target.path;
      const bps = Math.max(MIB, Math.round(target.ratePerS / 2));
      const io = ioDevices(p);
      if ("skip" in io) {
        out.push(ctx.rec(t, 3, "cgroup", p, "io", `skipped: ${io.skip}`));
        return;
      }
      for (const dev of io.devs) {
        if (layout.memoryHierarchy === "v2") values.impose(out, t, 3, p, "blkio", CG.ioMax, () => `${dev} rbps=${bps} wbps=${bps} riops=max wiops=max`, { dev });
        else {
          values.impose(out, t, 3, p, "blkio", CG.blkioReadBps, () => `${dev} ${bps}`, { dev });
          values.impose(out, t, 3, p, "blkio", CG.blkioWriteBps, () => `${dev} ${bps}`, { dev });
        }
      }
    },
    restore: (c: OpenChange): Restored | null => restoreOwnFile(fs, FILES, c),
  };
}
