// How many cgroups the kernel has in the hierarchy hosa watches (dying ones
// included): v1 the memory line of /proc/cgroups, v2 nr_descendants +
// nr_dying_descendants of the root's cgroup.stat. The danger watch asks at
// every scan (100 ms) and the live source every second whether cgroups came
// or went: one pread into a buffer kept from call to call and a parse of the
// bytes in place, no string and no regular expression per call
// (docs/footprint.md § The tick).
import { CGROUP_V2, PROC } from "../kernel/files.ts";
import { createFileSet, type FileSet, type SampleSpec } from "../kernel/file-set.ts";

export interface CgroupCounter {
  /** The count now; NaN when it cannot be read. */
  count(): number;
  /** While a snapshot of libhosa's sampler is served: whether it holds the count; undefined when none is, or the count is not sampled. */
  inSnapshot(): boolean | undefined;
  /** Sampled with wakeOnChange: wake only when one of these directories' link counts moved from `links` too (FileSet.gate). */
  gate(dirs: readonly string[], links: readonly number[]): void;
  close(): void;
}

const NL = 10;

/** The decimal number at `i` (after spaces or tabs), NaN when there is none. */
function numberAt(b: Uint8Array, i: number, end: number): number {
  while (i < end && (b[i] === 32 || b[i] === 9)) i++;
  let v = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
    digits++;
  }
  return digits > 0 ? v : Number.NaN;
}

/** Where the line starting with `key` begins (at the start or after a newline), -1 when none. */
function lineStart(b: Uint8Array, start: number, end: number, key: Uint8Array): number {
  for (let i = start; i + key.length <= end; ) {
    let k = 0;
    while (k < key.length && b[i + k] === key[k]) k++;
    if (k === key.length) return i;
    while (i < end && b[i] !== NL) i++;
    i++;
  }
  return -1;
}

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const MEMORY = ascii("memory");
const DESC = ascii("nr_descendants ");
const DYING = ascii("nr_dying_descendants ");

/** `procRoot`'s cgroups file (v1) or the cgroup.stat under `cgroupRoot` (v2). */
export function createCgroupCounter(v2: boolean, procRoot: string, cgroupRoot: string, sample?: SampleSpec): CgroupCounter {
  let set: FileSet | null = null;
  try {
    set = v2 ? createFileSet(cgroupRoot, [CGROUP_V2.stat], undefined, [], sample) : createFileSet(procRoot, [PROC.cgroups], undefined, [], sample);
  } catch {
    set = null;
  }
  return {
    count(): number {
      if (set === null) return Number.NaN;
      set.read();
      const n = set.length(0);
      if (n <= 0) return Number.NaN;
      const b = set.bytes;
      const start = set.start(0);
      const end = start + n;
      if (v2) {
        const d = lineStart(b, start, end, DESC);
        if (d < 0) return Number.NaN;
        const dying = lineStart(b, start, end, DYING);
        const y = dying < 0 ? 0 : numberAt(b, dying + DYING.length, end);
        return numberAt(b, d + DESC.length, end) + (Number.isNaN(y) ? 0 : y);
      }
      // "memory\t<hierarchy>\t<num_cgroups>\t<enabled>"
      for (let from = start; ; ) {
        let i = lineStart(b, from, end, MEMORY);
        if (i < 0) return Number.NaN;
        i += MEMORY.length;
        if (b[i] === 32 || b[i] === 9) {
          // Past the hierarchy's number to the count.
          while (i < end && (b[i] === 32 || b[i] === 9)) i++;
          while (i < end && b[i]! >= 48 && b[i]! <= 57) i++;
          return numberAt(b, i, end);
        }
        from = i; // "memory_…": not this line
      }
    },
    inSnapshot: () => set?.inSnapshot(),
    gate(dirs, links): void {
      set?.gate(dirs, links);
    },
    close(): void {
      set?.close();
      set = null;
    },
  };
}
