import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createProcFs, procBytes } from "./procfs.ts";

describe("ProcFs", () => {
  test("readBytes: the same bytes as read(), in the shared buffer, for a kept pseudo-file and a regular file; -1 when missing", () => {
    const dir = mkdtempSync(join(tmpdir(), `hosa-procfs-${process.pid}-`));
    const a = createProcFs("/proc/sys/kernel");
    const f = createProcFs(dir);
    try {
      writeFileSync(join(dir, "usage"), "4096\n");
      const want = readFileSync("/proc/sys/kernel/osrelease", "latin1");
      for (let i = 0; i < 2; i++) {
        const n = a.readBytes("osrelease");
        expect(procBytes().toString("latin1", 0, n)).toBe(want);
        const m = f.readBytes("usage");
        expect(procBytes().toString("latin1", 0, m)).toBe("4096\n");
      }
      expect(f.readBytes("absent")).toBe(-1);
      expect(f.lastError).toBe("no such file");
    } finally {
      a.close();
      f.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
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
