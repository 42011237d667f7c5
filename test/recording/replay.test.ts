import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CsvRecordingWriter } from "../../src/recording/csv.ts";
import { ProtoRecordingWriter } from "../../src/recording/protobuf.ts";
import { golden, REPO, runHosa, tempDir } from "../harness.ts";
import { leakRecording, synthDims, type LeakStory } from "../recordings/synthetic.ts";

// The golden story: short enough to commit, long enough to see every level
// go up and come back down (the 5-minute hold at Level 4 included).
const GOLDEN_STORY: LeakStory = { seed: 7, calmS: 120, leakS: 30, afterS: 480, tickS: 0.1, leakMBps: 50 };
const GOLDEN_CSV = join(REPO, "test/recordings/leak.csv");

setDefaultTimeout(60_000);

let tmp: ReturnType<typeof tempDir>;
let csvPath: string;
let protoPath: string;

beforeAll(() => {
  tmp = tempDir();
  csvPath = join(tmp.dir, "leak.csv");
  protoPath = join(tmp.dir, "leak.rec");
  const dims = synthDims();
  const csv = new CsvRecordingWriter(csvPath, dims);
  const proto = new ProtoRecordingWriter(protoPath, { hosaVersion: "test", dims, node: null, startedUnixS: 0 });
  for (const s of leakRecording(GOLDEN_STORY)) {
    csv.write(s);
    proto.write(s);
  }
  csv.close();
  proto.close();
  if (process.env.UPDATE_GOLDEN) writeFileSync(GOLDEN_CSV, readFileSync(csvPath));
});
afterAll(() => tmp.cleanup());

describe("hosa replay", () => {
  test("CSV and protobuf recordings of the same samples give identical decisions", () => {
    const a = runHosa(["replay", csvPath, "--calibrate", "90s", "--json"]);
    const b = runHosa(["replay", protoPath, "--calibrate", "90s", "--json"]);
    expect(a.stderr).toBe("");
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    const lines = a.stdout.trim().split("\n").map((l) => JSON.parse(l));
    // 90 s of 630 s learned; the rest judged, one object per sample.
    expect(lines.length).toBeGreaterThan(5000);
    expect(lines[0]).toHaveProperty("t");
    expect(lines[0]).toHaveProperty("level");
    expect(lines[0]).toHaveProperty("d_m");
    expect(lines[0]).toHaveProperty("dominant_dims");
    // 50 MB/s for 30 s on a 24 GiB node is a surprise, not a danger: memory
    // would last another ~400 s, past the 120 s horizon, so no containment.
    const max = Math.max(...lines.map((l) => l.level));
    expect(max).toBe(2);
    expect(lines.every((l) => l.danger_ttf_s === null || l.danger_ttf_s >= 120)).toBe(true);
    // The leak starts at t=1120 s; the engine must notice it within 2 s.
    const firstAlarm = lines.find((l) => l.level >= 1);
    expect(firstAlarm.t).toBeGreaterThanOrEqual(1119.9);
    expect(firstAlarm.t).toBeLessThan(1122);
    // And come back down to homeostasis by the end, step by step.
    expect(lines[lines.length - 1].level).toBe(0);
    for (let i = 1; i < lines.length; i++) expect(lines[i].level).toBeGreaterThanOrEqual(lines[i - 1].level - 1);
  });

  test("same input, same output, byte for byte", () => {
    const a = runHosa(["replay", protoPath, "--calibrate", "90s", "--json"]);
    const b = runHosa(["replay", protoPath, "--calibrate", "90s", "--json"]);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout.length).toBeGreaterThan(0);
  });

  test("golden decisions for test/recordings/leak.csv", () => {
    const r = runHosa(["replay", GOLDEN_CSV, "--calibrate", "90s", "--json"]);
    expect(r.code).toBe(0);
    const changes = r.stdout
      .trim()
      .split("\n")
      .filter((l) => {
        const o = JSON.parse(l);
        return o.level !== o.previous_level;
      })
      .join("\n");
    expect(`${changes}\n`).toBe(golden("leak.decisions.jsonl", `${changes}\n`));
  });

  test("human output is a table of level changes", () => {
    const r = runHosa(["replay", csvPath, "--calibrate", "90s"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("HOMEOSTASIS");
    expect(r.stdout).toContain("VIGILANCE");
    expect(r.stdout).toMatch(/highest level \d/);
  });

  test("calibrate --from writes a baseline that replay --baseline uses", () => {
    const base = join(tmp.dir, "baseline.json");
    const c = runHosa(["calibrate", "--from", csvPath, "--span", "90s", "--out", base, "--json"]);
    expect(c.stderr).toBe("");
    expect(c.code).toBe(0);
    const summary = JSON.parse(c.stdout);
    expect(summary.samples).toBeGreaterThan(800);
    expect(summary.thresholds.theta1).toBeLessThan(summary.thresholds.theta4);
    // 90 s of 100 ms samples: too short to support its thresholds, and it says so.
    expect(summary.supported).toBe(false);
    expect(summary.warnings[0]).toMatch(/^the calibration spans 9\d s, less than 120 s: too short to know this node$/);
    expect(summary.false_alarms_per_day.length).toBe(4);
    const human = runHosa(["calibrate", "--from", csvPath, "--span", "90s", "--out", base]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain("expected false alarms on data like these: Level ≥ 1 1/day, ≥ 2 1 per 10 days, D_M > θ3 1 per year, > θ4 1 per 10 years\n");
    expect(human.stderr).toContain("hosa: warning: this baseline does not support its thresholds: hosa run will detect and log, but not act, until it is recalibrated\n");
    const withBase = runHosa(["replay", csvPath, "--baseline", base, "--json"]);
    expect(withBase.code).toBe(0);
    const lines = withBase.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(Math.max(...lines.map((l) => l.level))).toBe(2);
  });
});

describe("bad input: one line naming the file and the line, exit 4", () => {
  const cases: [string, string | Uint8Array, RegExp][] = [
    ["empty.csv", "", /empty file/],
    ["nonnumeric.csv", "t,a,b\n1,2,3\n2,x,4\n", /line 3: column 2: a "x" is not a number/],
    ["backwards.csv", "t,a,b\n1,2,3\n3,2,3\n2,2,3\n", /line 4: timestamp 2 goes backwards/],
    ["width.csv", "t,a,b\n1,2,3\n2,2\n", /line 3: 2 columns, header has 3/],
    ["short.csv", "t,a\n1\n", /line 2: 1 column, header has 2\n/],
    ["headeronly.csv", "t,a,b\n", /no samples after the header row/],
    ["badtime.csv", "t,a\nyesterday,1\n", /line 2: timestamp "yesterday"/],
    ["binary.bin", new Uint8Array([0, 1, 2, 3, 0, 9]), /not a hosa recording/],
    ["truncated.rec", new Uint8Array([...new TextEncoder().encode("HOSAREC1"), 0x40, 1, 2]), /record 1: header truncated/],
  ];
  for (const [name, content, want] of cases) {
    test(name, () => {
      const { dir, cleanup } = tempDir();
      try {
        const p = join(dir, name);
        writeFileSync(p, content);
        const r = runHosa(["replay", p, "--calibrate", "10s"]);
        expect(r.code).toBe(4);
        expect(r.stdout).toBe("");
        expect(r.stderr.trim().split("\n")).toHaveLength(1);
        expect(r.stderr).toStartWith(`hosa: cannot read recording ${p}`);
        expect(r.stderr).toMatch(want);
      } finally {
        cleanup();
      }
    });
  }

  test("missing file", () => {
    const r = runHosa(["replay", "/nonexistent/x.csv"]);
    expect(r.code).toBe(4);
    expect(r.stderr).toBe("hosa: cannot read recording /nonexistent/x.csv: no such file\n");
  });

  test("ISO-8601 timestamps are accepted", () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = join(dir, "iso.csv");
      let text = "timestamp,a,b\n";
      for (let i = 0; i < 40; i++) text += `2026-11-24T02:00:${String(i).padStart(2, "0")}Z,${(i * 7) % 5},${(i * 3) % 4}\n`;
      writeFileSync(p, text);
      const r = runHosa(["replay", p, "--calibrate", "20s", "--json"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const first = JSON.parse(r.stdout.split("\n")[0]);
      // As in the agent's warm-up, the sample 20 s after the first is still learned; judging starts after it.
      expect(first.t).toBe(Date.parse("2026-11-24T02:00:21Z") / 1000);
    } finally {
      cleanup();
    }
  });

  test("a baseline learned on other dimensions is refused", () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = join(dir, "a.csv");
      writeFileSync(p, "t,a,b\n1,1,2\n2,2,1\n3,1,1\n");
      const base = join(dir, "b.json");
      expect(runHosa(["calibrate", "--from", p, "--out", base]).code).toBe(0);
      const q = join(dir, "c.csv");
      writeFileSync(q, "t,a,c\n1,1,2\n2,2,1\n");
      const r = runHosa(["replay", q, "--baseline", base]);
      expect(r.code).toBe(4);
      expect(r.stderr).toContain("learned on dimensions [a, b]");
    } finally {
      cleanup();
    }
  });
});
