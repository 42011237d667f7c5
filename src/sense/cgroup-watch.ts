// Per-cgroup facts for the danger tracker (src/engine/danger.ts), read at the
// tick, cheaply enough for 10 ms (docs/response.md § Sampling):
//
//   relist     every relistS (0.5 s) the kernel's count of cgroups is read
//              (one small pread); the cgroup directories are walked again
//              (the only readdir, milliseconds) when it changed, and every
//              fullRelistS (5 s) regardless, bounded to maxWatched; each
//              watched cgroup keeps its usage file open and is re-read with
//              pread(2).
//   scan       every scanS the usage of every watched cgroup (one small
//              pread each); a cgroup growing fast since the last scan, or
//              steadily since the last second, becomes a candidate for a
//              few seconds.
//   candidates at every tick (at most maxCandidates, plus every cgroup hosa
//              holds a ceiling on): memory.stat for the non-reclaimable
//              part and the limit, the pressure signals, pids.
//
// Only cgroups under `scope` are watched: hosa may not act elsewhere, and a
// danger it could not contain would only raise the level for nothing.
import type { CgroupFacts, DangerFacts } from "../engine/danger.ts";
import { type CgroupLayout, listCgroups } from "../kernel/cgroups.ts";
import { CGROUP_V1, CGROUP_V2, CGROUP_WATCH, PROC } from "../kernel/files.ts";
import { parseMeminfo, newMemInfo } from "../kernel/proc-parsers.ts";
import { createProcFs, type ProcFs } from "../kernel/procfs.ts";
import { createFileSet, type FileSet } from "../kernel/file-set.ts";

export interface CgroupWatchOptions {
  procRoot?: string;
  /** Only cgroups at or under this path ("" = all). */
  scope?: string;
  relistS?: number;
  /** Seconds between walks of the cgroup directories when the kernel's count of cgroups has not changed. */
  fullRelistS?: number;
  scanS?: number;
  maxWatched?: number;
  maxCandidates?: number;
  /** Growth between two scans that makes a candidate at once, bytes/s. */
  fastBytesPerS?: number;
  /** Growth over the last second that makes a candidate, bytes/s (a slow leak). */
  slowBytesPerS?: number;
  /** Fork rate that makes a candidate, tasks/s. */
  pidsPerS?: number;
  /** How long a cgroup stays a candidate after it last grew, seconds. */
  keepS?: number;
}

/** Ceilings hosa holds, per cgroup: per limit file it wrote, the value that file had before (Infinity for none). */
export type HeldCeilings = ReadonlyMap<string, Readonly<Record<string, number>>>;

interface Watched {
  path: string;
  mem: ProcFs;
  pids: ProcFs | null;
  pidsLimited: boolean;
  lastU: number;
  lastT: number;
  markU: number;
  markT: number;
  lastPids: number;
  rate: number;
  candidateUntilT: number;
  failcnt: number;
  events: number;
}

const MIB = 1024 * 1024;

function num(text: string | undefined): number {
  if (text === undefined) return Number.NaN;
  const t = text.trim();
  if (t === "max") return Number.POSITIVE_INFINITY;
  const v = Number.parseInt(t, 10);
  return Number.isFinite(v) ? v : Number.NaN;
}

/** The value after `key ` at the start of a line of a flat-keyed file (memory.stat, memory.events). */
export function statValue(text: string, key: string): number {
  let i = text.startsWith(`${key} `) ? 0 : text.indexOf(`\n${key} `);
  if (i < 0) return Number.NaN;
  if (i > 0) i++;
  const start = i + key.length + 1;
  let end = text.indexOf("\n", start);
  if (end < 0) end = text.length;
  return Number(text.slice(start, end));
}

/** Non-reclaimable memory and the hierarchical limit from one memory.stat. */
export function parseMemoryStat(text: string, v2: boolean): { anonBytes: number; limitBytes: number } {
  if (v2) return { anonBytes: statValue(text, "anon") + (statValue(text, "shmem") || 0), limitBytes: Number.NaN };
  return {
    anonBytes: statValue(text, "total_rss") + (statValue(text, "total_shmem") || 0),
    limitBytes: statValue(text, "hierarchical_memory_limit"),
  };
}

export class CgroupWatch {
  private readonly watched = new Map<string, Watched>();
  private readonly v2: boolean;
  private readonly memRoot: string;
  private readonly pidsRoot: string;
  private readonly meminfo: ProcFs;
  private readonly memTotal: number;
  private readonly o: Required<CgroupWatchOptions>;
  private listT = Number.NaN;
  private walkT = Number.NaN;
  private walkCount = Number.NaN;
  private readonly rootFs: ProcFs;
  /** Every watched cgroup's usage file, read by the scan in one native call; rebuilt after each walk. */
  private usage: { set: FileSet; order: Watched[] } | null = null;
  private scanT = Number.NaN;
  private readonly mi = newMemInfo();

  constructor(
    private readonly layout: CgroupLayout,
    opts: CgroupWatchOptions = {},
  ) {
    this.o = {
      procRoot: "/proc",
      scope: "",
      relistS: 0.5,
      fullRelistS: 5,
      scanS: 0.1,
      maxWatched: 512,
      maxCandidates: 8,
      fastBytesPerS: 20 * MIB,
      slowBytesPerS: 2 * MIB,
      pidsPerS: 20,
      keepS: 5,
      ...opts,
    };
    this.v2 = layout.version === "v2";
    this.memRoot = layout.attributionRoot;
    this.pidsRoot = this.v2 ? layout.root : layout.v1Controllers.includes("pids") ? `${layout.root}/${CGROUP_V1.pidsDir}` : "";
    this.meminfo = createProcFs(this.o.procRoot);
    this.rootFs = createProcFs(layout.root);
    this.memTotal = parseMeminfo(this.meminfo.read(PROC.meminfo) ?? "", this.mi).memTotalBytes;
  }

  get size(): number {
    return this.watched.size;
  }

  /** Candidates at the last read: while there are, the agent ticks at the vigilance rate. */
  candidates = 0;

  private inScope(path: string): boolean {
    const s = this.o.scope.replace(/\/+$/, "");
    return s === "" || s === "/" || path === s || path.startsWith(`${s}/`);
  }

  /** How many cgroups the watched hierarchy has, dying ones included (v1 memory: /proc/cgroups; v2: cgroup.stat); NaN when unknown. */
  private cgroupCount(): number {
    if (this.v2) {
      const t = this.rootFs.read(CGROUP_V2.stat);
      if (t === undefined) return Number.NaN;
      return statValue(t, "nr_descendants") + (statValue(t, "nr_dying_descendants") || 0);
    }
    const t = this.meminfo.read(PROC.cgroups);
    const m = t === undefined ? null : /^memory\s+\d+\s+(\d+)/m.exec(t);
    return m ? Number(m[1]) : Number.NaN;
  }

  private relist(t: number): void {
    this.listT = t;
    // The walk costs milliseconds: only when a cgroup came or went, or every fullRelistS.
    const count = this.cgroupCount();
    if (!Number.isNaN(count) && count === this.walkCount && t - this.walkT < this.o.fullRelistS && t >= this.walkT) {
      // A pids limit set after the cgroup was first seen (mkdir, then pids.max) counts from the next check.
      for (const w of this.watched.values()) if (w.pids && !w.pidsLimited) w.pidsLimited = Number.isFinite(num(w.pids.read(CGROUP_WATCH.pidsMax)));
      return;
    }
    this.walkT = t;
    this.walkCount = count;
    const seen = new Set<string>();
    for (const path of listCgroups(this.layout, { maxCount: 4096 })) {
      if (!this.inScope(path)) continue;
      if (seen.size >= this.o.maxWatched) break;
      seen.add(path);
      const had = this.watched.get(path);
      if (had) {
        // A pids limit set after the cgroup was first seen (mkdir, then pids.max) counts from the next listing.
        if (had.pids && !had.pidsLimited) had.pidsLimited = Number.isFinite(num(had.pids.read(CGROUP_WATCH.pidsMax)));
        continue;
      }
      const mem = createProcFs(this.memRoot + path);
      let pids: ProcFs | null = this.pidsRoot ? createProcFs(this.pidsRoot + path) : null;
      const pidsMax = pids ? num(pids.read(CGROUP_WATCH.pidsMax)) : Number.NaN;
      // No such cgroup in the pids hierarchy (v1 trees can differ): nothing to watch there.
      if (pids && Number.isNaN(pidsMax)) {
        pids.close();
        pids = null;
      }
      this.watched.set(path, {
        path,
        mem,
        pids,
        pidsLimited: Number.isFinite(pidsMax),
        lastU: Number.NaN,
        lastT: Number.NaN,
        markU: Number.NaN,
        markT: Number.NaN,
        lastPids: Number.NaN,
        rate: 0,
        candidateUntilT: Number.NEGATIVE_INFINITY,
        failcnt: Number.NaN,
        events: Number.NaN,
      });
    }
    for (const [path, w] of this.watched) {
      if (seen.has(path)) continue;
      w.mem.close();
      w.pids?.close();
      this.watched.delete(path);
    }
    this.usage?.set.close();
    const order = [...this.watched.values()];
    const usageFile = this.v2 ? CGROUP_V2.memoryCurrent : CGROUP_V1.memoryUsage;
    this.usage = order.length > 0 ? { set: createFileSet(this.memRoot, order.map((w) => `${w.path.replace(/^\/+/, "")}/${usageFile}`)), order } : null;
  }

  private scan(t: number): void {
    this.scanT = t;
    const o = this.o;
    const usage = this.usage;
    if (usage === null) return;
    usage.set.read();
    const b = usage.set.bytes;
    for (let k = 0; k < usage.order.length; k++) {
      const w = usage.order[k]!;
      const n = usage.set.length(k);
      if (n <= 0) continue;
      // A decimal number of bytes, read in place.
      let u = 0;
      let digits = 0;
      for (let i = usage.set.start(k), e = i + n; i < e; i++) {
        const c = b[i]!;
        if (c < 48 || c > 57) break;
        u = u * 10 + (c - 48);
        digits++;
      }
      if (digits === 0) continue;
      if (!Number.isNaN(w.lastU) && t > w.lastT) {
        w.rate = (u - w.lastU) / (t - w.lastT);
        if (w.rate >= o.fastBytesPerS) w.candidateUntilT = t + o.keepS;
      }
      if (Number.isNaN(w.markU)) {
        w.markU = u;
        w.markT = t;
      } else if (t - w.markT >= 1) {
        if ((u - w.markU) / (t - w.markT) >= o.slowBytesPerS) w.candidateUntilT = t + o.keepS;
        w.markU = u;
        w.markT = t;
      }
      w.lastU = u;
      w.lastT = t;
      if (w.pids && w.pidsLimited) {
        const p = num(w.pids.read(CGROUP_V1.pidsCurrent));
        if (!Number.isNaN(w.lastPids) && (p - w.lastPids) / o.scanS >= o.pidsPerS) w.candidateUntilT = t + o.keepS;
        w.lastPids = p;
      }
    }
  }

  /** The facts of this tick: the candidates' memory, limits, pressure and pids, and the node's MemAvailable. */
  read(t: number, held: HeldCeilings = new Map()): DangerFacts {
    const o = this.o;
    if (Number.isNaN(this.listT) || t - this.listT >= o.relistS || t < this.listT) this.relist(t);
    if (Number.isNaN(this.scanT) || t - this.scanT >= o.scanS || t < this.scanT) this.scan(t);
    const picked: Watched[] = [];
    const rest: Watched[] = [];
    for (const w of this.watched.values()) {
      if (held.has(w.path)) picked.push(w);
      else if (w.candidateUntilT >= t) rest.push(w);
    }
    rest.sort((a, b) => b.rate - a.rate);
    picked.push(...rest.slice(0, Math.max(0, o.maxCandidates - picked.length)));
    const cgroups: CgroupFacts[] = [];
    for (const w of picked) {
      const f = this.facts(w, held.get(w.path));
      if (f) cgroups.push(f);
    }
    this.candidates = cgroups.length;
    let avail = Number.POSITIVE_INFINITY;
    if (cgroups.length > 0) {
      const text = this.meminfo.read(PROC.meminfo);
      if (text) avail = parseMeminfo(text, this.mi).memAvailableBytes;
    }
    return { t, cgroups, nodeAvailableBytes: avail };
  }

  private facts(w: Watched, held: Readonly<Record<string, number>> | undefined): CgroupFacts | null {
    const stat = w.mem.read(CGROUP_WATCH.memoryStat);
    if (stat === undefined) return null;
    const m = parseMemoryStat(stat, this.v2);
    if (Number.isNaN(m.anonBytes)) return null;
    // The limit the cgroup had before hosa: a file hosa wrote counts with the value it replaced.
    const contained = held !== undefined;
    const file = (f: string) => (held && f in held ? held[f] : num(w.mem.read(f)));
    let limit = m.limitBytes;
    if (this.v2) limit = Math.min(file(CGROUP_V2.memoryMax), file(CGROUP_V2.memoryHigh));
    else if (held && CGROUP_V1.memoryLimit in held) limit = held[CGROUP_V1.memoryLimit];
    // A limit at or above the node's memory is no limit (v1 reads 2^63 rounded down to a page).
    if (!(limit > 0) || (this.memTotal > 0 && limit >= this.memTotal)) limit = Number.POSITIVE_INFINITY;
    let pressing = false;
    if (contained) {
      if (this.v2) {
        const ev = w.mem.read(CGROUP_WATCH.memoryEvents) ?? "";
        const n = (statValue(ev, "high") || 0) + (statValue(ev, "max") || 0);
        pressing = !Number.isNaN(w.events) && n > w.events;
        w.events = n;
      } else {
        const fc = num(w.mem.read(CGROUP_WATCH.memoryFailcnt));
        const oom = w.mem.read(CGROUP_WATCH.memoryOomControl) ?? "";
        pressing = (!Number.isNaN(w.failcnt) && fc > w.failcnt) || statValue(oom, "under_oom") === 1;
        w.failcnt = fc;
      }
    } else {
      w.failcnt = Number.NaN;
      w.events = Number.NaN;
    }
    const f: CgroupFacts = { path: w.path, anonBytes: m.anonBytes, limitBytes: limit, pressing, contained };
    if (w.pids && w.pidsLimited) {
      const cur = num(w.pids.read(CGROUP_V1.pidsCurrent));
      const max = num(w.pids.read(CGROUP_WATCH.pidsMax));
      if (!Number.isNaN(cur) && !Number.isNaN(max)) {
        f.pids = cur;
        f.pidsMax = max;
      }
    }
    return f;
  }

  close(): void {
    for (const w of this.watched.values()) {
      w.mem.close();
      w.pids?.close();
    }
    this.watched.clear();
    this.meminfo.close();
    this.rootFs.close();
    this.usage?.set.close();
    this.usage = null;
  }
}
