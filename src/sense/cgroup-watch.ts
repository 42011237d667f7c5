// Per-cgroup facts for the danger tracker (src/engine/danger.ts), read at the
// tick, cheaply enough for 10 ms (docs/response.md § Sampling):
//
//   relist     the cgroup directories under the scope are walked (the only
//              readdir), bounded to maxWatched; each watched cgroup keeps its
//              usage file open and is re-read with pread(2). A walk is due
//              every relistS (2 s), and at once when a directory's link count
//              changed (looked at only when the kernel's count of cgroups,
//              one small pread of /proc/cgroups or cgroup.stat, moved): cgroupfs (kernfs) keeps st_nlink = 2 + subdirectories,
//              so one stat(2) per watched directory at each scan sees a
//              cgroup created or removed within scanS, without a readdir.
//              A cgroup's first usage is read when it is listed, so the next
//              scan already has its growth; one that appears while the agent
//              runs is a candidate for its first youngS (1 s), until a scan
//              sees it not growing. Walks take at most walkShare of the time:
//              on a large hierarchy where cgroups keep appearing, one walk per
//              new cgroup was a walk of every directory each time.
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
import { statSync } from "node:fs";
import type { CpuFacts } from "../engine/cpu-harm.ts";
import type { CgroupFacts, DangerFacts } from "../engine/danger.ts";
import { type CgroupLayout, controllerRoot, dirLinkCount, listCgroups, parseBlkioServiceBytes, parseIoStatBytes } from "../kernel/cgroups.ts";
import { CGROUP_V1, CGROUP_V2, CGROUP_WATCH, PROC, ROOTS } from "../kernel/files.ts";
import { parseMeminfo, parseMeminfoBytes, newMemInfo } from "../kernel/proc-parsers.ts";
import { createProcFs, procBytes, type ProcFs } from "../kernel/procfs.ts";
import { createFileSet, NUMBER_FILE_CAP, type FileSet } from "../kernel/file-set.ts";
import { type CgroupCounter, createCgroupCounter } from "./cgroup-count.ts";

export interface CgroupWatchOptions {
  procRoot?: string;
  /** Only cgroups at or under this path ("" = all). */
  scope?: string;
  /** Seconds between walks of the cgroup directories when no directory changed. */
  relistS?: number;
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
  /**
   * A cgroup that appears while the agent runs is a candidate for this long,
   * seconds: a container that leaks from its first second is sampled at the
   * tick from its first second, not from its second scan.
   */
  youngS?: number;
  /**
   * At most this share of the time in walks (their own duration measured):
   * after a walk that took d seconds, the next comes no sooner than
   * d·(1/walkShare − 1) later (d its CPU time; at most 1 s), whatever changed meanwhile. A walk of a few
   * cgroups takes under a millisecond (no delay worth the name); of 500, where
   * cgroups appear a few a second, tens of milliseconds each, and one per
   * new cgroup cost a tenth of a core (bench/cgroup-appear.ts). 1: no bound.
   */
  walkShare?: number;
  /**
   * Cgroups the operator named latency-sensitive (respond.latency_sensitive:
   * each one and what is under it). When there are, every scope's cgroup's
   * CPU use, and their CPU stall, is read every cpuScanS for the CPU harm
   * rule (src/engine/cpu-harm.ts); when there are none, nothing is read.
   */
  sensitive?: string[];
  cpuScanS?: number;
  /**
   * How many of the busiest other cgroups (by CPU use since the last read,
   * at least 0.01 CPU) also get their threads' schedstat read: how many
   * threads they keep runnable, their demand for CPU (the CPU harm's
   * attribution).
   */
  demandCgroups?: number;
  /**
   * Every cgroup's memory usage in one pass (the live source's
   * cgroupMemoryUsage: the eBPF probes' cgroup iterator): ids (the inodes of
   * the cgroups' directories) and bytes, returning how many cgroups there are
   * or -1. When given and it knows every watched cgroup, the scan reads it
   * instead of one usage file per cgroup: the same number from the same
   * kernel counter, in one system call instead of one per cgroup
   * (docs/footprint.md). Absent (no probes, another kernel): the files.
   */
  memoryUsage?: (ids: Float64Array, bytes: Float64Array) => number;
  /**
   * What the scan's input costs, µs (cold, measured at the 100 ms tick): one
   * usage file; a pass of memoryUsage, fixed and per cgroup it walks. The
   * pass is used only when it costs less than the files (default 4.5, 80,
   * 1.3: a watch of a few cgroups in a large hierarchy reads their files).
   */
  scanCostUs?: { file: number; passFixed: number; passPerCgroup: number };
  /**
   * The node's MemAvailable as the live source read it at this tick's time
   * (its memAvailableAt), NaN when it did not: the facts then take it rather
   * than reading /proc/meminfo a second time in the same tick.
   */
  nodeAvailable?: (t: number) => number;
  /**
   * Whether libhosa's sampler should take memoryUsage's pass in its
   * snapshots, with a tripwire at `bytesPerS` (the live source's
   * sampleCgroupMemoryUsage), at most every `everyS` (the scan's interval):
   * told when the scan starts or stops reading it, and, with `ids` (the
   * watched cgroups' ids: the tripwire fires for those only), after every
   * walk that changed them.
   */
  sampleMemoryUsage?: (on: boolean, bytesPerS: number, everyS: number, ids?: readonly number[]) => void;
}

/** Ceilings hosa holds, per cgroup: per limit file it wrote, the value that file had before (Infinity for none). */
export type HeldCeilings = ReadonlyMap<string, Readonly<Record<string, number>>>;

interface Watched {
  path: string;
  /** The inode of its directory in the memory hierarchy (the cgroup id); NaN when unknown. */
  id: number;
  mem: ProcFs;
  pids: ProcFs | null;
  pidsLimited: boolean;
  lastU: number;
  lastT: number;
  markU: number;
  markT: number;
  lastPids: number;
  /** Forks refused at its pids limit (pids.events "max") at the last scan and at the last tick's facts. */
  scanRefused: number;
  factRefused: number;
  rate: number;
  candidateUntilT: number;
  /** New while the agent runs: a candidate until then, unless a scan saw it not growing (docs/footprint.md § Cgroups appearing). */
  youngUntilT: number;
  failcnt: number;
  events: number;
  /** Its usage file could not be read at the last scan (the cgroup was removed: kernfs answers ENODEV on a kept descriptor), or the iterator's pass no longer visited it. */
  gone: boolean;
  /** The number of the last iterator pass that visited it. */
  seenPass: number;
  /** Its index in the pids set when that was built (pidsSlot checks it still is). */
  pidsIndex: number;
}

const MIB = 1024 * 1024;
/** The longest a walk waits for walkShare (seconds): a cgroup made in a hierarchy of thousands is seen within it. */
const MAX_WALK_WAIT_S = 1;
/** A walk at least this often (seconds), whatever the counts say. */
const FULL_RELIST_S = 30;
/** How long after a watched cgroup vanished the link counts are looked at every scan, whatever the kernel's count says (seconds). */
const VANISHED_CHECK_S = 5;
/**
 * A cgroup moves for this long after the scan saw it grow (seconds): longer
 * than the second between two looks at slow growth, so one growing 2 MiB/s
 * steadily never stops moving between them.
 */
const MOVING_S = 1.5;

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

/** A decimal number (or "max": Infinity) at b[i..e), leading blanks skipped; NaN when there is none. As num() without a string. */
export function numberAt(b: Uint8Array, i: number, e: number): number {
  while (i < e && (b[i] === 32 || b[i] === 10 || b[i] === 9)) i++;
  if (e - i >= 3 && b[i] === 109 && b[i + 1] === 97 && b[i + 2] === 120) {
    let j = i + 3;
    while (j < e && (b[j] === 32 || b[j] === 10 || b[j] === 9)) j++;
    return j === e ? Number.POSITIVE_INFINITY : Number.NaN;
  }
  const neg = i < e && b[i] === 45;
  if (neg) i++;
  // Accumulated in a double (a Float64Array cell): in an int, a number past
  // 2^31 (any cgroup above 2 GiB) overflows, and the optimised code bails out
  // at each such read (docs/footprint.md).
  acc[0] = 0;
  let digits = 0;
  for (; i < e; i++) {
    const c = b[i]!;
    if (c < 48 || c > 57) break;
    acc[0] = acc[0]! * 10 + (c - 48);
    digits++;
  }
  return digits === 0 ? Number.NaN : neg ? -acc[0]! : acc[0]!;
}
const acc = new Float64Array(1);

/** statValue() over bytes: the number after `key ` at the start of a line of b[0..n); NaN when absent. */
export function statValueAt(b: Uint8Array, n: number, key: Uint8Array): number {
  const k = key.length;
  for (let i = 0; i < n; ) {
    let match = i + k < n && b[i + k] === 32;
    for (let j = 0; match && j < k; j++) if (b[i + j] !== key[j]) match = false;
    if (match) return numberAt(b, i + k + 1, n);
    while (i < n && b[i] !== 10) i++;
    i++;
  }
  return Number.NaN;
}

const KEY = {
  totalRss: Buffer.from("total_rss"),
  totalShmem: Buffer.from("total_shmem"),
  limit: Buffer.from("hierarchical_memory_limit"),
  anon: Buffer.from("anon"),
  shmem: Buffer.from("shmem"),
  max: Buffer.from("max"),
  high: Buffer.from("high"),
  underOom: Buffer.from("under_oom"),
};

/** The inode of a directory (a cgroup's id); NaN when it cannot be read. */
function dirInode(dir: string): number {
  try {
    return statSync(dir, { throwIfNoEntry: false })?.ino ?? Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** A file of one number read in place (no string); NaN when it cannot be read. */
function numOf(fs: ProcFs, file: string): number {
  const n = fs.readBytes(file);
  return n < 0 ? Number.NaN : numberAt(procBytes(), 0, n);
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
  private readonly o: Required<Omit<CgroupWatchOptions, "memoryUsage" | "nodeAvailable" | "sampleMemoryUsage">> & Pick<CgroupWatchOptions, "memoryUsage" | "nodeAvailable" | "sampleMemoryUsage">;
  /**
   * pids.current and pids.events of every watched cgroup with a pids limit,
   * read by the scan in one native call, sampled with a tripwire at pidsPerS
   * (src/sense/sampler.ts): a batch of snapshots then has each scan's count
   * at its own time, not the count when the batch is processed.
   */
  private pidsSet: { set: FileSet; order: Watched[]; scan: number } | null = null;
  private scanNo = 0;
  /** What sampleMemoryUsage was last told. */
  private iterSampled = false;
  private listT = Number.NaN;
  /** No walk before then (walkShare), but the first, or after the clock went back. */
  private walkAllowedT = Number.NEGATIVE_INFINITY;
  /** The last walk, or the last periodic check that found nothing to walk for. */
  private checkT = Number.NaN;
  private walkCount = Number.NaN;
  /** The kernel's count of cgroups, read in place (src/sense/cgroup-count.ts). */
  private readonly counter: CgroupCounter;
  /** Every watched cgroup's usage file, read by the scan in one native call; rebuilt after each walk (opened only when the scan reads files). */
  private usage: { set: FileSet | null; order: Watched[] } | null = null;
  /** The scan reads options.memoryUsage (every watched cgroup's id was in its last pass). */
  private byIter = false;
  /** Watched cgroups by id, for the iterator's pass. */
  private readonly byId = new Map<number, Watched>();
  private iterIds = new Float64Array(256);
  /** The ids the thread's tripwire on the pass was last told (sorted). */
  private iterTripIds: number[] = [];
  private iterBytes = new Float64Array(256);
  private iterPassNo = 0;
  private scanT = Number.NaN;
  /** Link count of every listed directory (and the walk's root) at the last walk. */
  private readonly links = new Map<string, number>();
  /** Watched cgroups with a watched cgroup under them (set at each walk). */
  private readonly parents = new Set<string>();
  /** Walks done (the tests count them). */
  relists = 0;
  /** Until then the link counts are looked at every scan, the kernel's count notwithstanding (a watched cgroup vanished). */
  private linkCheckUntilT = Number.NEGATIVE_INFINITY;
  /** A watched cgroup's usage read failed at this scan: walk now. */
  private vanished = false;
  private cpuT = Number.NaN;
  /** One reader for the CPU files of every watched cgroup (its open files pruned to the watched ones). */
  private readonly cpuFs = createProcFs("/");
  private readonly cpuacctRoot: string;
  private readonly cpuCtlRoot: string;
  private readonly blkioRoot: string;
  private readonly psiRoot: string;
  private readonly mi = newMemInfo();
  /** Per sensitive cgroup (and busiest other cgroups): each thread's schedstat at the last read, and the run and wait summed over them (µs). */
  private readonly sched = new Map<string, { tids: Map<number, { run: number; wait: number }>; runUs: number; waitUs: number }>();
  /** Each watched cgroup's CPU use at the last harm read (µs), to find the busiest ones. */
  private readonly cpuLast = new Map<string, { t: number; usage: number; rate: number }>();
  private readonly procRel: string;

  constructor(
    private readonly layout: CgroupLayout,
    opts: CgroupWatchOptions = {},
  ) {
    this.o = {
      procRoot: ROOTS.proc,
      scope: "",
      relistS: 2,
      scanS: 0.1,
      maxWatched: 512,
      maxCandidates: 8,
      fastBytesPerS: 20 * MIB,
      slowBytesPerS: 2 * MIB,
      pidsPerS: 20,
      keepS: 5,
      youngS: 1,
      walkShare: 0.02,
      sensitive: [],
      cpuScanS: 0.5,
      demandCgroups: 4,
      scanCostUs: { file: 4.5, passFixed: 80, passPerCgroup: 1.3 },
      ...opts,
    };
    this.v2 = layout.version === "v2";
    this.memRoot = layout.attributionRoot;
    this.pidsRoot = controllerRoot(layout, "pids");
    this.meminfo = createProcFs(this.o.procRoot);
    const rel = (d: string) => d.replace(/^\/+/, "");
    this.cpuacctRoot = rel(controllerRoot(layout, "cpuacct"));
    this.cpuCtlRoot = rel(controllerRoot(layout, "cpu"));
    this.blkioRoot = rel(controllerRoot(layout, "blkio"));
    this.psiRoot = rel(layout.unifiedRoot);
    // In libhosa's sampler's snapshots, waking JavaScript when it changes: a cgroup made while the agent
    // batches at calm is listed (and watched) at the next scan, as inline, not at the end of the batch.
    // Read at most every scanS, the scan's own interval (the thread takes it in the same snapshots as
    // the usage set or pass): at every 10 ms snapshot it was 90 reads a second the scan never used.
    this.counter = createCgroupCounter(this.v2, this.o.procRoot, layout.root, { wakeOnChange: true, minIntervalS: this.o.scanS });
    this.procRel = rel(this.o.procRoot);
    this.memTotal = parseMeminfo(this.meminfo.read(PROC.meminfo) ?? "", this.mi).memTotalBytes;
  }

  get size(): number {
    return this.watched.size;
  }

  /** Seconds between scans, and the growth that makes a candidate at once (bytes a second): what libhosa's sampler is told. */
  get scanS(): number {
    return this.o.scanS;
  }
  get fastBytesPerS(): number {
    return this.o.fastBytesPerS;
  }

  /** What the last scans read: the iterator's pass (options.memoryUsage) or one usage file per cgroup. */
  get scanSource(): "iterator" | "files" {
    return this.byIter ? "iterator" : "files";
  }

  /** Candidates at the last read (growing lately, new, or held by hosa): while there are, the agent ticks at the vigilance rate unless an episode holds still (src/episode-pace.ts). */
  candidates = 0;
  /**
   * Watched cgroups that moved within the last MOVING_S at the last read,
   * among those hosa holds nothing on and that are no parent of others: the
   * scan saw their memory or tasks grow, or forks refused (what makes a
   * candidate for keepS). A cgroup pinned at hosa's ceiling, pressing
   * against it or rising with it, does not move; a new one moves once it grows.
   */
  moving = 0;

  private inScope(path: string): boolean {
    const s = this.o.scope.replace(/\/+$/, "");
    return s === "" || s === "/" || path === s || path.startsWith(`${s}/`);
  }

  private linkCount(path: string): number {
    return dirLinkCount(this.memRoot + path);
  }

  /**
   * A directory gained or lost a subdirectory since the last walk. The link
   * counts are looked at only when the kernel's count of cgroups moved, or
   * for VANISHED_CHECK_S after a watched cgroup vanished: the count is a net
   * figure (made minus freed, all over the hierarchy), and a cgroup made
   * within the same scan as another one is freed (the one just removed,
   * after its RCU grace period) leaves it where it was.
   */
  private treeChanged(t: number): boolean {
    const count = this.cgroupCount();
    if (!Number.isNaN(count) && count === this.walkCount && t >= this.linkCheckUntilT) return false;
    this.walkCount = count;
    for (const [path, n] of this.links) if (this.linkCount(path) !== n) return true;
    return false;
  }

  private get walkRoot(): string {
    const s = this.o.scope.replace(/\/+$/, "");
    return s === "" ? "" : s.startsWith("/") ? s : `/${s}`;
  }

  /** How many cgroups the watched hierarchy has, dying ones included (v1 memory: /proc/cgroups; v2: cgroup.stat); NaN when unknown. */
  private cgroupCount(): number {
    return this.counter.count();
  }

  /**
   * The periodic walk (every relistS) is a safety net for what the scans'
   * checks cannot see: a cgroup made while another was freed anywhere in
   * the hierarchy (the kernel's count, the scans' gate, did not move). Every watched directory's link count is
   * looked at, whatever the count says; when each is what the walk saw, the
   * walk would list the same cgroups: it is skipped (a walk reads every
   * directory of the tree, milliseconds of the kernel's time), and only its
   * re-read of pids limits set late is done. A full walk still comes every
   * FULL_RELIST_S.
   */
  private periodicWalkNeeded(t: number): boolean {
    // A listing cut at maxWatched is no reason to walk every relistS: a cgroup made or removed among those
    // listed changes a listed directory's link count, and one made past the cut would not be watched anyway.
    if (t - this.listT >= FULL_RELIST_S) return true;
    const count = this.cgroupCount();
    if (Number.isNaN(count)) return true;
    for (const [path, n] of this.links) if (this.linkCount(path) !== n) return true;
    this.walkCount = count;
    this.checkT = t;
    // A pids limit set after the cgroup was first seen (mkdir, then pids.max) counts from the next check, as from the next walk.
    for (const w of this.watched.values()) if (w.pids && !w.pidsLimited) w.pidsLimited = Number.isFinite(numOf(w.pids, CGROUP_WATCH.pidsMax));
    return false;
  }

  /** A walk, timed: the next one waits walkShare's due (walkAllowedT). */
  private relist(t: number): void {
    const first = Number.isNaN(this.listT);
    // The walk's CPU time (the process's, this thread's nearly all of it over a walk), not its wall time: on a
    // loaded machine a walk of a few cgroups can take tens of milliseconds of wall time, and a leak in a
    // cgroup made then must still be seen at the next scan.
    const cpu0 = process.cpuUsage();
    this.walk(t, first);
    const cpu = process.cpuUsage(cpu0);
    const tookS = (cpu.user + cpu.system) / 1e6;
    // Not after the first (start-up: the library loads, every file is opened); never more than
    // MAX_WALK_WAIT_S (a hierarchy of thousands: a new cgroup is seen within it).
    if (!first && this.o.walkShare < 1) this.walkAllowedT = t + Math.min(MAX_WALK_WAIT_S, tookS * (1 / this.o.walkShare - 1));
  }

  /** first: the agent's first walk (what it lists then is no new cgroup). */
  private walk(t: number, first: boolean): void {
    this.listT = t;
    this.checkT = t;
    this.relists++;
    this.walkCount = this.cgroupCount();
    const seen = new Set<string>();
    const root = this.walkRoot;
    this.links.clear();
    // The walk's root: under a scope that does not exist yet, its parent tells when it appears.
    this.links.set(root, this.linkCount(root));
    if (root !== "" && this.links.get(root) === -1) this.links.set(root.slice(0, root.lastIndexOf("/")), this.linkCount(root.slice(0, root.lastIndexOf("/"))));
    const usageFile = this.v2 ? CGROUP_V2.memoryCurrent : CGROUP_V1.memoryUsage;
    for (const path of listCgroups(this.layout, { maxCount: 4096, under: root })) {
      if (!this.inScope(path)) continue;
      if (seen.size >= this.o.maxWatched) break;
      seen.add(path);
      this.links.set(path, this.linkCount(path));
      const had = this.watched.get(path);
      if (had) {
        // A pids limit set after the cgroup was first seen (mkdir, then pids.max) counts from the next listing.
        if (had.pids && !had.pidsLimited) had.pidsLimited = Number.isFinite(numOf(had.pids, CGROUP_WATCH.pidsMax));
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
      const u0 = num(mem.read(usageFile));
      const tu = Number.isNaN(u0) ? Number.NaN : t;
      this.watched.set(path, {
        path,
        id: this.o.memoryUsage ? dirInode(this.memRoot + path) : Number.NaN,
        mem,
        pids,
        pidsLimited: Number.isFinite(pidsMax),
        lastU: u0,
        lastT: tu,
        markU: u0,
        markT: tu,
        lastPids: Number.NaN,
        scanRefused: Number.NaN,
        factRefused: Number.NaN,
        rate: 0,
        candidateUntilT: Number.NEGATIVE_INFINITY,
        youngUntilT: first ? Number.NEGATIVE_INFINITY : t + this.o.youngS,
        failcnt: Number.NaN,
        events: Number.NaN,
        gone: false,
        seenPass: 0,
        pidsIndex: -1,
      });
    }
    // libhosa's sampler wakes the agent on a change of the kernel's count of cgroups only when one of these
    // directories gained or lost a subdirectory too: a cgroup made or removed elsewhere on the node (another
    // hierarchy's, another scope's: on a busy node most of them) is no wake, as it is no walk (treeChanged).
    this.counter.gate([...this.links.keys()].map((p) => this.memRoot + p), [...this.links.values()]);
    this.parents.clear();
    for (const path of seen) {
      const up = path.slice(0, path.lastIndexOf("/"));
      if (seen.has(up)) this.parents.add(up);
    }
    for (const [path, w] of this.watched) {
      if (seen.has(path)) continue;
      w.mem.close();
      w.pids?.close();
      this.watched.delete(path);
    }
    const order = [...this.watched.values()];
    this.byIter = this.iterKnows(order);
    // The thread's tripwire on the pass fires for the watched cgroups only: the pass holds every cgroup of
    // the hierarchy, and one growing outside the scope made a wake at every snapshot for a scan that finds
    // no candidate there (an agent scoped to one service, on a node where something else grows).
    const ids = this.byIter ? order.map((w) => w.id).sort((a, b) => a - b) : [];
    const idsMoved = ids.length !== this.iterTripIds.length || ids.some((id, i) => id !== this.iterTripIds[i]);
    if ((this.byIter !== this.iterSampled || (this.byIter && idsMoved)) && this.o.sampleMemoryUsage) {
      this.iterSampled = this.byIter;
      this.iterTripIds = ids;
      this.o.sampleMemoryUsage(this.byIter, this.o.fastBytesPerS, this.o.scanS, this.byIter ? ids : undefined);
    }
    // The same cgroups as at the last walk: their usage files stay open.
    if (this.usage !== null && this.usage.order.length === order.length && order.every((w, i) => this.usage!.order[i] === w)) {
      if (!this.byIter && this.usage.set === null) this.usage.set = this.usageSet(order);
      return;
    }
    this.usage?.set?.close();
    this.usage = order.length > 0 ? { set: this.byIter ? null : this.usageSet(order), order } : null;
  }

  private usageSet(order: Watched[]): FileSet {
    const usageFile = this.v2 ? CGROUP_V2.memoryCurrent : CGROUP_V1.memoryUsage;
    // Sampled with a tripwire: a cgroup growing this fast wakes the agent at once, not at the end of a batch.
    return createFileSet(this.memRoot, order.map((w) => `${w.path.replace(/^\/+/, "")}/${usageFile}`), NUMBER_FILE_CAP, [], { minIntervalS: this.o.scanS, ratePerS: this.o.fastBytesPerS });
  }

  /** One pass of options.memoryUsage; its count, the arrays grown to hold it; -1 when it cannot be read. */
  private iterPass(): number {
    const read = this.o.memoryUsage!;
    let n = read(this.iterIds, this.iterBytes);
    if (n > this.iterIds.length) {
      const size = Math.max(n + 64, this.iterIds.length * 2);
      this.iterIds = new Float64Array(size);
      this.iterBytes = new Float64Array(size);
      n = read(this.iterIds, this.iterBytes);
    }
    return n > this.iterIds.length ? -1 : n;
  }

  /** Whether the iterator's pass holds every watched cgroup (not so under a fixture root, or for a cgroup gone since the walk): else the scan reads files. */
  private iterKnows(order: Watched[]): boolean {
    this.byId.clear();
    if (this.o.memoryUsage === undefined || order.length === 0) return false;
    for (const w of order) {
      if (Number.isNaN(w.id)) return false;
      this.byId.set(w.id, w);
    }
    let n: number;
    try {
      n = this.iterPass();
    } catch {
      return false;
    }
    let found = 0;
    for (let i = 0; i < n; i++) if (this.byId.has(this.iterIds[i]!)) found++;
    // Only when cheaper: a pass costs about 80 µs more than a read set, plus
    // 1.3 µs per cgroup of the hierarchy, against 4.5 µs per usage file (cold,
    // at the 100 ms tick, bench/RESULTS-footprint.md fifth pass): a watch of a
    // few cgroups in a large hierarchy (an agent scoped to one service) reads
    // their files.
    const c = this.o.scanCostUs;
    return found === order.length && c.file * order.length >= c.passFixed + c.passPerCgroup * n;
  }

  private scan(t: number): void {
    this.scanT = t;
    this.scanNo++;
    const usage = this.usage;
    if (usage === null) return;
    this.readPids();
    if (this.byIter) {
      let n = -1;
      try {
        n = this.iterPass();
      } catch {
        // The probes closed: the files from now on.
      }
      if (n >= 0) {
        const ids = this.iterIds;
        const bytes = this.iterBytes;
        const pass = ++this.iterPassNo;
        for (let i = 0; i < n; i++) {
          const w = this.byId.get(ids[i]!);
          if (w === undefined) continue;
          w.seenPass = pass;
          this.scanOne(w, bytes[i]!, t);
        }
        // A watched cgroup the iterator no longer visits was removed since the walk.
        for (const w of usage.order) if (w.seenPass !== pass) this.noteGone(w);
        return;
      }
      this.byIter = false;
    }
    usage.set ??= this.usageSet(usage.order);
    const set = usage.set;
    set.read();
    const b = set.bytes;
    for (let k = 0; k < usage.order.length; k++) {
      const n = set.length(k);
      // Removed since the walk: walk again at once, whatever the kernel's count of cgroups says.
      if (n < 0) this.noteGone(usage.order[k]!);
      if (n <= 0) continue;
      // A decimal number of bytes, read in place.
      const u = numberAt(b, set.start(k), set.start(k) + n);
      if (!Number.isNaN(u)) this.scanOne(usage.order[k]!, u, t);
    }
  }

  /** The pids set of the watched cgroups with a pids limit, rebuilt when they changed, read once per scan. */
  private readPids(): void {
    const order: Watched[] = [];
    for (const w of this.watched.values()) if (w.pids && w.pidsLimited) order.push(w);
    const had = this.pidsSet;
    if (had === null || had.order.length !== order.length || !order.every((w, i) => had.order[i] === w)) {
      had?.set.close();
      this.pidsSet = null;
      if (order.length === 0) return;
      const files: string[] = [];
      for (const w of order) {
        const dir = w.path.replace(/^\/+/, "");
        files.push(`${dir}/${CGROUP_V1.pidsCurrent}`, `${dir}/${CGROUP_WATCH.pidsEvents}`);
      }
      // At most every scanS, as the scan reads it: libhosa takes it in the same snapshots as the usage set or pass, whenever it was made.
      const set = createFileSet(this.pidsRoot, files, NUMBER_FILE_CAP * 4, [], { ratePerS: this.o.pidsPerS, minIntervalS: this.o.scanS });
      // A fixture's pids files are read as before, one at a time.
      if (!set.sampled) {
        set.close();
        return;
      }
      order.forEach((w, i) => (w.pidsIndex = i));
      this.pidsSet = { set, order, scan: 0 };
    }
    const ps = this.pidsSet!;
    ps.set.read();
    ps.scan = this.scanNo;
  }

  /** Where w's pids files are in the pids set read at this scan; -1: read them from its own files. */
  private pidsSlot(w: Watched): number {
    const ps = this.pidsSet;
    if (ps === null || ps.scan !== this.scanNo) return -1;
    // Its index from the build, without a search per cgroup per scan; a cgroup not in the set (its limit seen later) reads its own files.
    return ps.order[w.pidsIndex] === w ? w.pidsIndex : -1;
  }

  /** A watched cgroup whose usage could not be had at a scan: removed since the walk, so walk again at once. */
  private noteGone(w: Watched): void {
    if (w.gone) return;
    w.gone = true;
    this.vanished = true;
  }

  /** One watched cgroup's usage `u` (bytes) at the scan at `t`. */
  private scanOne(w: Watched, u: number, t: number): void {
    const o = this.o;
    w.gone = false;
    if (!Number.isNaN(w.lastU) && t > w.lastT) {
      w.rate = (u - w.lastU) / (t - w.lastT);
      // That rate over the time since the last scan, or that rate's worth of one scan interval: a scan
      // stretched at calm (libhosa's sampler, docs/footprint.md § The sampler) spans several, and a growth
      // that started within the last of them is not diluted over the others (libhosa's tripwire: rose()).
      if (w.rate >= o.fastBytesPerS || u - w.lastU >= o.fastBytesPerS * o.scanS) w.candidateUntilT = t + o.keepS;
      // Young and not growing: sampled at the scans like any other from now
      // on. Cgroups that keep appearing (a few a second) kept the agent
      // vigilant, at the 10 ms tick, all along; one that starts to grow later
      // is a candidate at the scan that sees it (fast or slow rule).
      if (w.youngUntilT >= t && w.rate < o.slowBytesPerS) w.youngUntilT = Number.NEGATIVE_INFINITY;
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
    // A pids limit set after the cgroup was listed (mkdir, then pids.max): looked for while it is a candidate.
    if (w.pids && !w.pidsLimited && (w.candidateUntilT >= t || w.youngUntilT >= t)) w.pidsLimited = Number.isFinite(numOf(w.pids, CGROUP_WATCH.pidsMax));
    if (w.pids && w.pidsLimited) {
      const inSet = this.pidsSlot(w);
      const ps = this.pidsSet?.set;
      const p = inSet >= 0 ? numberAt(ps!.bytes, ps!.start(2 * inSet), ps!.start(2 * inSet) + Math.max(0, ps!.length(2 * inSet))) : numOf(w.pids, CGROUP_V1.pidsCurrent);
      if (!Number.isNaN(w.lastPids) && (p - w.lastPids) / o.scanS >= o.pidsPerS) w.candidateUntilT = t + o.keepS;
      w.lastPids = p;
      // Forks refused at the limit: a storm that got there between two scans is a candidate all the same.
      let refused: number;
      if (inSet >= 0) {
        const n = ps!.length(2 * inSet + 1);
        refused = n < 0 ? Number.NaN : statValueAt(ps!.bytes.subarray(ps!.start(2 * inSet + 1)), n, KEY.max);
      } else {
        const ev = w.pids.readBytes(CGROUP_WATCH.pidsEvents);
        refused = ev < 0 ? Number.NaN : statValueAt(procBytes(), ev, KEY.max);
      }
      if (refused > w.scanRefused) w.candidateUntilT = t + o.keepS;
      if (!Number.isNaN(refused)) w.scanRefused = refused;
    }
  }

  /** The facts of this tick: the candidates' memory, limits, pressure and pids, and the node's MemAvailable. */
  read(t: number, held: HeldCeilings = new Map()): DangerFacts {
    const o = this.o;
    // A snapshot of libhosa's sampler holds the usage set (or the iterator's pass, in step with the count of
    // cgroups) when the thread found the scan due (it reads them at most every scanS): scan then, from the
    // snapshot, so both clocks of "due" stay in step.
    const inSnapshot = this.byIter ? this.counter.inSnapshot() : this.usage?.set?.inSnapshot();
    // A snapshot that holds them is a scan: the thread keeps the schedule's times (every scanS of them),
    // and the times the snapshots were taken at can fall a little short of scanS apart (not half of it:
    // the first snapshot after the agent was vigilant may come a tick after its last inline scan).
    const sinceScan = Number.isNaN(this.scanT) || t < this.scanT ? Number.POSITIVE_INFINITY : t - this.scanT;
    const scanDue = inSnapshot === undefined ? sinceScan >= o.scanS : inSnapshot && sinceScan >= o.scanS / 2;
    // While a walk is not yet allowed, its checks are not made either: each stats every watched directory.
    const walkAllowed = t >= this.walkAllowedT;
    if (Number.isNaN(this.listT) || t < this.listT || (walkAllowed && ((scanDue && this.treeChanged(t)) || (t - this.checkT >= o.relistS && this.periodicWalkNeeded(t))))) this.relist(t);
    if (scanDue) this.scan(t);
    if (this.vanished && t >= this.walkAllowedT) {
      this.vanished = false;
      this.linkCheckUntilT = t + VANISHED_CHECK_S;
      this.relist(t);
    }
    const picked: Watched[] = [];
    const rest: Watched[] = [];
    let moving = 0;
    const movedSince = t + o.keepS - MOVING_S;
    for (const w of this.watched.values()) {
      const h = held.get(w.path);
      // A held cgroup's growth (what hosa's ceiling lets through: the v1 ceiling rises 2 MiB/s, a step a
      // second), its refused forks, and a parent's growth (its children's) are the hold itself: whether
      // it fails, the danger tracker judges at every tick (containmentFailing).
      if (w.candidateUntilT >= movedSince && h === undefined && !this.parents.has(w.path)) moving++;
      // Held by hosa (a memory ceiling, or a CPU quota that holds a fork storm): read at every tick.
      if (h && (CGROUP_V1.memoryLimit in h || CGROUP_V2.memoryHigh in h || CGROUP_V2.memoryMax in h || (w.pidsLimited && (CGROUP_WATCH.cfsQuotaUs in h || CGROUP_WATCH.cpuMax in h)))) picked.push(w);
      else if (w.candidateUntilT >= t || w.youngUntilT >= t) rest.push(w);
    }
    rest.sort((a, b) => b.rate - a.rate);
    picked.push(...rest.slice(0, Math.max(0, o.maxCandidates - picked.length)));
    const cgroups: CgroupFacts[] = [];
    for (const w of picked) {
      const f = this.facts(w, held.get(w.path));
      if (f) cgroups.push(f);
    }
    this.candidates = cgroups.length;
    this.moving = moving;
    let avail = Number.POSITIVE_INFINITY;
    if (cgroups.length > 0) {
      const shared = o.nodeAvailable?.(t) ?? Number.NaN;
      if (!Number.isNaN(shared)) avail = shared;
      else {
        const n = this.meminfo.readBytes(PROC.meminfo);
        if (n > 0) avail = parseMeminfoBytes(procBytes(), 0, n, this.mi).memAvailableBytes;
      }
    }
    const out: DangerFacts = { t, cgroups, nodeAvailableBytes: avail };
    if (o.sensitive.length > 0 && this.cpuacctRoot && (Number.isNaN(this.cpuT) || t - this.cpuT >= o.cpuScanS || t < this.cpuT)) {
      this.cpuT = t;
      const h = this.harmFacts(t, held);
      out.cpu = h.cpu;
      out.io = h.io;
    }
    return out;
  }

  private isSensitive(path: string): boolean {
    return this.o.sensitive.some((s) => {
      const p = s.replace(/\/+$/, "");
      return path === p || path.startsWith(`${p}/`);
    });
  }

  /**
   * CPU use and I/O bytes of every watched cgroup, the CPU and I/O stall of
   * the sensitive ones, throttling where hosa holds a CPU quota.
   */
  private harmFacts(t: number, held: HeldCeilings): { cpu: CpuFacts[]; io: CpuFacts[] } {
    const cpu: CpuFacts[] = [];
    const io: CpuFacts[] = [];
    const used = new Set<string>();
    const read = (file: string) => {
      used.add(file);
      return this.cpuFs.read(file);
    };
    const stall = (path: string, file: string) => {
      const psi = read(`${this.psiRoot}${path}/${file}`);
      const m = psi === undefined ? null : /^some .*total=(\d+)/m.exec(psi);
      return m ? Number(m[1]) : Number.NaN;
    };
    for (const w of this.watched.values()) {
      const sensitive = this.isSensitive(w.path);
      let usageUs: number;
      if (this.v2) usageUs = statValue(read(`${this.cpuacctRoot}${w.path}/${CGROUP_V2.cpuStat}`) ?? "", "usage_usec");
      else usageUs = num(read(`${this.cpuacctRoot}${w.path}/${CGROUP_V1.cpuacctUsage}`)) / 1000;
      if (!Number.isNaN(usageUs)) {
        let throttledUs = Number.NaN;
        const h = held.get(w.path);
        if (h && (CGROUP_WATCH.cfsQuotaUs in h || CGROUP_WATCH.cpuMax in h) && this.cpuCtlRoot) {
          const st = read(`${this.cpuCtlRoot}${w.path}/${CGROUP_V2.cpuStat}`) ?? "";
          throttledUs = this.v2 ? statValue(st, "throttled_usec") : statValue(st, "throttled_time") / 1000;
        }
        const f: CpuFacts = { path: w.path, usage: usageUs, stallUs: sensitive && this.psiRoot ? stall(w.path, CGROUP_WATCH.cpuPressure) : Number.NaN, throttledUs, sensitive };
        if (sensitive) {
          const q = this.schedOf(w.path, read);
          if (q) {
            f.waitUs = q.waitUs;
            f.runUs = q.runUs;
          }
        }
        const was = this.cpuLast.get(w.path);
        this.cpuLast.set(w.path, { t, usage: usageUs, rate: was && t > was.t ? (usageUs - was.usage) / (t - was.t) : 0 });
        cpu.push(f);
      }
      if (this.blkioRoot) {
        const text = read(`${this.blkioRoot}${w.path}/${this.v2 ? CGROUP_V2.ioStat : CGROUP_V1.blkioServiceBytesRecursive}`);
        if (text !== undefined) {
          const bytes = this.v2 ? parseIoStatBytes(text) : parseBlkioServiceBytes(text);
          io.push({ path: w.path, usage: bytes, stallUs: sensitive && this.psiRoot ? stall(w.path, CGROUP_WATCH.ioPressure) : Number.NaN, throttledUs: Number.NaN, sensitive });
        }
      }
    }
    // The busiest others (not a sensitive cgroup, nor one that holds one): how many threads they keep runnable.
    const busy = cpu
      .filter((f) => !f.sensitive && !this.o.sensitive.some((v) => v.replace(/\/+$/, "").startsWith(`${f.path}/`)) && (this.cpuLast.get(f.path)?.rate ?? 0) >= 0.01e6)
      .sort((a, b) => this.cpuLast.get(b.path)!.rate - this.cpuLast.get(a.path)!.rate)
      .slice(0, this.o.demandCgroups);
    for (const f of busy) {
      const q = this.schedOf(f.path, read);
      if (q) {
        f.waitUs = q.waitUs;
        f.runUs = q.runUs;
      }
    }
    this.cpuFs.prune((f) => used.has(f));
    // A cgroup not read this time starts its sums again when it is (the tracker sees them fall and restarts its window).
    for (const k of this.sched.keys()) if (!this.watched.has(k) || !(this.isSensitive(k) || busy.some((f) => f.path === k))) this.sched.delete(k);
    for (const k of this.cpuLast.keys()) if (!this.watched.has(k)) this.cpuLast.delete(k);
    return { cpu, io };
  }

  /**
   * How long a sensitive cgroup's threads waited on a run queue and ran
   * (/proc/<tid>/schedstat fields 2 and 1, ns), summed as they come and go:
   * only what each thread did between two reads counts, so the sums only
   * grow. At most 256 threads; null when the cgroup lists none.
   */
  private schedOf(path: string, read: (file: string) => string | undefined): { runUs: number; waitUs: number } | null {
    // Opened for each read: a v1 `tasks` re-read on a kept descriptor within a second serves the list of its first read, forever.
    const list = this.cpuFs.readOnce(`${this.cpuacctRoot}${path}/${this.v2 ? CGROUP_WATCH.threads : CGROUP_WATCH.tasks}`);
    if (list === undefined) return null;
    let q = this.sched.get(path);
    if (!q) {
      q = { tids: new Map(), runUs: 0, waitUs: 0 };
      this.sched.set(path, q);
    }
    const now = new Map<number, { run: number; wait: number }>();
    let n = 0;
    for (let i = 0; i < list.length && n < 256; ) {
      let e = list.indexOf("\n", i);
      if (e < 0) e = list.length;
      const tid = Number.parseInt(list.slice(i, e), 10);
      i = e + 1;
      if (!(tid > 0)) continue;
      n++;
      const text = read(`${this.procRel}/${tid}/${CGROUP_WATCH.schedstat}`);
      if (text === undefined) continue;
      const sp1 = text.indexOf(" ");
      const sp2 = text.indexOf(" ", sp1 + 1);
      const run = Number(text.slice(0, sp1)) / 1000;
      const wait = Number(text.slice(sp1 + 1, sp2 < 0 ? undefined : sp2)) / 1000;
      if (!Number.isFinite(run) || !Number.isFinite(wait)) continue;
      const was = q.tids.get(tid);
      if (was) {
        q.runUs += Math.max(0, run - was.run);
        q.waitUs += Math.max(0, wait - was.wait);
      }
      now.set(tid, { run, wait });
    }
    q.tids = now;
    return q;
  }

  private facts(w: Watched, held: Readonly<Record<string, number>> | undefined): CgroupFacts | null {
    // memory.stat parsed in place (parseMemoryStat without the string): read at every tick for every candidate.
    const n = w.mem.readBytes(CGROUP_WATCH.memoryStat);
    if (n < 0) return null;
    const b = procBytes();
    const anonBytes = this.v2 ? statValueAt(b, n, KEY.anon) + (statValueAt(b, n, KEY.shmem) || 0) : statValueAt(b, n, KEY.totalRss) + (statValueAt(b, n, KEY.totalShmem) || 0);
    if (Number.isNaN(anonBytes)) return null;
    const m = { anonBytes, limitBytes: this.v2 ? Number.NaN : statValueAt(b, n, KEY.limit) };
    // The limit the cgroup had before hosa: a file hosa wrote counts with the value it replaced.
    const contained = held !== undefined && (CGROUP_V1.memoryLimit in held || CGROUP_V2.memoryHigh in held || CGROUP_V2.memoryMax in held);
    const file = (f: string) => (held && f in held ? held[f]! : numOf(w.mem, f));
    let limit = m.limitBytes;
    if (this.v2) limit = Math.min(file(CGROUP_V2.memoryMax), file(CGROUP_V2.memoryHigh));
    else if (held && CGROUP_V1.memoryLimit in held) limit = held[CGROUP_V1.memoryLimit];
    // A limit at or above the node's memory is no limit (v1 reads 2^63 rounded down to a page).
    if (!(limit > 0) || (this.memTotal > 0 && limit >= this.memTotal)) limit = Number.POSITIVE_INFINITY;
    let pressing = false;
    if (contained) {
      // Read in place, as memory.stat (at every vigilance tick while hosa contains the cgroup).
      if (this.v2) {
        const ev = w.mem.readBytes(CGROUP_WATCH.memoryEvents);
        const eb = procBytes();
        const n = ev < 0 ? 0 : (statValueAt(eb, ev, KEY.high) || 0) + (statValueAt(eb, ev, KEY.max) || 0);
        pressing = !Number.isNaN(w.events) && n > w.events;
        w.events = n;
      } else {
        const fc = numOf(w.mem, CGROUP_WATCH.memoryFailcnt);
        const oom = w.mem.readBytes(CGROUP_WATCH.memoryOomControl);
        pressing = (!Number.isNaN(w.failcnt) && fc > w.failcnt) || (oom >= 0 && statValueAt(procBytes(), oom, KEY.underOom) === 1);
        w.failcnt = fc;
      }
    } else {
      w.failcnt = Number.NaN;
      w.events = Number.NaN;
    }
    const f: CgroupFacts = { path: w.path, anonBytes: m.anonBytes, limitBytes: limit, pressing, contained };
    if (this.parents.has(w.path)) f.parent = true;
    if (w.pids && w.pidsLimited) {
      const cur = numOf(w.pids, CGROUP_V1.pidsCurrent);
      const max = numOf(w.pids, CGROUP_WATCH.pidsMax);
      if (!Number.isNaN(cur) && !Number.isNaN(max)) {
        f.pids = cur;
        f.pidsMax = max;
        const ev = w.pids.readBytes(CGROUP_WATCH.pidsEvents);
        const refused = ev < 0 ? Number.NaN : statValueAt(procBytes(), ev, KEY.max);
        f.pidsPressing = refused > w.factRefused;
        if (!Number.isNaN(refused)) w.factRefused = refused;
        if (held && (CGROUP_WATCH.cfsQuotaUs in held || CGROUP_WATCH.cpuMax in held)) f.pidsContained = true;
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
    this.cpuFs.close();
    this.counter.close();
    this.usage?.set?.close();
    this.usage = null;
    this.pidsSet?.set.close();
    this.pidsSet = null;
    if (this.iterSampled) this.o.sampleMemoryUsage?.(false, 0, 0);
    this.iterSampled = false;
    this.byId.clear();
  }
}
