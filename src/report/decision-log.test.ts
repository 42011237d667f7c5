import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DecisionLog, actionEntry, levelEntry, logFiles, verifyLog, wallTimeNs } from "./decision-log.ts";
import { makeAction, makeDecision } from "../../test/report/helpers.ts";

const root = mkdtempSync(join(tmpdir(), "hosa-dlog-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function fresh(): { dir: string; log: string; state: string } {
  const dir = join(root, String(n++));
  return { dir, log: join(dir, "log", "decisions.log"), state: join(dir, "state") };
}

/** An episode: 0→1→2 with two actions, 2→1→0; `count` entries in all (repeating). */
function writeEpisode(log: DecisionLog, count: number): void {
  const seq = [
    () => levelEntry(makeDecision(1, 0), wallTimeNs(), "node-a"),
    () => levelEntry(makeDecision(2, 1), wallTimeNs(), "node-a"),
    () => actionEntry(makeDecision(2, 1), makeAction(1), wallTimeNs(), "node-a"),
    () => actionEntry(makeDecision(2, 1), makeAction(2), wallTimeNs(), "node-a"),
    () => levelEntry(makeDecision(1, 2), wallTimeNs(), "node-a"),
    () => levelEntry(makeDecision(0, 1), wallTimeNs(), "node-a"),
  ];
  for (let i = 0; i < count; i++) log.append(seq[i % seq.length]!());
}

describe("decision log", () => {
  test("entries carry document 004's fields, a ns timestamp and the chain", () => {
    const p = fresh();
    const log = DecisionLog.open(p.log, { maxBytes: 1 << 20, keep: 3, stateDir: p.state });
    writeEpisode(log, 4);
    log.close();
    const lines = readFileSync(p.log, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines.length).toBe(4);
    for (const k of ["timestamp", "level", "level_name", "d_m", "d_m_derivative", "d_m_acceleration", "phi", "dominant_dims", "target_cgroup", "action", "action_effect", "regime", "thresholds_crossed", "reason", "prev_hash", "hash", "seq"]) {
      expect(lines[2]).toHaveProperty(k);
    }
    expect(lines[0].timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(lines[0].prev_hash).toBe("0".repeat(64));
    expect(lines[1].prev_hash).toBe(lines[0].hash);
    expect(lines[2].kind).toBe("action");
    expect(lines[2].target_cgroup).toBe("/hosa-test/leaker-1");
    expect(lines[2].action).toBe("memory.high max→1.6G");
    expect(lines[2].action_effect).toBe("not yet effective (d2DM/dt2 >= 0)");
    expect(lines[1].thresholds_crossed).toEqual(["theta1"]);
    expect(lines.map((l) => l.seq)).toEqual([0, 1, 2, 3]);
    const r = verifyLog(p.log, { stateDir: p.state });
    expect(r).toMatchObject({ ok: true, entries: 4, signature: "verified", unsignedTail: 0 });
  });

  test("verifyLog() names the line of any one changed byte", () => {
    const p = fresh();
    const log = DecisionLog.open(p.log, { maxBytes: 1 << 20, keep: 3, stateDir: p.state, sign: false });
    writeEpisode(log, 30);
    log.close();
    const original = readFileSync(p.log);
    const lineStarts = [0];
    for (let i = 0; i < original.length; i++) if (original[i] === 10) lineStarts.push(i + 1);
    // Every byte of lines 17 and 1, and a spread of others: each flip must be caught on its own line.
    const positions = new Set<number>();
    for (let i = lineStarts[16]!; i < lineStarts[17]! - 1; i++) positions.add(i);
    for (let i = 0; i < lineStarts[1]! - 1; i++) positions.add(i);
    for (let i = 0; i < original.length; i += 97) if (original[i] !== 10) positions.add(i);
    for (const pos of positions) {
      const bad = Buffer.from(original);
      bad[pos] = bad[pos] === 0x41 ? 0x42 : 0x41;
      writeFileSync(p.log, bad);
      const r = verifyLog(p.log);
      const line = lineStarts.filter((s) => s <= pos).length;
      expect(r.ok).toBe(false);
      expect(r.firstBroken?.line).toBe(line);
      expect(r.firstBroken?.file).toBe("decisions.log");
    }
    writeFileSync(p.log, original);
    expect(verifyLog(p.log)).toMatchObject({ ok: true, entries: 30 });
  });

  test("a deleted or swapped entry breaks the chain at the next line", () => {
    const p = fresh();
    const log = DecisionLog.open(p.log, { maxBytes: 1 << 20, keep: 3, stateDir: p.state, sign: false });
    writeEpisode(log, 10);
    log.close();
    const lines = readFileSync(p.log, "utf8").trimEnd().split("\n");
    writeFileSync(p.log, `${[...lines.slice(0, 4), ...lines.slice(5)].join("\n")}\n`);
    expect(verifyLog(p.log).firstBroken).toMatchObject({ line: 5, why: expect.stringContaining("prev_hash") });
    writeFileSync(p.log, `${[...lines.slice(0, 6), lines[7], lines[6], ...lines.slice(8)].join("\n")}\n`);
    expect(verifyLog(p.log).firstBroken?.line).toBe(7);
  });

  test("a signed head catches entries removed from the end", () => {
    const p = fresh();
    const log = DecisionLog.open(p.log, { maxBytes: 1 << 20, keep: 3, stateDir: p.state });
    writeEpisode(log, 8);
    log.close();
    expect(existsSync(join(p.state, "head.sig"))).toBe(true);
    const lines = readFileSync(p.log, "utf8").trimEnd().split("\n");
    writeFileSync(p.log, `${lines.slice(0, 6).join("\n")}\n`);
    const r = verifyLog(p.log, { stateDir: p.state });
    expect(r.ok).toBe(false);
    expect(r.firstBroken?.why).toContain("signed head not in the chain");
    // A forged head (edited hash) fails the signature.
    writeFileSync(p.log, `${lines.join("\n")}\n`);
    const head = JSON.parse(readFileSync(join(p.state, "head.sig"), "utf8"));
    writeFileSync(join(p.state, "head.sig"), JSON.stringify({ ...head, hash: JSON.parse(lines[5]!).hash }));
    expect(verifyLog(p.log, { stateDir: p.state }).firstBroken?.why).toBe("signed head: bad signature");
  });

  test("open() moves a torn last line aside and the chain continues from the last good entry", () => {
    const p = fresh();
    let log = DecisionLog.open(p.log, { maxBytes: 1 << 20, keep: 3, stateDir: p.state, sign: false });
    writeEpisode(log, 5);
    log.close();
    // A crash mid-write: half a line, no newline.
    const full = readFileSync(p.log, "utf8");
    const lastLine = full.trimEnd().split("\n").pop()!;
    appendFileSync(p.log, lastLine.slice(0, 57));
    expect(verifyLog(p.log).firstBroken).toMatchObject({ line: 6, why: "truncated line (no newline)" });
    log = DecisionLog.open(p.log, { maxBytes: 1 << 20, keep: 3, stateDir: p.state, sign: false });
    expect(log.warnings.length).toBe(1);
    expect(log.warnings[0]).toContain("torn last line (57 bytes)");
    writeEpisode(log, 3);
    log.close();
    expect(verifyLog(p.log)).toMatchObject({ ok: true, entries: 8 });
    const aside = readdirSync(join(p.dir, "log")).filter((f) => f.startsWith("decisions.log.corrupt-"));
    expect(aside.length).toBe(1);
    expect(readFileSync(join(p.dir, "log", aside[0]!), "utf8")).toBe(lastLine.slice(0, 57));
    // An unparsable complete last line (garbage flushed by a crash) goes the same way.
    appendFileSync(p.log, "\u0000\u0000\u0000garbage\n");
    log = DecisionLog.open(p.log, { maxBytes: 1 << 20, keep: 3, stateDir: p.state, sign: false });
    writeEpisode(log, 1);
    log.close();
    expect(verifyLog(p.log)).toMatchObject({ ok: true, entries: 9 });
  });

  test("rotation by size keeps the chain across files and keeps N files", () => {
    const p = fresh();
    const log = DecisionLog.open(p.log, { maxBytes: 4096, keep: 3, stateDir: p.state });
    writeEpisode(log, 12);
    log.close();
    const log2 = DecisionLog.open(p.log, { maxBytes: 4096, keep: 3, stateDir: p.state });
    writeEpisode(log2, 12);
    log2.close();
    const files = logFiles(p.log).map((f) => f.slice(f.lastIndexOf("/") + 1));
    expect(files).toEqual(["decisions.log.3", "decisions.log.2", "decisions.log.1", "decisions.log"]);
    const r = verifyLog(p.log, { stateDir: p.state });
    expect(r.ok).toBe(true);
    expect(r.signature).toBe("verified");
    // Older files were dropped: the oldest kept entry is the anchor, not entry 0.
    const first = JSON.parse(readFileSync(`${p.log}.3`, "utf8").split("\n")[0]!);
    expect(first.seq).toBeGreaterThan(0);
    expect(r.entries).toBe(24 - first.seq);
    for (const f of logFiles(p.log)) expect(readFileSync(f).length).toBeLessThanOrEqual(4096);
    // The link between files is checked: the first line of decisions.log.1 must follow decisions.log.2.
    const one = readFileSync(`${p.log}.1`, "utf8").split("\n");
    writeFileSync(`${p.log}.1`, one.slice(1).join("\n"));
    expect(verifyLog(p.log).firstBroken).toMatchObject({ file: "decisions.log.1", line: 1 });
  });

  test("append() is cheap: no fsync on the append path", () => {
    const p = fresh();
    const log = DecisionLog.open(p.log, { maxBytes: 1 << 30, keep: 3, stateDir: p.state, sign: false });
    const e = levelEntry(makeDecision(2, 1), wallTimeNs(), "node-a");
    const t0 = performance.now();
    for (let i = 0; i < 2000; i++) log.append(e);
    const perAppendUs = ((performance.now() - t0) * 1000) / 2000;
    log.close();
    console.log(`decision log append: ${perAppendUs.toFixed(1)} µs per entry`);
    expect(perAppendUs).toBeLessThan(500);
  });
});
