import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { createProcFs } from "./procfs.ts";

describe("ProcFs", () => {
  test("instances share one read buffer: interleaved reads of kept-open files each return their own text", () => {
    const a = createProcFs("/proc");
    const b = createProcFs("/proc/sys/kernel");
    try {
      for (let i = 0; i < 3; i++) {
        expect(a.read("meminfo")).toStartWith("MemTotal:");
        expect(b.read("osrelease")).toBe(readFileSync("/proc/sys/kernel/osrelease", "latin1"));
        expect(a.read("sys/kernel/pid_max")).toBe(readFileSync("/proc/sys/kernel/pid_max", "latin1"));
      }
    } finally {
      a.close();
      b.close();
    }
  });

  test("a pseudo-file longer than the buffer is read whole, and a short one after it is not mixed with it", () => {
    const fs = createProcFs("/proc");
    try {
      // /proc/kallsyms runs to megabytes, far beyond the 64 KiB first buffer.
      const syms = fs.read("kallsyms")!;
      expect(syms.length).toBeGreaterThan(64 * 1024);
      expect(syms.endsWith("\n")).toBe(true);
      expect(syms.split("\n").length).toBe(readFileSync("/proc/kallsyms", "latin1").split("\n").length);
      expect(fs.read("sys/kernel/pid_max")).toBe(readFileSync("/proc/sys/kernel/pid_max", "latin1"));
    } finally {
      fs.close();
    }
  });
});
