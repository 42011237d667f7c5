// cgroup control files behind a small interface rooted at a path, so tests
// root it at a fixture directory (test/fixtures/cgroupfs/<scenario>/) and the
// agent at /sys/fs/cgroup. Paths given to read/write are relative to the root:
// "leak" on v2, "memory/leak" on v1 (one hierarchy per controller).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { CgroupLayout } from "./cgroups.ts";
import { CG, ROOTS, V1_DIR, type V1Controller } from "./files.ts";

export interface CgroupFs {
  /** The directory paths are relative to (`/sys/fs/cgroup`, or a fixture). */
  readonly root: string;
  read(cgroup: string, file: string): string | undefined;
  write(cgroup: string, file: string, value: string): void;
}

export function createCgroupFs(root: string = ROOTS.cgroup): CgroupFs {
  const dir = (cgroup: string) => join(root, cgroup.replace(/^\/+/, ""));
  return {
    root,
    read(cgroup, file) {
      try {
        return readFileSync(join(dir(cgroup), file), "utf8");
      } catch {
        return undefined;
      }
    },
    write(cgroup, file, value) {
      // One write(2) per value: the kernel parses each write as a whole.
      writeFileSync(join(dir(cgroup), file), value);
    },
  };
}

/** The directory (relative to the root) of a cgroup path in one controller's hierarchy. */
export function hierarchyDir(layout: CgroupLayout, controller: V1Controller, path: string): string {
  const p = path.replace(/^\/+/, "");
  if (layout.memoryHierarchy === "v2") return p;
  return p ? `${V1_DIR[controller]}/${p}` : V1_DIR[controller];
}

export function readPids(fs: CgroupFs, dir: string): number[] {
  const text = fs.read(dir, CG.procs);
  if (!text) return [];
  return text
    .split("\n")
    .map((l) => Number.parseInt(l, 10))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** A file's value in a form that compares equal to what was written (the kernel reformats some). */
export function normalizeValue(file: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (file === CG.oomControl) {
    const m = /oom_kill_disable\s+(\d)/.exec(t);
    return m ? m[1] : t;
  }
  // A write of FROZEN reads back FREEZING until every task has stopped.
  if (file === CG.freezerState) return t === "FREEZING" ? "FROZEN" : t;
  return t.replace(/\s+/g, " ");
}
