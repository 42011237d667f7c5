import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFileSet, NUMBER_FILE_CAP } from "./file-set.ts";
import { newMemInfo, parseMeminfo, parseMeminfoBytes } from "./proc-parsers.ts";

const tmp = mkdtempSync(join(tmpdir(), "hosa-fileset-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("FileSet", () => {
  test("live /proc files: one read fills every slot, re-read in place, parsed as bytes like the text", () => {
    const set = createFileSet("/proc", ["meminfo", "sys/kernel/osrelease", "pressure/cpu"]);
    try {
      set.read();
      const text = (i: number) => set.bytes.toString("latin1", set.start(i), set.start(i) + set.length(i));
      expect(text(1)).toBe(readFileSync("/proc/sys/kernel/osrelease", "latin1"));
      expect(text(2)).toStartWith("some avg10=");
      expect(text(0)).toStartWith("MemTotal:");
      const fromBytes = parseMeminfoBytes(set.bytes, set.start(0), set.start(0) + set.length(0), newMemInfo());
      const fromText = parseMeminfo(readFileSync("/proc/meminfo", "latin1"), newMemInfo());
      expect(fromBytes.memTotalBytes).toBe(fromText.memTotalBytes);
      const buffer = set.bytes;
      set.read();
      expect(set.bytes).toBe(buffer); // same buffer, no allocation
      expect(text(1)).toBe(readFileSync("/proc/sys/kernel/osrelease", "latin1"));
    } finally {
      set.close();
    }
  });

  test("a file read up to its prefix: its beginning, never grown; the other files whole", () => {
    const whole = readFileSync("/proc/vmstat", "latin1");
    const set = createFileSet("/proc", ["vmstat", "meminfo"], undefined, [1000]);
    try {
      for (let k = 0; k < 2; k++) {
        set.read();
        expect(set.length(0)).toBe(Math.min(1000, whole.length));
        expect(set.bytes.toString("latin1", set.start(0), set.start(0) + 40)).toBe(whole.slice(0, 40));
        expect(set.bytes.toString("latin1", set.start(1), set.start(1) + set.length(1))).toStartWith("MemTotal:");
      }
    } finally {
      set.close();
    }
  });

  test("a file longer than its slot gets a larger one and is read whole", () => {
    // /proc/self/smaps of a Bun process runs to hundreds of kilobytes, beyond the first 16 KiB slot.
    const set = createFileSet("/proc", ["self/smaps"]);
    try {
      set.read();
      const got = set.bytes.toString("latin1", set.start(0), set.start(0) + set.length(0));
      expect(set.length(0)).toBeGreaterThan(16 * 1024);
      expect(got.endsWith("\n")).toBe(true);
      expect(got.split("\n")[0]).toBe(readFileSync("/proc/self/smaps", "latin1").split("\n")[0]);
    } finally {
      set.close();
    }
  });

  test("slots sized for one number: a number file in 64 bytes, a longer file beside it grows and is read whole", () => {
    const set = createFileSet("/proc", ["sys/kernel/pid_max", "meminfo"], NUMBER_FILE_CAP);
    try {
      expect(set.bytes.length).toBe(2 * NUMBER_FILE_CAP); // not 16 KiB per slot
      set.read();
      const text = (i: number) => set.bytes.toString("latin1", set.start(i), set.start(i) + set.length(i));
      expect(text(0)).toBe(readFileSync("/proc/sys/kernel/pid_max", "latin1"));
      expect(set.length(1)).toBeGreaterThan(NUMBER_FILE_CAP);
      expect(text(1)).toStartWith("MemTotal:");
      expect(text(1).endsWith("\n")).toBe(true);
      expect(text(1).split("\n").length).toBe(readFileSync("/proc/meminfo", "latin1").split("\n").length);
    } finally {
      set.close();
    }
  });

  test("a fixture of regular files is read the same way, and a missing file reads as -1", () => {
    writeFileSync(join(tmp, "meminfo"), "MemTotal:       1000 kB\nMemAvailable:    250 kB\n");
    const set = createFileSet(tmp, ["meminfo", "absent"]);
    try {
      set.read();
      expect(set.length(1)).toBe(-1);
      const m = parseMeminfoBytes(set.bytes, set.start(0), set.start(0) + set.length(0), newMemInfo());
      expect(m.memTotalBytes).toBe(1000 * 1024);
      expect(m.memAvailableBytes).toBe(250 * 1024);
    } finally {
      set.close();
    }
  });
});
