import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from "node:fs";
import { pidAlive } from "../kernel/proc.ts";

/**
 * An O_EXCL pid file at `path`: `release` when this process took it, or the
 * pid of the live process that holds it (`heldBy`; 0 when the file kept
 * reappearing). A file whose process is gone (a kill -9) is stale and taken over.
 */
export function takePidLock(path: string): { release: () => void } | { heldBy: number } {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return {
        release: () => {
          try {
            if (readFileSync(path, "utf8").trim() === String(process.pid)) unlinkSync(path);
          } catch {}
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const other = Number.parseInt(readFileSync(path, "utf8"), 10);
      if (Number.isInteger(other) && other > 0 && other !== process.pid && pidAlive(other)) return { heldBy: other };
      try {
        unlinkSync(path);
      } catch {}
    }
  }
  return { heldBy: 0 };
}
