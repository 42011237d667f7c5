import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import {
  newDiskStats,
  newMemInfo,
  newNetDev,
  newPressure,
  newStatCounters,
  newTcpSnmp,
  newVmStat,
  parseDiskstats,
  parseMeminfo,
  parseNetDev,
  parsePressure,
  parseSnmp,
  parseStat,
  parseVmstat,
} from "./proc-parsers.ts";
import { createProcFs } from "./procfs.ts";
import { PROC } from "./files.ts";

const FIX = `${import.meta.dir}/../../test/fixtures/proc`;
const fx = (scenario: string, file: string) => readFileSync(`${FIX}/${scenario}/${file}`, "latin1");

describe("parsers on fixtures", () => {
  test("parseStat() sums user..steal, counts idle+iowait, reads ctxt, processes and CPUs", () => {
    const s = parseStat(fx("busy-t0", "stat"), newStatCounters());
    expect(s.cpuTotalTicks).toBe(1000 + 10 + 500 + 8000 + 200 + 0 + 50 + 0);
    expect(s.cpuIdleTicks).toBe(8200);
    expect(s.ctxt).toBe(500000);
    expect(s.processes).toBe(10000);
    expect(s.procsRunning).toBe(3);
    expect(s.procsBlocked).toBe(1);
    expect(s.cpuCount).toBe(2);
  });

  test("parseMeminfo() reads kB as bytes, and falls back to free+buffers+cached before MemAvailable existed", () => {
    const m = parseMeminfo(fx("busy-t1", "meminfo"), newMemInfo());
    expect(m.memTotalBytes).toBe(16384000 * 1024);
    expect(m.memAvailableBytes).toBe(4096000 * 1024);
    const old = parseMeminfo(fx("kernel-4.14", "meminfo"), newMemInfo());
    expect(old.memTotalBytes).toBe(8192000 * 1024);
    expect(old.memAvailableBytes).toBe((1024000 + 512000 + 1024000) * 1024);
  });

  test("parsePressure() reads the some and full total= microsecond counters", () => {
    const p = parsePressure(fx("busy-t1", "pressure/memory"), newPressure());
    expect(p.someTotalUs).toBe(400000);
    expect(p.fullTotalUs).toBe(200000);
    const some = parsePressure("some avg10=1.00 avg60=0.50 avg300=0.10 total=12345\n", newPressure());
    expect(some.someTotalUs).toBe(12345);
    expect(Number.isNaN(some.fullTotalUs)).toBe(true);
  });

  test("parseVmstat() reads pgfault and pgmajfault", () => {
    const v = parseVmstat(fx("busy-t1", "vmstat"), newVmStat());
    expect(v.pgfault).toBe(1060000);
    expect(v.pgmajfault).toBe(110);
  });

  test("parseDiskstats() sums whole disks only: no partitions, loop or dm devices", () => {
    const d = parseDiskstats(fx("busy-t0", "diskstats"), newDiskStats());
    expect(d.devices).toBe(2); // nvme0n1 and sda
    // nvme0n1: reads 1000 + writes 2000 + discards 0 + flushes 100; sda: 500 + 500
    expect(d.ios).toBe(1000 + 2000 + 0 + 100 + 500 + 500);
    expect(d.sectors).toBe(80000 + 160000 + 4000 + 4000);
    expect(d.ioTimeMs).toBe(500 + 1500 + 0 + 50 + 250 + 250);
    expect(d.weightedMs).toBe(2000 + 500);
  });

  test("parseDiskstats() reads the 11-field format of kernels before 4.18", () => {
    const d = parseDiskstats(fx("kernel-4.14", "diskstats"), newDiskStats());
    expect(d.devices).toBe(1);
    expect(d.ios).toBe(1000);
    expect(d.sectors).toBe(8000);
    expect(d.ioTimeMs).toBe(500);
  });

  test("parseNetDev() sums interfaces without lo unless asked", () => {
    const n = parseNetDev(fx("busy-t1", "net/dev"), newNetDev());
    expect(n.interfaces).toBe(2);
    expect(n.rxBytes).toBe(52000000 + 1000);
    expect(n.rxPackets).toBe(42000 + 10);
    expect(n.txBytes).toBe(21000000 + 202000);
    expect(n.txPackets).toBe(31000 + 220);
    const withLo = parseNetDev(fx("busy-t1", "net/dev"), newNetDev(), true);
    expect(withLo.interfaces).toBe(3);
    expect(withLo.rxBytes).toBe(52000000 + 1000 + 6000000);
  });

  test("parseSnmp() finds the Tcp columns by name", () => {
    const t = parseSnmp(fx("busy-t1", "net/snmp"), newTcpSnmp());
    expect(t.activeOpens).toBe(400);
    expect(t.passiveOpens).toBe(160);
    expect(t.currEstab).toBe(42);
    expect(t.retransSegs).toBe(80);
  });

  test("missing lines read as NaN, not as zero", () => {
    expect(Number.isNaN(parseVmstat("nr_free_pages 1\n", newVmStat()).pgfault)).toBe(true);
    expect(Number.isNaN(parseSnmp("Ip: Forwarding\nIp: 1\n", newTcpSnmp()).retransSegs)).toBe(true);
    expect(Number.isNaN(parseStat("", newStatCounters()).cpuTotalTicks)).toBe(true);
  });
});

describe("parsers on this host's live files", () => {
  const proc = createProcFs("/proc");

  test("/proc/stat, /proc/meminfo, /proc/vmstat parse to sane positive counters", () => {
    const s = parseStat(proc.read(PROC.stat)!, newStatCounters());
    expect(s.cpuTotalTicks).toBeGreaterThan(0);
    expect(s.cpuIdleTicks).toBeLessThanOrEqual(s.cpuTotalTicks);
    expect(s.processes).toBeGreaterThan(1);
    expect(s.ctxt).toBeGreaterThan(0);
    expect(s.cpuCount).toBe(cpus().length);
    const m = parseMeminfo(proc.read(PROC.meminfo)!, newMemInfo());
    expect(m.memTotalBytes).toBeGreaterThan(0);
    expect(m.memAvailableBytes).toBeGreaterThan(0);
    expect(m.memAvailableBytes).toBeLessThanOrEqual(m.memTotalBytes);
    const v = parseVmstat(proc.read(PROC.vmstat)!, newVmStat());
    expect(v.pgfault).toBeGreaterThan(0);
    expect(v.pgmajfault).toBeGreaterThanOrEqual(0);
  });

  test("/proc/pressure/*, /proc/diskstats, /proc/net/dev, /proc/net/snmp parse", () => {
    for (const f of [PROC.pressureCpu, PROC.pressureMemory, PROC.pressureIo]) {
      const text = proc.read(f);
      if (text === undefined) continue; // no PSI on this kernel: the live source reports it unavailable
      const p = parsePressure(text, newPressure());
      expect(p.someTotalUs).toBeGreaterThanOrEqual(0);
    }
    const d = parseDiskstats(proc.read(PROC.diskstats)!, newDiskStats());
    expect(d.ios).toBeGreaterThanOrEqual(0);
    const n = parseNetDev(proc.read(PROC.netDev)!, newNetDev(), true);
    expect(n.interfaces).toBeGreaterThanOrEqual(1); // lo at least
    const t = parseSnmp(proc.read(PROC.netSnmp)!, newTcpSnmp());
    expect(t.activeOpens).toBeGreaterThanOrEqual(0);
    expect(t.currEstab).toBeGreaterThanOrEqual(0);
  });

  test("a missing file reads as undefined with the reason", () => {
    const p = createProcFs(`${FIX}/kernel-4.14`);
    expect(p.read(PROC.pressureCpu)).toBeUndefined();
    expect(p.lastError).toBe("no such file");
  });
});
