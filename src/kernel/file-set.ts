// The kernel files one tick needs, read together: kept open and re-read at
// offset 0 with pread(2) by one libhosa call into one buffer allocated once,
// so a tick at 10 ms makes one call into native code instead of one per file
// and allocates nothing (the parsers read the bytes in place). A root that is
// not a kernel pseudo-filesystem (a test fixture of regular files), or a
// host where libhosa cannot load, is read through ProcFs instead.
import { statSync } from "node:fs";
import * as ffi from "../ffi/libhosa.ts";
import { createProcFs, type ProcFs } from "./procfs.ts";

export interface FileSet {
  /** Re-read every file. */
  read(): void;
  /** The buffer holding every file's bytes after read(). */
  readonly bytes: Buffer;
  /** Where file `slot` (its index in the list given) starts in `bytes`. */
  start(slot: number): number;
  /** How many bytes it holds; -1 when the last read failed. */
  length(slot: number): number;
  /** Whether libhosa's sampler takes it in its snapshots (src/sense/sampler.ts); false for a set read from JavaScript. */
  readonly sampled: boolean;
  /** While a snapshot is served: whether it holds this set; undefined when none is (src/sense/sampler.ts). */
  inSnapshot(): boolean | undefined;
  /**
   * A set sampled with `wakeOnChange`: wake only when, besides its bytes, the link count of one of these
   * directories moved from `links` (src/sense/cgroup-watch.ts: the cgroups it watches, so a cgroup made
   * elsewhere on the node does not wake the agent). Nothing for a set that is not sampled.
   */
  gate(dirs: readonly string[], links: readonly number[]): void;
  /**
   * A sampled set holding /proc/meminfo at `slot`: libhosa's sampler then takes what it samples at most
   * every `minIntervalS` (the danger watch's scan) at most every `stretchS`, sooner when MemAvailable fell
   * by `fallBytesPerS` per second of `minIntervalS` since (ffi.samplerStretch); `stretchS` 0: off.
   * False when not sampled, or libhosa refused.
   */
  stretchScan(slot: number, minIntervalS: number, stretchS: number, fallBytesPerS: number): boolean;
  close(): void;
}

/**
 * How libhosa's sampling thread should take a set in its snapshots
 * (src/sense/sampler.ts): at most every `minIntervalS`, and with a tripwire
 * when a file's leading number rises faster than `ratePerS` (or, with
 * `wakeOnChange`, when its bytes change at all). A set created
 * with it is registered whether or not the thread runs (a registration costs
 * nothing until it does).
 */
export interface SampleSpec {
  minIntervalS?: number;
  ratePerS?: number;
  /** Wake JavaScript at once when the set's bytes changed since its last read (a count of cgroups: the tree changed). */
  wakeOnChange?: boolean;
}

/** Room per file at first; a file that fills its slot gets twice the room (once). */
const INITIAL_CAP = 16 * 1024;
/** Room for a file holding one number (a cgroup's memory usage: at most 20 digits). */
export const NUMBER_FILE_CAP = 64;

function viaProcFs(proc: ProcFs, files: readonly string[]): FileSet {
  let bytes = Buffer.alloc(0);
  const starts = new Int32Array(files.length);
  const lens = new Int32Array(files.length);
  return {
    get bytes() {
      return bytes;
    },
    read() {
      const texts = files.map((f) => proc.read(f));
      const total = texts.reduce((a, t) => a + (t?.length ?? 0), 0);
      if (bytes.length < total) bytes = Buffer.alloc(total);
      let at = 0;
      texts.forEach((t, i) => {
        starts[i] = at;
        lens[i] = t === undefined ? -1 : t.length;
        if (t === undefined) return;
        bytes.set(Buffer.from(t, "latin1"), at);
        at += t.length;
      });
    },
    start: (i) => starts[i]!,
    length: (i) => lens[i]!,
    sampled: false,
    inSnapshot: () => undefined,
    gate: () => {},
    stretchScan: () => false,
    close: () => proc.close(),
  };
}

function viaReadset(root: string, files: readonly string[], capBytes: number, prefix: readonly (number | undefined)[], sample: SampleSpec | undefined): FileSet {
  const set = ffi.readsetOpen();
  try {
    for (const f of files) ffi.readsetAdd(set, root + f);
  } catch (e) {
    ffi.readsetClose(set);
    throw e;
  }
  const n = files.length;
  const caps = new Uint32Array(n).fill(capBytes);
  // A file read only up to its prefix: that room, never grown (seq_file stops generating where the reader's room ends).
  const fixed = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const p = prefix[i];
    if (p !== undefined && p > 0) {
      caps[i] = p;
      fixed[i] = 1;
    }
  }
  const offsets = new Uint32Array(n);
  const lens = new Int32Array(n);
  let bytes = Buffer.alloc(0);
  let sampled = false;
  let gated: { dirs: readonly string[]; links: readonly number[] } | null = null;
  const layout = () => {
    let at = 0;
    for (let i = 0; i < n; i++) {
      offsets[i] = at;
      at += caps[i]!;
    }
    bytes = Buffer.alloc(at);
    if (sample === undefined) return;
    // Again after the rooms grew: the thread reads with the rooms the reader has.
    try {
      ffi.samplerAddReadset(set, caps, (sample.minIntervalS ?? 0) * 1e6, sample.wakeOnChange ? -1 : (sample.ratePerS ?? 0));
      sampled = true;
      // A new registration has no gate: the last one given, again.
      if (gated !== null) {
        try {
          ffi.samplerGate(set, gated.dirs, gated.links);
        } catch {
          // As above: any change wakes.
        }
      }
    } catch {
      // Registrations are few (48): past them, this set is read live, as without a sampler.
      sampled = false;
    }
  };
  layout();
  let closed = false;
  /** The scan's stretch reads MemAvailable from this set: ended when it closes. */
  let stretching = false;
  return {
    get sampled() {
      return sampled;
    },
    inSnapshot: () => (sampled && !closed ? ffi.samplerHolds(set) : undefined),
    gate(dirs, links) {
      if (!sampled || closed || !sample?.wakeOnChange) return;
      gated = { dirs: [...dirs], links: [...links] };
      try {
        ffi.samplerGate(set, gated.dirs, gated.links);
      } catch {
        // Only wakes are at stake: without its gate the set wakes at any change, as before.
      }
    },
    stretchScan(slot, minIntervalS, stretchS, fallBytesPerS) {
      if (!sampled || closed) return false;
      try {
        ffi.samplerStretch(minIntervalS * 1e6, stretchS * 1e6, set, slot, fallBytesPerS);
        stretching = stretchS > 0;
        return true;
      } catch {
        return false;
      }
    },
    get bytes() {
      return bytes;
    },
    read() {
      for (;;) {
        ffi.readsetRead(set, bytes, offsets, caps, lens);
        // A file that filled its slot may be longer: give it twice the room (rare, then never again).
        let grown = false;
        for (let i = 0; i < n; i++) {
          if (lens[i] === caps[i] && fixed[i] === 0) {
            caps[i] = caps[i]! * 2;
            grown = true;
          }
        }
        if (!grown) return;
        layout();
      }
    },
    start: (i) => offsets[i]!,
    length: (i) => (lens[i]! < 0 ? -1 : lens[i]!),
    close() {
      if (stretching) {
        stretching = false;
        try {
          ffi.samplerStretch(0, 0, -1, 0, 0);
        } catch {
          // Off already.
        }
      }
      if (!closed) ffi.readsetClose(set);
      closed = true;
    },
  };
}

/**
 * The files (relative to `root`) as one set. Files that cannot be read at all
 * should be left out by the caller. `capBytes`: the room each file gets at
 * first (a cgroup's usage file is one number: 64 bytes, not 16 KB each).
 * `prefix[i]`, when given: file i is read only up to that many bytes, its
 * beginning (a kernel file whose lines the caller needs come first: the
 * kernel stops generating the text there); a set read from JavaScript
 * (fixtures) reads it whole. `sample`: libhosa's sampler takes it in its
 * snapshots (SampleSpec).
 */
export function createFileSet(root: string, files: readonly string[], capBytes = INITIAL_CAP, prefix: readonly (number | undefined)[] = [], sample?: SampleSpec): FileSet {
  const base = root.endsWith("/") ? root : `${root}/`;
  // Kernel pseudo-files say size 0; a fixture's regular files do not.
  let pseudo = files.length > 0;
  for (const f of files) {
    try {
      if (statSync(base + f).size !== 0) pseudo = false;
    } catch {
      pseudo = false;
    }
  }
  if (pseudo) {
    try {
      return viaReadset(base, files, Math.max(8, Math.ceil(capBytes)), prefix, sample);
    } catch {
      // No libhosa here (another architecture, a noexec temp dir): the same reads from JavaScript.
    }
  }
  return viaProcFs(createProcFs(root), files);
}
