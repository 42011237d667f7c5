// Property-based fuzzing of every reader of hosa's inputs (docs/robustness.md
// §fuzz): random bytes, truncations, bit flips, huge lines and special files.
// The invariant: the input is read, or refused with one short, escaped line
// and a documented exit code; never another exception, never a hang, never
// unbounded memory; and the input file is left as it was.
//
// Deterministic by default (a fixed seed, so CI is repeatable); explore with
// HOSA_FUZZ_SEED=<n> HOSA_FUZZ_RUNS=<n>. Inputs that once broke a reader are
// kept in test/fixtures/fuzz/ and replayed on every run.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import fc from "fast-check";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadBaseline, saveBaseline } from "../../src/baseline-file.ts";
import { loadConfig } from "../../src/config.ts";
import { Calibrator } from "../../src/engine/calibrate.ts";
import { engineConfigFrom } from "../../src/engine/engine.ts";
import { EXIT, HosaError } from "../../src/errors.ts";
import { openRecording } from "../../src/recording/open.ts";
import { ProtoRecordingWriter } from "../../src/recording/protobuf.ts";
import { DecisionLog, levelEntry, verifyLog } from "../../src/report/decision-log.ts";
import { Outbox } from "../../src/report/outbox.ts";
import { readDecisionLog } from "../../src/cortex/cortex.ts";
import { Journal } from "../../src/respond/journal.ts";
import { defaultConfig } from "../../src/config.ts";
import { makeDecision } from "../report/helpers.ts";
import { REPO, runHosa } from "../harness.ts";

setDefaultTimeout(120_000);
const SEED = Number(process.env.HOSA_FUZZ_SEED ?? 20261201);
const RUNS = Number(process.env.HOSA_FUZZ_RUNS ?? 100);
const CORPUS = join(REPO, "test/fixtures/fuzz");
/** A reader that takes longer than this on a few KiB has hung; this is a hang detector, not a speed test. */
const HANG_MS = 5000;
const MAX_RSS = 1.5 * 2 ** 30;

const root = mkdtempSync(join(tmpdir(), `hosa-fuzz-${process.pid}-`));
afterAll(() => rmSync(root, { recursive: true, force: true }));
process.env.HOSA_PIPE_IDLE_MS = "300";

type Reader = { kind: string; name: string; exits: number[]; read: (path: string) => Promise<void> | void; seed: () => Uint8Array; cli: (path: string) => string[] };

// --- valid seeds, mutated by the properties --------------------------------

function csvSeed(): Uint8Array {
  let t = "timestamp,mem_used_ratio,cpu_busy_ratio\n";
  for (let i = 0; i < 40; i++) t += `${1700000000 + i},${(0.3 + (i % 5) * 0.01).toFixed(3)},${(0.2 + (i % 3) * 0.02).toFixed(3)}\n`;
  return new TextEncoder().encode(t);
}

function protoSeed(): Uint8Array {
  const p = join(root, "seed.rec");
  const w = new ProtoRecordingWriter(p, { hosaVersion: "fuzz", dims: [{ name: "a", unit: "", loadSign: 1 }, { name: "b", unit: "", loadSign: -1 }], node: null, startedUnixS: 0 });
  for (let i = 0; i < 30; i++) w.write({ t: 100 + i * 0.1, x: new Float64Array([i % 4, (i * 7) % 5]) });
  w.close();
  return readFileSync(p);
}

function baselineSeed(): Uint8Array {
  const dims = [{ name: "a", unit: "", loadSign: 1 as const }, { name: "b", unit: "", loadSign: 1 as const }];
  const cal = new Calibrator(dims, engineConfigFrom(defaultConfig().engine));
  for (let i = 0; i < 50; i++) cal.add({ t: i, x: new Float64Array([i % 3, (i * 5) % 7]) });
  const p = join(root, "seed-baseline.json");
  saveBaseline(p, cal.finish(), "fuzz", 50, "2026-12-01T00:00:00Z");
  return readFileSync(p);
}

function logSeed(): Uint8Array {
  const dir = join(root, "seed-log");
  const p = join(dir, "decisions.log");
  const log = DecisionLog.open(p, { maxBytes: 1 << 20, keep: 2, stateDir: join(dir, "state"), sign: false });
  for (let i = 0; i < 6; i++) log.append(levelEntry(makeDecision(((i % 3) + 1) as 1 | 2 | 3, (i % 3) as 0 | 1 | 2), `2026-12-01T00:00:0${i}.000000000Z`, "fuzz"));
  log.close();
  return readFileSync(p);
}

const tomlSeed = () => new TextEncoder().encode('[sense]\ntick_ms = 100\n\n[engine]\nhold_s = [10, 30, 60, 300]\n\n[[report.webhooks]]\nurl = "http://127.0.0.1:9/x"\n');

const readers: Reader[] = [
  {
    kind: "csv",
    name: "recording (CSV)",
    exits: [EXIT.INPUT],
    read: (p) => {
      for (const _ of openRecording(p).samples());
    },
    seed: csvSeed,
    cli: (p) => ["replay", p, "--calibrate", "10s"],
  },
  {
    kind: "proto",
    name: "recording (protobuf)",
    exits: [EXIT.INPUT],
    read: (p) => {
      for (const _ of openRecording(p).samples());
    },
    seed: protoSeed,
    cli: (p) => ["calibrate", "--from", p, "--out", join(root, "cli-out", "b.json")],
  },
  { kind: "baseline", name: "baseline", exits: [EXIT.INPUT], read: (p) => void loadBaseline(p), seed: baselineSeed, cli: (p) => ["replay", join(REPO, "test/recordings/leak.csv"), "--baseline", p] },
  { kind: "config", name: "config", exits: [EXIT.CONFIG], read: async (p) => void (await loadConfig(p)), seed: tomlSeed, cli: (p) => ["-c", p, "audit", "verify", "/nonexistent"] },
  {
    kind: "log",
    name: "decision log",
    exits: [EXIT.INPUT],
    read: (p) => void verifyLog(p),
    seed: logSeed,
    cli: (p) => ["audit", "verify", p],
  },
  {
    // The cortex reads the same logs (`hosa incident list --log FILE`).
    kind: "incident",
    name: "decision log (incidents)",
    exits: [EXIT.INPUT],
    read: (p) => void readDecisionLog(p, { given: true }),
    seed: logSeed,
    cli: (p) => ["-c", incidentConfig(), "incident", "list", "--log", p],
  },
];

/** A config whose state directory (the incident store) is under this test's temp dir. */
function incidentConfig(): string {
  const p = join(root, "incident.toml");
  writeFileSync(p, `[paths]\nstate_dir = "${root}/incident-state"\nlog_file = "${root}/incident-state/decisions.log"\n`);
  return p;
}

// --- the invariant -----------------------------------------------------------

let caseNo = 0;
function place(bytes: Uint8Array, name = "input"): string {
  const dir = join(root, `c${caseNo++}`);
  mkdirSync(dir);
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

/**
 * HOSA_FUZZ_SAVE=<dir>: keep the last (after shrinking, the smallest) input
 * that broke each property there, named for the corpus.
 */
const SAVE = process.env.HOSA_FUZZ_SAVE;
let lastFailure: string | null = null;
function saveFailure(r: Reader, what: string): void {
  if (!SAVE || !lastFailure) return;
  const bytes = readFileSync(lastFailure);
  mkdirSync(SAVE, { recursive: true });
  writeFileSync(join(SAVE, `${r.kind}-${what}-${createHash("sha256").update(bytes).digest("hex").slice(0, 8)}`), bytes);
  lastFailure = null;
}

/** Read `path` with `r`: success, or a HosaError of one short escaped line and one of the reader's exit codes. */
async function holds(r: Reader, path: string, checkUnchanged = true): Promise<void> {
  try {
    await holdsOnce(r, path, checkUnchanged);
  } catch (e) {
    lastFailure = path;
    throw e;
  }
}

async function holdsOnce(r: Reader, path: string, checkUnchanged: boolean): Promise<void> {
  const before = checkUnchanged ? sha(path) : "";
  const t0 = performance.now();
  try {
    await r.read(path);
  } catch (e) {
    if (!(e instanceof HosaError)) throw new Error(`${r.name}: ${path}: not a HosaError: ${(e as Error)?.stack ?? e}`);
    expect(e.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    expect(e.message.length).toBeLessThan(1200);
    if (!r.exits.includes(e.exitCode)) throw new Error(`${r.name}: ${path}: exit ${e.exitCode} for "${e.message}"`);
  }
  expect(performance.now() - t0).toBeLessThan(HANG_MS);
  expect(process.memoryUsage().rss).toBeLessThan(MAX_RSS);
  if (checkUnchanged) expect(sha(path)).toBe(before);
}

// --- mutations of a valid input ----------------------------------------------

type Mutation = (b: Uint8Array) => Uint8Array;
const mutation = (seedLen: number): fc.Arbitrary<Mutation> =>
  fc.oneof(
    fc.nat({ max: seedLen }).map((n) => (b: Uint8Array) => b.subarray(0, n)),
    fc.array(fc.tuple(fc.nat({ max: seedLen - 1 }), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 }).map((flips) => (b: Uint8Array) => {
      const c = Uint8Array.from(b);
      for (const [i, bit] of flips) c[i % c.length]! ^= 1 << bit;
      return c;
    }),
    fc.tuple(fc.nat({ max: seedLen }), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([at, junk]) => (b: Uint8Array) => Buffer.concat([b.subarray(0, at), junk, b.subarray(at)])),
    fc.tuple(fc.nat({ max: seedLen }), fc.constantFrom("9", ",", "\n", "\u001b", "x", "1e309,", "\"", "=", "{")).map(([at, ch]) => (b: Uint8Array) =>
      Buffer.concat([b.subarray(0, at), Buffer.from(ch.repeat(ch === "\n" ? 3 : 300_000)), b.subarray(at)]),
    ),
    fc.tuple(fc.nat({ max: seedLen }), fc.nat({ max: seedLen })).map(([a, z]) => (b: Uint8Array) => Buffer.concat([b.subarray(0, Math.min(a, z)), b.subarray(Math.max(a, z))])),
  );

describe("fuzz: every reader keeps its promise", () => {
  for (const r of readers) {
    test(`${r.name}: random bytes`, async () => {
      try {
        await fc.assert(
          fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), async (bytes) => holds(r, place(bytes))),
          { seed: SEED, numRuns: Math.ceil(RUNS / 3) },
        );
      } finally {
        saveFailure(r, "random");
      }
    });

    test(`${r.name}: truncations, bit flips, insertions, huge lines, cuts`, async () => {
      const seed = r.seed();
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(mutation(seed.length), { minLength: 1, maxLength: 3 }), async (ms) => {
            let b = seed;
            for (const m of ms) b = m(b.length > 0 ? b : seed);
            await holds(r, place(b));
          }),
          { seed: SEED, numRuns: RUNS },
        );
      } finally {
        saveFailure(r, "mutated");
      }
    });

    test(`${r.name}: special files are refused, not read`, async () => {
      const dir = join(root, `special-${r.name.replace(/\W/g, "")}`);
      mkdirSync(dir);
      const fifo = join(dir, "fifo");
      expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
      const loop = join(dir, "loop");
      symlinkSync(loop, loop);
      for (const p of [fifo, "/dev/zero", "/dev/urandom", dir, loop, join(dir, "missing")]) {
        let message = "";
        try {
          await r.read(p);
        } catch (e) {
          if (!(e instanceof HosaError)) throw e;
          message = e.message;
          expect(r.exits).toContain(e.exitCode);
        }
        expect(message).toMatch(/FIFO with no writer|character device|is a directory|symbolic links|no such file/);
      }
    });
  }
});

describe("fuzz: the agent's own state files", () => {
  test("journal: any content loads, each bad line one warning, never an exception", () => {
    const seed =
      '{"op":"set","id":"a1","t":1,"level":3,"dir":"memory/x","file":"memory.limit_in_bytes","prev":"9223372036854771712","value":"1000"}\n' +
      '{"op":"done","key":"cgroup:memory/x/memory.limit_in_bytes","outcome":"restored"}\n';
    const p = join(root, "journal");
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 1024 }),
          fc.tuple(fc.nat({ max: seed.length }), fc.string({ maxLength: 80 })).map(([at, ins]) => Buffer.from(seed.slice(0, at) + ins + seed.slice(at))),
        ),
        (bytes) => {
          writeFileSync(p, bytes);
          const { warnings } = Journal.open(p).load();
          for (const w of warnings) expect(w).not.toMatch(/[\u0000-\u001f]/);
        },
      ),
      { seed: SEED, numRuns: RUNS * 2 },
    );
  });

  test("outbox: a damaged message file is dropped with a warning, never blocks the ones behind it", async () => {
    let got = 0;
    const srv = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => (got++, new Response("ok")) });
    try {
      const cases = fc.sample(
        fc.oneof(
          fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
          fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? "null")),
          fc.record({ key: fc.oneof(fc.string(), fc.integer()), url: fc.oneof(fc.integer(), fc.constant(null)), body: fc.string() }).map((v) => Buffer.from(JSON.stringify(v))),
        ),
        { seed: SEED, numRuns: 12 },
      );
      for (const bad of cases) {
        const dir = join(root, `box-${caseNo++}`);
        mkdirSync(dir);
        writeFileSync(join(dir, "0000000000000001.json"), bad);
        writeFileSync(join(dir, "0000000000000002.json"), JSON.stringify({ key: "good", createdAt: "x", url: `http://127.0.0.1:${srv.port}/`, headers: {}, body: "{}" }));
        const box = Outbox.open(dir, { maxMessages: 10, backoffBaseMs: 10, backoffCapMs: 50 });
        const before = got;
        box.start();
        const end = Date.now() + 5000;
        while (box.depth() > 0 && Date.now() < end) await Bun.sleep(10);
        await box.stop();
        expect(box.depth()).toBe(0);
        expect(got - before).toBeGreaterThanOrEqual(1);
      }
    } finally {
      srv.stop(true);
    }
  });
});

describe("fuzz corpus: inputs that once broke a reader stay fixed", () => {
  const byReader = Object.fromEntries(readers.map((r) => [r.kind, r]));
  const files = readdirSync(CORPUS).filter((f) => !f.endsWith(".md"));
  test("the corpus is there", () => expect(files.length).toBeGreaterThan(5));
  for (const f of files) {
    const kind = f.split("-")[0]!;
    test(`${f} is refused in one line`, async () => {
      const r = byReader[kind];
      if (!r) throw new Error(`${f}: name it <csv|proto|baseline|config|log|incident>-<what>`);
      await holds(r, join(CORPUS, f));
      let refused = false;
      try {
        await r.read(join(CORPUS, f));
        // verifyLog reports a broken chain as a result, not an exception.
        if (kind === "log") refused = !verifyLog(join(CORPUS, f)).ok;
      } catch {
        refused = true;
      }
      expect(refused).toBe(true);
    });
  }
});

describe("fuzz through the binary: a sample of cases, one line on stderr and a documented exit code", () => {
  test("mutated inputs through dist/hosa", () => {
    mkdirSync(join(root, "cli-out"), { recursive: true });
    for (const [k, r] of readers.entries()) {
      const seed = r.seed();
      const cases = fc.sample(fc.array(mutation(seed.length), { minLength: 1, maxLength: 2 }), { seed: SEED + k, numRuns: 4 });
      for (const ms of cases) {
        let b = seed;
        for (const m of ms) b = m(b.length > 0 ? b : seed);
        const p = place(b);
        const res = runHosa(r.cli(p), { env: { HOSA_CONFIG: join(root, "none.toml") }, timeoutMs: 30_000 });
        // Past the reader: replay may find too few samples (1), a verify a broken chain (7).
        const ok = r.kind === "config" ? [EXIT.INPUT] : [EXIT.OK, EXIT.FAILURE, EXIT.INPUT, ...(r.kind === "log" ? [EXIT.TAMPERED] : [])];
        if (![...ok, ...r.exits].includes(res.code)) throw new Error(`${r.name}: exit ${res.code}: ${res.stderr}`);
        if (res.code !== 0) {
          expect(res.stderr).toMatch(/^hosa: [^\n]*\n$/);
          expect(res.stderr).not.toContain("internal error");
        }
        expect(res.stderr).not.toMatch(/\n\s+at /);
      }
    }
  });
});
