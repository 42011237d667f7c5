// Parsers for the /proc files the live sample reads. Each reads the file's
// bytes (a slice of the buffer the tick's files are read into, see
// src/kernel/file-set.ts) and fills a caller-owned object: a tick at 10 ms
// allocates nothing. The string forms (parseStat(text, out)...) are for
// tests and one-off reads. Formats are the kernel's (Documentation/filesystems/
// proc.rst, Documentation/accounting/psi.rst, Documentation/admin-guide/
// iostats.rst); a missing field leaves NaN so the caller can tell "absent"
// from zero.

let cursor = 0;

const NL = 10;
const SP = 32;
const TAB = 9;

/** Latin-1 bytes of a key, made once. */
function key(s: string): Buffer {
  return Buffer.from(s, "latin1");
}

/** A line key and the same after a newline, for Buffer.indexOf (a native search). */
interface LineKey {
  k: Buffer;
  nk: Buffer;
}
function lineKey(s: string): LineKey {
  return { k: key(s), nk: key(`\n${s}`) };
}

function bytesOf(text: string): Buffer {
  return Buffer.from(text, "latin1");
}

/** End of the line starting at or before `i` (index of its "\n", or `end`). */
function lineEnd(b: Buffer, i: number, end: number): number {
  while (i < end && b[i] !== NL) i++;
  return i;
}

/** Scan the next unsigned integer at or after `i` on the same line; NaN at end of line. Sets `cursor` past it. */
function scanUint(b: Buffer, i: number, end: number): number {
  while (i < end) {
    const c = b[i]!;
    if (c === NL || (c >= 48 && c <= 57)) break;
    i++;
  }
  if (i >= end || b[i] === NL) {
    cursor = i;
    return NaN;
  }
  let v = 0;
  while (i < end) {
    const c = b[i]!;
    if (c < 48 || c > 57) break;
    v = v * 10 + (c - 48);
    i++;
  }
  cursor = i;
  return v;
}

/** Skip `count` whitespace-separated tokens starting at `i`; returns the index after them. */
function skipTokens(b: Buffer, i: number, end: number, count: number): number {
  for (let k = 0; k < count; k++) {
    while (i < end && (b[i] === SP || b[i] === TAB)) i++;
    while (i < end && b[i] !== SP && b[i] !== TAB && b[i] !== NL) i++;
  }
  return i;
}

function startsWith(b: Buffer, i: number, end: number, k: Buffer): boolean {
  if (i + k.length > end) return false;
  for (let j = 0; j < k.length; j++) if (b[i + j] !== k[j]) return false;
  return true;
}

/** Value of the first line starting with `key` (which includes its separator), or NaN. */
function valueAfterKey(b: Buffer, start: number, end: number, key: LineKey): number {
  let i = start;
  if (!startsWith(b, start, end, key.k)) {
    const j = b.indexOf(key.nk, start);
    if (j < 0 || j + key.nk.length > end) return NaN;
    i = j + 1;
  }
  return scanUint(b, i + key.k.length, end);
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

const K_CTXT = lineKey("ctxt ");
const K_PROCESSES = lineKey("processes ");
const K_PROCS_RUNNING = lineKey("procs_running ");
const K_PROCS_BLOCKED = lineKey("procs_blocked ");
const K_CPU_ALL = key("cpu ");

/** /proc/stat: the aggregate `cpu` line, `ctxt`, `processes`, `procs_running`, `procs_blocked`. */
export function parseStat(text: string, out: StatCounters): StatCounters {
  const b = bytesOf(text);
  return parseStatBytes(b, 0, b.length, out);
}

export function parseStatBytes(b: Buffer, start: number, end: number, out: StatCounters): StatCounters {
  out.cpuTotalTicks = NaN;
  out.cpuIdleTicks = NaN;
  if (startsWith(b, start, end, K_CPU_ALL)) {
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    const e = lineEnd(b, start, end);
    let total = 0;
    let idle = 0;
    let p = start + 4;
    for (let f = 0; f < 8; f++) {
      const v = scanUint(b, p, e);
      p = cursor;
      if (Number.isNaN(v)) break;
      total += v;
      if (f === 3 || f === 4) idle += v;
    }
    out.cpuTotalTicks = total;
    out.cpuIdleTicks = idle;
  }
  // One walk over the lines, in the kernel's order (cpu, cpuN..., intr,
  // ctxt, btime, processes, procs_running, procs_blocked, softirq): no search
  // from the start per key, and the long intr line is skipped with one memchr.
  let cpus = 0;
  out.ctxt = NaN;
  out.processes = NaN;
  out.procsRunning = NaN;
  out.procsBlocked = NaN;
  let p = start;
  while (p < end) {
    const c0 = b[p]!;
    let e: number;
    if (c0 === 105 /* i */ || c0 === 115 /* s */) {
      // intr, softirq: thousands of numbers on a large machine.
      e = b.indexOf(NL, p);
      if (e < 0 || e > end) e = end;
    } else {
      e = lineEnd(b, p, end);
      if (c0 === 99 /* c */ && e - p >= 4 && b[p + 1] === 112 && b[p + 2] === 117) {
        const c3 = b[p + 3]!;
        if (c3 >= 48 && c3 <= 57) cpus++;
      } else if (c0 === 99 && startsWith(b, p, e, K_CTXT.k)) out.ctxt = scanUint(b, p + K_CTXT.k.length, e);
      else if (c0 === 112 /* p */) {
        if (startsWith(b, p, e, K_PROCESSES.k)) out.processes = scanUint(b, p + K_PROCESSES.k.length, e);
        else if (startsWith(b, p, e, K_PROCS_RUNNING.k)) out.procsRunning = scanUint(b, p + K_PROCS_RUNNING.k.length, e);
        else if (startsWith(b, p, e, K_PROCS_BLOCKED.k)) {
          out.procsBlocked = scanUint(b, p + K_PROCS_BLOCKED.k.length, e);
          break;
        }
      }
    }
    p = e + 1;
  }
  out.cpuCount = cpus;
  return out;
}

export interface MemInfo {
  memTotalBytes: number;
  memAvailableBytes: number;
}

export function newMemInfo(): MemInfo {
  return { memTotalBytes: NaN, memAvailableBytes: NaN };
}

const K_MEMTOTAL = lineKey("MemTotal:");
const K_MEMAVAILABLE = lineKey("MemAvailable:");
const K_MEMFREE = lineKey("MemFree:");
const K_BUFFERS = lineKey("Buffers:");
const K_CACHED = lineKey("Cached:");

/** /proc/meminfo: MemTotal and MemAvailable in bytes (kB in the file). Before 3.14 there is no MemAvailable: free + buffers + cached. */
export function parseMeminfo(text: string, out: MemInfo): MemInfo {
  const b = bytesOf(text);
  return parseMeminfoBytes(b, 0, b.length, out);
}

/**
 * kB to bytes as a double: `kb * 1024` is an int multiply to the optimised
 * code, which overflows past 2 GiB (any node's MemTotal) and bails out at
 * every tick; a division by a double constant (exact: a power of two) is
 * not (docs/footprint.md, the JIT).
 */
const KB_AS_DOUBLE = 1 / 1024;
function kbToBytes(kb: number): number {
  return kb / KB_AS_DOUBLE;
}

export function parseMeminfoBytes(b: Buffer, start: number, end: number, out: MemInfo): MemInfo {
  out.memTotalBytes = kbToBytes(valueAfterKey(b, start, end, K_MEMTOTAL));
  let avail = valueAfterKey(b, start, end, K_MEMAVAILABLE);
  if (Number.isNaN(avail)) avail = valueAfterKey(b, start, end, K_MEMFREE) + valueAfterKey(b, start, end, K_BUFFERS) + valueAfterKey(b, start, end, K_CACHED);
  out.memAvailableBytes = kbToBytes(avail);
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

const K_SOME = key("some");
const K_FULL = key("full");
const K_TOTAL = key("total=");

/** /proc/pressure/{cpu,memory,io}: the `total=` counters of the `some` and `full` lines. */
export function parsePressure(text: string, out: Pressure): Pressure {
  const b = bytesOf(text);
  return parsePressureBytes(b, 0, b.length, out);
}

export function parsePressureBytes(b: Buffer, start: number, end: number, out: Pressure): Pressure {
  out.someTotalUs = NaN;
  out.fullTotalUs = NaN;
  for (let i = start; i < end; ) {
    const e = lineEnd(b, i, end);
    const some = startsWith(b, i, e, K_SOME);
    if (some || startsWith(b, i, e, K_FULL)) {
      for (let t = i; t < e; t++) {
        if (b[t] === 116 /* t */ && startsWith(b, t, e, K_TOTAL)) {
          const v = scanUint(b, t + K_TOTAL.length, e);
          if (some) out.someTotalUs = v;
          else out.fullTotalUs = v;
          break;
        }
      }
    }
    i = e + 1;
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

const K_PGFAULT = lineKey("pgfault ");
const K_PGMAJFAULT = lineKey("pgmajfault ");

/** /proc/vmstat: page faults (minor + major) and major faults since boot. */
export function parseVmstat(text: string, out: VmStat): VmStat {
  const b = bytesOf(text);
  return parseVmstatBytes(b, 0, b.length, out);
}

export function parseVmstatBytes(b: Buffer, start: number, end: number, out: VmStat): VmStat {
  out.pgfault = valueAfterKey(b, start, end, K_PGFAULT);
  out.pgmajfault = valueAfterKey(b, start, end, K_PGMAJFAULT);
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
const NOT_A_DISK = ["loop", "ram", "zram", "dm-", "md", "nbd", "sr", "fd"].map(key);

/** A partition's name is its disk's name plus a number (`sda1`, `nvme0n1p2`, `mmcblk0p1`). */
function isPartitionOf(b: Buffer, name: number, nameLen: number, disk: number, diskLen: number): boolean {
  if (nameLen <= diskLen) return false;
  for (let j = 0; j < diskLen; j++) if (b[name + j] !== b[disk + j]) return false;
  let i = diskLen;
  if (b[name + i] === 112 /* p */) i++;
  if (i >= nameLen) return false;
  for (; i < nameLen; i++) {
    const c = b[name + i]!;
    if (c < 48 || c > 57) return false;
  }
  return true;
}

let nameStart = new Int32Array(64);
let nameLen = new Int32Array(64);
const fieldScratch = new Float64Array(17);

/**
 * /proc/diskstats, summed over whole disks (partitions and stacked devices
 * would count the same I/O twice). Fields after the name: reads, reads merged,
 * sectors read, ms reading, writes, writes merged, sectors written, ms writing,
 * in flight, ms doing I/O, weighted ms, then (4.18+) discards ×4 and (5.5+) flushes ×2.
 */
export function parseDiskstats(text: string, out: DiskStats): DiskStats {
  const b = bytesOf(text);
  return parseDiskstatsBytes(b, 0, b.length, out);
}

export function parseDiskstatsBytes(b: Buffer, start: number, end: number, out: DiskStats): DiskStats {
  out.ios = 0;
  out.sectors = 0;
  out.ioTimeMs = 0;
  out.weightedMs = 0;
  out.devices = 0;
  // First pass: names, to recognise partitions whatever their order.
  let lines = 0;
  for (let i = start; i < end; ) {
    const e = lineEnd(b, i, end);
    let s = skipTokens(b, i, e, 2);
    while (s < e && b[s] === SP) s++;
    let t = s;
    while (t < e && b[t] !== SP) t++;
    if (lines === nameStart.length) {
      const a = new Int32Array(lines * 2);
      a.set(nameStart);
      nameStart = a;
      const l = new Int32Array(lines * 2);
      l.set(nameLen);
      nameLen = l;
    }
    nameStart[lines] = s;
    nameLen[lines] = t - s;
    lines++;
    i = e + 1;
  }
  let line = 0;
  for (let i = start; i < end; line++) {
    const e = lineEnd(b, i, end);
    const ns = nameStart[line]!;
    const nl = nameLen[line]!;
    let skip = nl === 0;
    for (let k = 0; !skip && k < NOT_A_DISK.length; k++) if (startsWith(b, ns, ns + nl, NOT_A_DISK[k]!)) skip = true;
    for (let d = 0; !skip && d < lines; d++) if (d !== line && isPartitionOf(b, ns, nl, nameStart[d]!, nameLen[d]!)) skip = true;
    if (!skip) {
      let p = skipTokens(b, i, e, 3);
      const f = fieldScratch;
      let count = 0;
      for (; count < 17; count++) {
        const v = scanUint(b, p, e);
        p = cursor;
        if (Number.isNaN(v)) break;
        f[count] = v;
      }
      if (count >= 11) {
        out.devices++;
        out.ios += f[0]! + f[4]!;
        out.sectors += f[2]! + f[6]!;
        out.ioTimeMs += f[3]! + f[7]!;
        out.weightedMs += f[10]!;
        if (count >= 15) {
          out.ios += f[11]!;
          out.sectors += f[13]!;
          out.ioTimeMs += f[14]!;
        }
        if (count >= 17) {
          out.ios += f[15]!;
          out.ioTimeMs += f[16]!;
        }
      }
    }
    i = e + 1;
  }
  return out;
}

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
  const b = bytesOf(text);
  return parseNetDevBytes(b, 0, b.length, out, includeLoopback);
}

export function parseNetDevBytes(b: Buffer, start: number, end: number, out: NetDev, includeLoopback = false): NetDev {
  out.rxBytes = 0;
  out.rxPackets = 0;
  out.txBytes = 0;
  out.txPackets = 0;
  out.interfaces = 0;
  for (let i = start; i < end; ) {
    const e = lineEnd(b, i, end);
    // The two header lines have no colon; interface lines are "  name: counters".
    let colon = i;
    while (colon < e && b[colon] !== 58 /* : */) colon++;
    if (colon > i && colon < e) {
      let s = i;
      while (s < colon && b[s] === SP) s++;
      const isLo = colon - s === 2 && b[s] === 108 /* l */ && b[s + 1] === 111; /* o */
      if (includeLoopback || !isLo) {
        // rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets ...
        let p = colon + 1;
        const rxBytes = scanUint(b, p, e);
        p = cursor;
        const rxPackets = scanUint(b, p, e);
        p = skipTokens(b, cursor, e, 6);
        const txBytes = scanUint(b, p, e);
        p = cursor;
        const txPackets = scanUint(b, p, e);
        if (!Number.isNaN(txPackets)) {
          out.rxBytes += rxBytes;
          out.rxPackets += rxPackets;
          out.txBytes += txBytes;
          out.txPackets += txPackets;
          out.interfaces++;
        }
      }
    }
    i = e + 1;
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

const TCP_FIELDS: [Buffer, keyof TcpSnmp][] = [
  [key("ActiveOpens"), "activeOpens"],
  [key("PassiveOpens"), "passiveOpens"],
  [key("CurrEstab"), "currEstab"],
  [key("RetransSegs"), "retransSegs"],
];
const K_TCP = key("Tcp:");

/** /proc/net/snmp: the `Tcp:` header line names the columns of the `Tcp:` values line that follows it. */
export function parseSnmp(text: string, out: TcpSnmp): TcpSnmp {
  const b = bytesOf(text);
  return parseSnmpBytes(b, 0, b.length, out);
}

export function parseSnmpBytes(b: Buffer, start: number, end: number, out: TcpSnmp): TcpSnmp {
  out.activeOpens = NaN;
  out.passiveOpens = NaN;
  out.currEstab = NaN;
  out.retransSegs = NaN;
  let h = start;
  while (h < end && !startsWith(b, h, end, K_TCP)) h = lineEnd(b, h, end) + 1;
  if (h >= end) return out;
  const hEnd = lineEnd(b, h, end);
  if (hEnd >= end) return out;
  const v = hEnd + 1;
  const vEnd = lineEnd(b, v, end);
  if (!startsWith(b, v, vEnd, K_TCP)) return out;
  // Walk the header's names and the values' numbers in step.
  let hp = h + K_TCP.length;
  let vp = v + K_TCP.length;
  for (;;) {
    while (hp < hEnd && b[hp] === SP) hp++;
    while (vp < vEnd && b[vp] === SP) vp++;
    if (hp >= hEnd || vp >= vEnd) break;
    let he = hp;
    while (he < hEnd && b[he] !== SP) he++;
    let ve = vp;
    while (ve < vEnd && b[ve] !== SP) ve++;
    for (const [k, field] of TCP_FIELDS) {
      if (he - hp === k.length && startsWith(b, hp, he, k)) {
        // CurrEstab is a gauge, and MaxConn is -1: numbers here may be signed.
        const neg = b[vp] === 45; /* - */
        const n = scanUint(b, neg ? vp + 1 : vp, ve);
        out[field] = neg ? -n : n;
      }
    }
    hp = he;
    vp = ve;
  }
  return out;
}
