// libhosa's parsers (libhosa/parse.c, ffi.parseSet) against the JavaScript
// ones (proc-parsers.ts) on the same bytes: every field the same double
// (Object.is: NaN where the JavaScript gives NaN), on this node's files, on
// the fixtures of every kernel the tests know, and on those bytes cut short,
// garbled and given numbers past 2^53. The live source parses in C whatever
// libhosa reads (a snapshot or a read at the vigilance tick alike), in
// JavaScript under a fixture root: both must give the same sample.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { PARSE, PARSE_WORDS, parseSet } from "../ffi/libhosa.ts";
import { createFileSet } from "./file-set.ts";
import {
  newDiskStats,
  newMemInfo,
  newNetDev,
  newPressure,
  newStatCounters,
  newVmStat,
  parseDiskstatsBytes,
  parseMeminfoBytes,
  parseNetDevBytes,
  parsePressureBytes,
  parseStatBytes,
  parseVmstatBytes,
} from "./proc-parsers.ts";

type Kind = Exclude<(typeof PARSE)[keyof typeof PARSE], -1>;

/** The JavaScript parser's fields for `kind`, in the order libhosa writes them. */
function viaJs(kind: Kind, b: Buffer, start: number, end: number): number[] {
  switch (kind) {
    case PARSE.STAT: {
      const s = parseStatBytes(b, start, end, newStatCounters());
      return [s.cpuTotalTicks, s.cpuIdleTicks, s.ctxt, s.processes, s.procsRunning, s.procsBlocked, s.cpuCount];
    }
    case PARSE.MEMINFO: {
      const m = parseMeminfoBytes(b, start, end, newMemInfo());
      return [m.memTotalBytes, m.memAvailableBytes];
    }
    case PARSE.PRESSURE: {
      const p = parsePressureBytes(b, start, end, newPressure());
      return [p.someTotalUs, p.fullTotalUs];
    }
    case PARSE.VMSTAT: {
      const v = parseVmstatBytes(b, start, end, newVmStat());
      return [v.pgfault, v.pgmajfault];
    }
    case PARSE.DISKSTATS: {
      const d = parseDiskstatsBytes(b, start, end, newDiskStats());
      return [d.ios, d.sectors, d.ioTimeMs, d.weightedMs, d.devices];
    }
    case PARSE.NETDEV:
    case PARSE.NETDEV_LO: {
      const n = parseNetDevBytes(b, start, end, newNetDev(), kind === PARSE.NETDEV_LO);
      return [n.rxBytes, n.rxPackets, n.txBytes, n.txPackets, n.interfaces];
    }
  }
  throw new Error(`kind ${kind}`);
}

const FIELDS: Record<Kind, number> = { 0: 7, 1: 2, 2: 2, 3: 2, 4: 5, 5: 5, 6: 5 };

/**
 * Bytes that would make a parser reading past its slot's end give another number: each key the parsers
 * look for, each first in one of them (a slot ending in a newline is followed at once by a key).
 */
const TRAP_LINES = ["MemAvailable: 7 kB", "MemTotal: 9 kB", "pgfault 5", "pgmajfault 6", "ctxt 3", "processes 4", "procs_blocked 2", "some total=8", "full total=9", "   8 0 sdz 1 2 3 4 5 6 7 8 9 10 11", " eth9: 1 2 3 4 5 6 7 8 9 10"];
const TRAPS = TRAP_LINES.map((_, i) => Buffer.from(`${[...TRAP_LINES.slice(i), ...TRAP_LINES.slice(0, i)].join("\n")}\n`, "latin1"));
const TRAP_ROOM = Math.max(...TRAPS.map((t) => t.length));

/**
 * Lay the texts out in one buffer as a read set does (each slot followed by bytes the parsers must
 * not read), parse them in C and in JavaScript, and return the fields that differ.
 */
function compare(cases: { kind: Kind; text: Buffer }[]): string[] {
  const n = cases.length;
  const offsets = new Uint32Array(n);
  const lens = new Int32Array(n);
  const kinds = new Int32Array(n);
  let at = 0;
  cases.forEach((c, i) => {
    offsets[i] = at;
    lens[i] = c.text.length;
    kinds[i] = c.kind;
    at += c.text.length + TRAP_ROOM;
  });
  const buf = Buffer.alloc(at);
  cases.forEach((c, i) => {
    c.text.copy(buf, offsets[i]!);
    TRAPS[i % TRAPS.length]!.copy(buf, offsets[i]! + c.text.length);
  });
  const out = new Float64Array(PARSE_WORDS * n).fill(-12345);
  parseSet(buf, offsets, lens, kinds, out);
  const diffs: string[] = [];
  cases.forEach((c, i) => {
    const js = viaJs(c.kind, buf, offsets[i]!, offsets[i]! + lens[i]!);
    for (let f = 0; f < FIELDS[c.kind]; f++) {
      const native = out[i * PARSE_WORDS + f]!;
      if (!Object.is(native, js[f]!)) diffs.push(`kind ${c.kind} field ${f}: C ${native}, JavaScript ${js[f]} on ${JSON.stringify(c.text.toString("latin1").slice(0, 300))}`);
    }
  });
  return diffs;
}

const kindOfName = (name: string): Kind[] =>
  name === "stat" ? [PARSE.STAT] : name === "meminfo" ? [PARSE.MEMINFO] : name === "vmstat" ? [PARSE.VMSTAT] : name === "diskstats" ? [PARSE.DISKSTATS] : name === "dev" ? [PARSE.NETDEV, PARSE.NETDEV_LO] : ["cpu", "memory", "io"].includes(name) ? [PARSE.PRESSURE] : [];

/** Every fixture file a parser reads, under test/fixtures/proc, with its kinds. */
function fixtures(): { kind: Kind; text: Buffer }[] {
  const out: { kind: Kind; text: Buffer }[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir)) {
      const p = `${dir}/${e}`;
      if (statSync(p).isDirectory()) walk(p);
      else for (const kind of kindOfName(e)) out.push({ kind, text: readFileSync(p) });
    }
  };
  walk(`${import.meta.dir}/../../test/fixtures/proc`);
  return out;
}

/** This node's files as the live source reads them. */
function liveFiles(): { kind: Kind; text: Buffer }[] {
  const files = ["stat", "meminfo", "pressure/cpu", "pressure/memory", "pressure/io", "vmstat", "diskstats", "net/dev"];
  const set = createFileSet("/proc/", files, undefined, [], {});
  try {
    set.read();
    const out: { kind: Kind; text: Buffer }[] = [];
    files.forEach((f, i) => {
      if (set.length(i) < 0) return;
      const text = Buffer.from(set.bytes.subarray(set.start(i), set.start(i) + set.length(i)));
      for (const kind of kindOfName(f.split("/").pop()!)) out.push({ kind, text });
    });
    return out;
  } finally {
    set.close();
  }
}

/** A small deterministic generator (the same cases every run). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const NOISE = ["\n", " ", "\t", "0", "9", "-", ":", "p", "total=", "cpu ", "cpu7 ", "intr 1 2", "MemAvailable:", "pgfault ", "sda", "sda1", "nvme0n1p2", "loop", " lo:", "99999999999999999999", "18446744073709551615", "9007199254740993"];

describe("libhosa's /proc parsers give the JavaScript parsers' numbers", () => {
  test("this node's files, whole and as the live source reads vmstat (a prefix)", () => {
    const live = liveFiles();
    expect(live.length).toBeGreaterThanOrEqual(7);
    const cut = live.flatMap((c) => [c, { kind: c.kind, text: c.text.subarray(0, Math.floor(c.text.length / 2)) }]);
    expect(compare(cut)).toEqual([]);
  });

  test("every fixture of test/fixtures/proc", () => {
    const all = fixtures();
    expect(all.length).toBeGreaterThan(20);
    expect(compare(all)).toEqual([]);
  });

  test("edge cases: missing keys, empty files, counters past 2^53, partitions and stacked devices, loopback", () => {
    const t = (kind: Kind, s: string) => ({ kind, text: Buffer.from(s, "latin1") });
    const cases = [
      t(PARSE.STAT, ""),
      t(PARSE.STAT, "cpu  1 2 3\n"),
      t(PARSE.STAT, "cpu  18446744073709551615 9007199254740993 99999999999999999999 4 5 6 7 8 9 10\ncpu0 1\ncpu1 2\ncpux 3\nintr 1 2 3\nctxt 12345678901234567890\nbtime 1\nprocesses 7\nprocs_running 2\nprocs_blocked 1\nsoftirq 1 2\n"),
      t(PARSE.STAT, "cpu 1 2 3 4 5 6 7 8\nctxt\nprocesses x\nprocs_running\n"),
      t(PARSE.MEMINFO, "MemTotal:       24683548 kB\nMemFree:  10 kB\nBuffers: 20 kB\nCached: 30 kB\n"),
      t(PARSE.MEMINFO, "MemTotal: 99999999999999999999 kB\nMemAvailable: 9007199254740993 kB\n"),
      t(PARSE.MEMINFO, "MemFree: 10 kB\nCached: 30 kB\n"),
      t(PARSE.MEMINFO, "MemTotal:"),
      t(PARSE.PRESSURE, "some avg10=0.00 avg60=0.00 avg300=0.00 total=123\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=9007199254740993\n"),
      t(PARSE.PRESSURE, "some avg10=0.00 total=\nfull"),
      t(PARSE.VMSTAT, "pgfault 1\npgmajfault 2"),
      t(PARSE.VMSTAT, "nr_free 1\npgfault 18446744073709551615\npgmajfaul"),
      t(PARSE.DISKSTATS, "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n   8       1 sda1 1 2 3 4 5 6 7 8 9 10 11\n 259 0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n 259 1 nvme0n1p2 5 5 5 5 5 5 5 5 5 5 5\n   7 0 loop0 1 2 3 4 5 6 7 8 9 10 11\n 253 0 dm-0 1 2 3 4 5 6 7 8 9 10 11\n   9 0 md0 1 2 3 4 5 6 7 8 9 10 11\n 179 0 mmcblk0 1 2 3 4 5 6 7 8 9 10 11\n 179 1 mmcblk0p1 1 2 3 4 5 6 7 8 9 10 11\n   8 16 sdb 1 2 3\n\n"),
      t(PARSE.NETDEV, "Inter-|   Receive\n face |bytes    packets\n    lo: 100 2 0 0 0 0 0 0 100 2 0 0 0 0 0 0\n  eth0: 18446744073709551615 9 0 0 0 0 0 0 7 3 0 0 0 0 0 0\n  eth1: 1 2 3\n"),
      t(PARSE.NETDEV_LO, "    lo: 100 2 0 0 0 0 0 0 100 2 0 0 0 0 0 0\n  eth0: 5 9 0 0 0 0 0 0 7 3 0 0 0 0 0 0\n:\n"),
    ];
    expect(compare(cases)).toEqual([]);
  });

  test("the same bytes cut short and garbled (2 000 variants of each file)", () => {
    const base = [...liveFiles(), ...fixtures()];
    const next = rng(12);
    const cases: { kind: Kind; text: Buffer }[] = [];
    for (const c of base) {
      for (let k = 0; k < 2000 / base.length + 10; k++) {
        let s = c.text.toString("latin1");
        const edits = 1 + Math.floor(next() * 4);
        for (let e = 0; e < edits; e++) {
          const at = Math.floor(next() * (s.length + 1));
          const r = next();
          if (r < 0.3) s = s.slice(0, at); // cut short
          else if (r < 0.6) s = s.slice(0, at) + NOISE[Math.floor(next() * NOISE.length)] + s.slice(at);
          else s = s.slice(0, at) + s.slice(at + 1 + Math.floor(next() * 8));
        }
        cases.push({ kind: c.kind, text: Buffer.from(s, "latin1") });
      }
    }
    expect(cases.length).toBeGreaterThan(2000);
    expect(compare(cases)).toEqual([]);
  });
});
