import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXIT, HosaError } from "../errors.ts";
import { compression, escapeControl, excerpt, looksBinary, readInput } from "./input.ts";

const root = mkdtempSync(join(tmpdir(), `hosa-input-${process.pid}-`));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function refusal(path: string, opts: Partial<Parameters<typeof readInput>[1]> = {}): HosaError {
  try {
    readInput(path, { action: "cannot read recording", maxBytes: 1 << 20, ...opts });
  } catch (e) {
    if (e instanceof HosaError) return e;
    throw e;
  }
  throw new Error(`${path} was read`);
}

describe("readInput()", () => {
  test("reads a regular file whole", () => {
    const p = join(root, "a.csv");
    writeFileSync(p, "t,a\n1,2\n");
    expect(Buffer.from(readInput(p, { action: "x", maxBytes: 100 })).toString()).toBe("t,a\n1,2\n");
  });

  test("reads a /proc file, whose size says 0, to its end", () => {
    const text = Buffer.from(readInput("/proc/self/status", { action: "x", maxBytes: 1 << 20 })).toString();
    expect(text).toContain("Pid:");
  });

  test("refuses what is not a regular file before reading it", () => {
    expect(refusal(root).message).toBe(`cannot read recording ${root}: is a directory`);
    expect(refusal("/dev/zero").message).toBe("cannot read recording /dev/zero: is a character device, not a regular file");
    expect(refusal("/dev/null").message).toContain("character device");
    const loop = join(root, "loop");
    symlinkSync(loop, loop);
    expect(refusal(loop).message).toBe(`cannot read recording ${loop}: too many levels of symbolic links (a symlink loop?)`);
    expect(refusal(join(root, "nope")).message).toEndWith(": no such file");
    writeFileSync(join(root, "f"), "x");
    expect(refusal(join(root, "f", "g")).message).toContain("not a directory");
    expect(refusal(root).exitCode).toBe(EXIT.INPUT);
  });

  test("refuses a file over the limit, by its size or by what was read", () => {
    const p = join(root, "big");
    writeFileSync(p, "x".repeat(5000));
    expect(refusal(p, { maxBytes: 4096 }).message).toBe(`cannot read recording ${p}: 5000 bytes, more than the limit of 4096`);
  });

  test("a FIFO with no writer is refused after the idle limit, not waited on for ever", () => {
    const p = join(root, "fifo");
    expect(Bun.spawnSync(["mkfifo", p]).exitCode).toBe(0);
    const e = refusal(p, { pipeIdleMs: 200 });
    expect(e.message).toBe(`cannot read recording ${p}: a FIFO with no writer (nothing came in 0.2 s)`);
  });

  test("a FIFO with a writer is read to its end", async () => {
    const p = join(root, "fifo2");
    expect(Bun.spawnSync(["mkfifo", p]).exitCode).toBe(0);
    const writer = Bun.spawn(["sh", "-c", `printf 't,a\\n1,2\\n' > ${p}`]);
    const bytes = readInput(p, { action: "x", maxBytes: 100, pipeIdleMs: 5000 });
    await writer.exited;
    expect(Buffer.from(bytes).toString()).toBe("t,a\n1,2\n");
  });

  test("a pipe that brings more than the limit is cut off with the limit named", () => {
    const p = join(root, "fifo3");
    expect(Bun.spawnSync(["mkfifo", p]).exitCode).toBe(0);
    const writer = Bun.spawn(["sh", "-c", `head -c 300000 /dev/zero > ${p}`], { stderr: "ignore" });
    expect(refusal(p, { maxBytes: 100_000, pipeIdleMs: 5000 }).message).toBe(`cannot read recording ${p}: more than the limit of 100000 bytes`);
    writer.kill();
  });
});

describe("excerpts", () => {
  test("control characters become visible escapes", () => {
    expect(escapeControl("a\u001b[2Jb\r\n\t\u0000\u009b\u2028")).toBe("a\\x1b[2Jb\\r\\n\\t\\x00\\x9b\\u2028");
  });
  test("a huge cell is cut to a short excerpt that says how long it was", () => {
    const e = excerpt("9".repeat(10_000_000));
    expect(e.length).toBeLessThan(80);
    expect(e).toEndWith("… (10000000 characters)");
  });
  test("compressed and binary data are recognised", () => {
    expect(compression(new Uint8Array([0x1f, 0x8b, 8, 0]))).toBe("gzip");
    expect(compression(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]))).toBe("zstd");
    expect(compression(new TextEncoder().encode("t,a\n"))).toBeNull();
    expect(looksBinary(new Uint8Array([0x7b, 0, 0x7d]))).toBe(true);
    expect(looksBinary(new Uint8Array([0xff, 0xfe, 0x41]))).toBe(true);
    expect(looksBinary(new TextEncoder().encode("θ1 ok\n"))).toBe(false);
  });
});
