// Parsers for the /proc files the live sample reads. Each takes the file's
// text and fills a caller-owned object, so a tick at 10 ms allocates little
// beyond the text itself. Formats are the kernel's (Documentation/filesystems/
// proc.rst, Documentation/accounting/psi.rst, Documentation/admin-guide/
// iostats.rst); a missing field leaves NaN so the caller can tell "absent"
// from zero.

let cursor = 0;

/** Scan the next unsigned integer at or after `i` on the same line; NaN at end of line. Sets `cursor` past it. */
function scanUint(text: string, i: number): number {
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 10) break;
    if (c >= 48 && c <= 57) break;
    i++;
  }
  if (i >= n || text.charCodeAt(i) === 10) {
    cursor = i;
    return NaN;
  }
  let v = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
    i++;
  }
  cursor = i;
  return v;
}

/** Skip `count` whitespace-separated tokens starting at `i`; returns the index after them. */
function skipTokens(text: string, i: number, count: number): number {
  const n = text.length;
  for (let k = 0; k < count; k++) {
    while (i < n && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9)) i++;
    while (i < n && text.charCodeAt(i) !== 32 && text.charCodeAt(i) !== 9 && text.charCodeAt(i) !== 10) i++;
  }
  return i;
}

/** Value of the first line starting with `key` (which includes its separator), or NaN. */
function valueAfterKey(text: string, key: string): number {
  let i = 0;
  if (!text.startsWith(key)) {
    i = text.indexOf(`\n${key}`);
    if (i < 0) return NaN;
    i += 1;
  }
  return scanUint(text, i + key.length);
}

export interface StatCounters {
  /** Sum of user..steal over all CPUs, in USER_HZ ticks (guest time is already inside user/nice). */
  cpuTotalTicks: number;
  /** idle + iowait over all CPUs, in USER_HZ ticks. */
  cpuIdleTicks: number;
  /** Context switches since boot. */
  ctxt: number;
  /** Forks since boot (`processes`). */
  processes: number;
  procsRunning: number;
  procsBlocked: number;
  /** Number of `cpuN` lines: online CPUs. */
  cpuCount: number;
}

export function newStatCounters(): StatCounters {
  return { cpuTotalTicks: NaN, cpuIdleTicks: NaN, ctxt: NaN, processes: NaN, procsRunning: NaN, procsBlocked: NaN, cpuCount: 0 };
}

/** /proc/stat: the aggregate `cpu` line, `ctxt`, `processes`, `procs_running`, `procs_blocked`. */
export function parseStat(text: string, out: StatCounters): StatCounters {
  out.cpuTotalTicks = NaN;
  out.cpuIdleTicks = NaN;
  if (text.startsWith("cpu ")) {
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    let total = 0;
    let idle = 0;
    let i = 4;
    for (let f = 0; f < 8; f++) {
      const v = scanUint(text, i);
      i = cursor;
      if (Number.isNaN(v)) break;
      total += v;
      if (f === 3 || f === 4) idle += v;
    }
    out.cpuTotalTicks = total;
    out.cpuIdleTicks = idle;
  }
  // The per-CPU lines follow the aggregate one, consecutively.
  let cpus = 0;
  for (let p = text.indexOf("\ncpu"); p >= 0; p = text.indexOf("\ncpu", p + 4)) {
    const c = text.charCodeAt(p + 4);
    if (c < 48 || c > 57) break;
    cpus++;
  }
  out.cpuCount = cpus;
  out.ctxt = valueAfterKey(text, "ctxt ");
  out.processes = valueAfterKey(text, "processes ");
  out.procsRunning = valueAfterKey(text, "procs_running ");
  out.procsBlocked = valueAfterKey(text, "procs_blocked ");
  return out;
}

export interface MemInfo {
  memTotalBytes: number;
  memAvailableBytes: number;
}

export function newMemInfo(): MemInfo {
  return { memTotalBytes: NaN, memAvailableBytes: NaN };
}

/** /proc/meminfo: MemTotal and MemAvailable in bytes (kB in the file). Before 3.14 there is no MemAvailable: free + buffers + cached. */
export function parseMeminfo(text: string, out: MemInfo): MemInfo {
  out.memTotalBytes = valueAfterKey(text, "MemTotal:") * 1024;
  let avail = valueAfterKey(text, "MemAvailable:");
  if (Number.isNaN(avail)) avail = valueAfterKey(text, "MemFree:") + valueAfterKey(text, "Buffers:") + valueAfterKey(text, "Cached:");
  out.memAvailableBytes = avail * 1024;
  return out;
}

export interface Pressure {
  /** Cumulative microseconds some task was stalled. */
  someTotalUs: number;
  /** Cumulative microseconds all non-idle tasks were stalled (NaN where the kernel has no `full` line). */
  fullTotalUs: number;
}

export function newPressure(): Pressure {
  return { someTotalUs: NaN, fullTotalUs: NaN };
}

/** /proc/pressure/{cpu,memory,io}: the `total=` counters of the `some` and `full` lines. */
export function parsePressure(text: string, out: Pressure): Pressure {
  out.someTotalUs = NaN;
  out.fullTotalUs = NaN;
  let i = 0;
  while (i < text.length) {
    const end = text.indexOf("\n", i);
    const lineEnd = end < 0 ? text.length : end;
    const t = text.indexOf("total=", i);
    if (t >= 0 && t < lineEnd) {
      const v = scanUint(text, t + 6);
      if (text.startsWith("some", i)) out.someTotalUs = v;
      else if (text.startsWith("full", i)) out.fullTotalUs = v;
    }
    i = lineEnd + 1;
  }
  return out;
}

export interface VmStat {
  pgfault: number;
  pgmajfault: number;
}

export function newVmStat(): VmStat {
  return { pgfault: NaN, pgmajfault: NaN };
}

/** /proc/vmstat: page faults (minor + major) and major faults since boot. */
export function parseVmstat(text: string, out: VmStat): VmStat {
  out.pgfault = valueAfterKey(text, "pgfault ");
  out.pgmajfault = valueAfterKey(text, "pgmajfault ");
  return out;
}

export interface DiskStats {
  /** Completed I/Os (reads + writes + discards + flushes). */
  ios: number;
  /** 512-byte sectors read + written + discarded. */
  sectors: number;
  /** Milliseconds the completed I/Os spent, queue and service together (iostat's await numerator). */
  ioTimeMs: number;
  /** Weighted milliseconds spent doing I/O (field 11, "time in queue"). */
  weightedMs: number;
  /** Devices summed. */
  devices: number;
}

export function newDiskStats(): DiskStats {
  return { ios: 0, sectors: 0, ioTimeMs: 0, weightedMs: 0, devices: 0 };
}

// Stacked and virtual devices count the same I/O again as their backing disk
// (dm, md) or are not disks at all (loop, ram, zram).
const NOT_A_DISK = /^(loop|ram|zram|dm-|md|nbd|sr|fd)/;

/** A partition's name is its disk's name plus a number (`sda1`, `nvme0n1p2`, `mmcblk0p1`). */
function isPartitionOf(name: string, disk: string): boolean {
  if (name.length <= disk.length || !name.startsWith(disk)) return false;
  let i = disk.length;
  if (name.charCodeAt(i) === 112 /* p */) i++;
  if (i >= name.length) return false;
  for (; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

const diskNames: string[] = [];

/**
 * /proc/diskstats, summed over whole disks (partitions and stacked devices
 * would count the same I/O twice). Fields after the name: reads, reads merged,
 * sectors read, ms reading, writes, writes merged, sectors written, ms writing,
 * in flight, ms doing I/O, weighted ms, then (4.18+) discards ×4 and (5.5+) flushes ×2.
 */
export function parseDiskstats(text: string, out: DiskStats): DiskStats {
  out.ios = 0;
  out.sectors = 0;
  out.ioTimeMs = 0;
  out.weightedMs = 0;
  out.devices = 0;
  diskNames.length = 0;
  let i = 0;
  // First pass: names, to recognise partitions whatever their order.
  while (i < text.length) {
    const end = text.indexOf("\n", i);
    const lineEnd = end < 0 ? text.length : end;
    const nameStart = skipTokens(text, i, 2);
    let s = nameStart;
    while (s < lineEnd && text.charCodeAt(s) === 32) s++;
    let e = s;
    while (e < lineEnd && text.charCodeAt(e) !== 32) e++;
    if (e > s) diskNames.push(text.slice(s, e));
    i = lineEnd + 1;
  }
  i = 0;
  let line = 0;
  while (i < text.length) {
    const end = text.indexOf("\n", i);
    const lineEnd = end < 0 ? text.length : end;
    const name = diskNames[line++];
    if (name !== undefined && !NOT_A_DISK.test(name) && !diskNames.some((d) => d !== name && isPartitionOf(name, d))) {
      let p = skipTokens(text, i, 3);
      const f: number[] = fieldScratch;
      let count = 0;
      for (; count < 17; count++) {
        const v = scanUint(text, p);
        p = cursor;
        if (Number.isNaN(v)) break;
        f[count] = v;
      }
      if (count >= 11) {
        out.devices++;
        out.ios += f[0] + f[4];
        out.sectors += f[2] + f[6];
        out.ioTimeMs += f[3] + f[7];
        out.weightedMs += f[10];
        if (count >= 15) {
          out.ios += f[11];
          out.sectors += f[13];
          out.ioTimeMs += f[14];
        }
        if (count >= 17) {
          out.ios += f[15];
          out.ioTimeMs += f[16];
        }
      }
    }
    i = lineEnd + 1;
  }
  return out;
}
const fieldScratch: number[] = new Array(17).fill(0);

export interface NetDev {
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
  interfaces: number;
}

export function newNetDev(): NetDev {
  return { rxBytes: 0, rxPackets: 0, txBytes: 0, txPackets: 0, interfaces: 0 };
}

/** /proc/net/dev summed over interfaces; `lo` only when asked (loopback traffic never leaves the node). */
export function parseNetDev(text: string, out: NetDev, includeLoopback = false): NetDev {
  out.rxBytes = 0;
  out.rxPackets = 0;
  out.txBytes = 0;
  out.txPackets = 0;
  out.interfaces = 0;
  let i = 0;
  while (i < text.length) {
    const end = text.indexOf("\n", i);
    const lineEnd = end < 0 ? text.length : end;
    // The two header lines have no colon; interface lines are "  name: counters".
    const colon = text.indexOf(":", i);
    if (colon > 0 && colon < lineEnd) {
      let s = i;
      while (s < colon && text.charCodeAt(s) === 32) s++;
      const isLo = colon - s === 2 && text.startsWith("lo", s);
      if (includeLoopback || !isLo) {
        // rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets ...
        let p = colon + 1;
        const rxBytes = scanUint(text, p);
        p = cursor;
        const rxPackets = scanUint(text, p);
        p = skipTokens(text, cursor, 6);
        const txBytes = scanUint(text, p);
        p = cursor;
        const txPackets = scanUint(text, p);
        if (!Number.isNaN(txPackets)) {
          out.rxBytes += rxBytes;
          out.rxPackets += rxPackets;
          out.txBytes += txBytes;
          out.txPackets += txPackets;
          out.interfaces++;
        }
      }
    }
    i = lineEnd + 1;
  }
  return out;
}

export interface TcpSnmp {
  activeOpens: number;
  passiveOpens: number;
  currEstab: number;
  retransSegs: number;
}

export function newTcpSnmp(): TcpSnmp {
  return { activeOpens: NaN, passiveOpens: NaN, currEstab: NaN, retransSegs: NaN };
}

const TCP_FIELDS: Record<string, keyof TcpSnmp> = {
  ActiveOpens: "activeOpens",
  PassiveOpens: "passiveOpens",
  CurrEstab: "currEstab",
  RetransSegs: "retransSegs",
};

/** /proc/net/snmp: the `Tcp:` header line names the columns of the `Tcp:` values line that follows it. */
export function parseSnmp(text: string, out: TcpSnmp): TcpSnmp {
  out.activeOpens = NaN;
  out.passiveOpens = NaN;
  out.currEstab = NaN;
  out.retransSegs = NaN;
  const h = text.startsWith("Tcp:") ? 0 : text.indexOf("\nTcp:") + 1;
  if (h <= 0 && !text.startsWith("Tcp:")) return out;
  const hEnd = text.indexOf("\n", h);
  if (hEnd < 0) return out;
  const vEnd0 = text.indexOf("\n", hEnd + 1);
  const vEnd = vEnd0 < 0 ? text.length : vEnd0;
  const names = text.slice(h + 4, hEnd).trim().split(/\s+/);
  const values = text.slice(hEnd + 5, vEnd).trim().split(/\s+/);
  for (let k = 0; k < names.length && k < values.length; k++) {
    const key = TCP_FIELDS[names[k]];
    if (key) out[key] = Number(values[k]);
  }
  return out;
}
