// Every input refused in one true line, every output safe in a pipe: the
// built binary, stdout, stderr and exit code together (docs/robustness.md).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { appendFileSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DecisionLog, levelEntry } from "../../src/report/decision-log.ts";
import { hosaExe, REPO, runHosa, tempDir, writeTestConfig } from "../harness.ts";
import { makeDecision } from "../report/helpers.ts";

setDefaultTimeout(60_000);
let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir(`hosa-errors-${process.pid}-`);
});
afterAll(() => tmp.cleanup());

/** A 5-minute series with a daylight-saving hour collapsed onto one stamp, as ../shared/datasets' ec2_network_in_5abac7 has. */
function dstSeries(): string {
  let text = "timestamp,value\n";
  const t0 = Date.parse("2014-03-08T00:00:00Z");
  for (let i = 0; i < 600; i++) {
    let t = t0 + i * 300_000;
    if (i >= 324 && i < 336) t = t0 + 336 * 300_000;
    text += `${new Date(t).toISOString().replace(".000", "")},${50 + ((i * 37) % 11)}\n`;
  }
  return text;
}

describe("usage", () => {
  test("no command: usage on stderr, exit 2", () => {
    const r = runHosa([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toStartWith("Usage: hosa [options] [command]");
    const sub = runHosa(["audit"]);
    expect({ code: sub.code, stdout: sub.stdout }).toEqual({ code: 2, stdout: "" });
    expect(sub.stderr).toStartWith("Usage: hosa audit");
    expect(runHosa(["help"]).code).toBe(0);
    expect(runHosa(["--help"]).code).toBe(0);
  });

  test("a mistyped command or flag gets the near miss, on one line, exit 2", () => {
    expect(runHosa(["replya"])).toEqual({ code: 2, stdout: "", stderr: "hosa: unknown command 'replya' (Did you mean replay?)\n" });
    expect(runHosa(["replay", "--jsno", "x"])).toEqual({ code: 2, stdout: "", stderr: "hosa: unknown option '--jsno' (Did you mean --json?)\n" });
    expect(runHosa(["replay", "x", "--unordered", "shuffle"])).toEqual({ code: 2, stdout: "", stderr: 'hosa: invalid --unordered "shuffle": expected drop or sort\n' });
  });
});

describe("pipes", () => {
  test("replay | head ends quietly with 0 (EPIPE), human and JSON output alike", () => {
    for (const json of ["--json", ""]) {
      const r = Bun.spawnSync(
        ["bash", "-c", `"$1" replay "$2" --calibrate 90s ${json} 2>"$3" | head -c 200 >/dev/null; echo "\${PIPESTATUS[0]}"; cat "$3"`, "_", hosaExe(), join(REPO, "test/recordings/leak.csv"), join(tmp.dir, "err")],
        { env: { ...process.env, NO_COLOR: "1" } },
      );
      expect(r.stdout.toString()).toBe("0\n");
    }
  });

  test("a recording from standard input or a process substitution, equal stamps and all", () => {
    const p = join(tmp.dir, "dst.csv");
    writeFileSync(p, dstSeries());
    const file = runHosa(["replay", p, "--calibrate", "1d", "--json"]);
    expect(file.stderr).toBe("");
    expect(file.code).toBe(0);
    expect(file.stdout.split("\n").length).toBeGreaterThan(250);
    const stdin = Bun.spawnSync(["bash", "-c", `cat "$2" | "$1" replay - --calibrate 1d --json`, "_", hosaExe(), p]);
    expect(stdin.exitCode).toBe(0);
    expect(stdin.stdout.toString()).toBe(file.stdout);
    const subst = Bun.spawnSync(["bash", "-c", `"$1" replay <(cat "$2") --calibrate 1d --json`, "_", hosaExe(), p]);
    expect(subst.exitCode).toBe(0);
    expect(subst.stdout.toString()).toBe(file.stdout);
  });
});

describe("one line, the file and where, exit 4", () => {
  test("a clock that steps back: refused, or dropped and counted with --unordered", () => {
    const p = join(tmp.dir, "back.csv");
    let text = "t,a\n";
    for (let i = 0; i < 100; i++) text += `${i === 50 ? 40 : i},${i % 7}\n`;
    writeFileSync(p, text);
    const r = runHosa(["replay", p, "--calibrate", "20s"]);
    expect(r).toEqual({
      code: 4,
      stdout: "",
      stderr: `hosa: cannot read recording ${p}: line 52: timestamp 40 goes backwards (line 51 has 49); --unordered drop or sort accepts a clock that steps back\n`,
    });
    const d = runHosa(["replay", p, "--calibrate", "20s", "--unordered", "drop", "--json"]);
    expect(d.code).toBe(0);
    expect(d.stderr).toBe(`hosa: ${p}: dropped 1 of 100 samples stamped before the one ahead of them (the first at line 52)\n`);
    const c = runHosa(["calibrate", "--from", p, "--unordered", "sort", "--out", join(tmp.dir, "b.json"), "--json"]);
    expect(c.code).toBe(0);
    expect(c.stderr).toBe(`hosa: ${p}: sorted by time, 1 of 100 samples moved (the first at line 52)\n`);
  });

  test("Infinity in calibrate --from names the file, the line and the column", () => {
    const p = join(tmp.dir, "inf.csv");
    writeFileSync(p, "t,a,b\n1,1,1\n2,2,1e309\n");
    expect(runHosa(["calibrate", "--from", p, "--out", join(tmp.dir, "x.json")])).toEqual({
      code: 4,
      stdout: "",
      stderr: `hosa: cannot read recording ${p}: line 3: column 3: b "1e309" is not a finite number\n`,
    });
  });

  test("a TOML syntax error names its line and column, exit 3", () => {
    const cfg = join(tmp.dir, "bad.toml");
    writeFileSync(cfg, "[engine]\ncalibration_s = 60\nhold_s = [1, 2,\n");
    const r = runHosa(["-c", cfg, "replay", "x.csv"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`^hosa: cannot load ${cfg}: line 4, column \\d+: [^\\n]+\\n$`));
  });

  test("special files are refused before a byte is read", () => {
    for (const [path, why] of [
      ["/dev/zero", "is a character device, not a regular file"],
      [tmp.dir, "is a directory"],
    ]) {
      expect(runHosa(["replay", path!])).toEqual({ code: 4, stdout: "", stderr: `hosa: cannot read recording ${path}: ${why}\n` });
      expect(runHosa(["replay", join(REPO, "test/recordings/leak.csv"), "--baseline", path!])).toEqual({
        code: 4,
        stdout: "",
        stderr: `hosa: cannot load baseline ${path}: ${why}\n`,
      });
    }
  });

  test("decision logs that are empty, compressed or binary are never \"ok\"", () => {
    const empty = join(tmp.dir, "empty.log");
    writeFileSync(empty, "");
    expect(runHosa(["audit", "verify", empty])).toEqual({ code: 4, stdout: "", stderr: `hosa: cannot verify ${empty}: empty log: no entry to verify\n` });
    expect(runHosa(["explain", "--log", empty])).toEqual({ code: 4, stdout: "", stderr: `hosa: cannot explain ${empty}: empty log: no entries\n` });
    const gz = join(tmp.dir, "gz.log");
    writeFileSync(gz, Bun.gzipSync(Buffer.from('{"a":1}\n')));
    expect(runHosa(["audit", "verify", gz])).toEqual({ code: 4, stdout: "", stderr: `hosa: cannot verify ${gz}: not a hosa decision log: gzip-compressed (decompress it first)\n` });
    const bin = join(tmp.dir, "bin.log");
    writeFileSync(bin, new Uint8Array([0x10, 0x00, 0xff, 0x7f, 0x0a]));
    expect(runHosa(["explain", "--log", bin])).toEqual({ code: 4, stdout: "", stderr: `hosa: cannot read ${bin}: not a hosa decision log: binary data\n` });
  });

  test("every log reader names a symlink loop, and a file of blank lines is not a decision log", () => {
    const loop = join(tmp.dir, "loop.log");
    symlinkSync(loop, loop);
    const why = "too many levels of symbolic links (a symlink loop?)";
    expect(runHosa(["audit", "verify", loop])).toEqual({ code: 4, stdout: "", stderr: `hosa: cannot verify ${loop}: ${why}\n` });
    expect(runHosa(["explain", "--log", loop])).toEqual({ code: 4, stdout: "", stderr: `hosa: cannot read ${loop}: ${why}\n` });
    const blank = join(tmp.dir, "blank.log");
    writeFileSync(blank, "\n\n \n");
    expect(runHosa(["audit", "verify", blank])).toEqual({ code: 4, stdout: "", stderr: `hosa: cannot verify ${blank}: not a hosa decision log: only blank lines\n` });
  });

  test("incident --log: a log that is not one is refused in one line, a torn line is said", () => {
    const dir = join(tmp.dir, "incident");
    mkdirSync(dir);
    const cfg = join(dir, "hosa.toml");
    writeFileSync(cfg, `[paths]\nstate_dir = "${dir}/state"\nlog_file = "${dir}/decisions.log"\n`);
    const incident = (p: string) => runHosa(["-c", cfg, "incident", "list", "--log", p], { env: { HOSA_PIPE_IDLE_MS: "300" } });
    const at = (name: string, bytes: string | Uint8Array) => (writeFileSync(join(dir, name), bytes), join(dir, name));
    const fifo = join(dir, "fifo.log");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    const loop = join(dir, "loop.log");
    symlinkSync(loop, loop);
    for (const [p, why] of [
      [at("empty.log", ""), "empty log: no entries"],
      [at("gz.log", Bun.gzipSync(Buffer.from('{"a":1}\n'))), "not a hosa decision log: gzip-compressed (decompress it first)"],
      [at("bin.log", new Uint8Array([0x10, 0x00, 0xff, 0x7f, 0x0a])), "not a hosa decision log: binary data"],
      [fifo, "a FIFO with no writer (nothing came in 0.3 s)"],
      [tmp.dir, "is a directory"],
      [loop, "too many levels of symbolic links (a symlink loop?)"],
      [join(dir, "missing.log"), "no such file"],
    ] as const) {
      expect(incident(p)).toEqual({ code: 4, stdout: "", stderr: `hosa: cannot read ${p}: ${why}\n` });
    }
    const torn = join(dir, "torn.log");
    const log = DecisionLog.open(torn, { maxBytes: 1 << 20, keep: 2, stateDir: join(dir, "log-state"), sign: false });
    log.append(levelEntry(makeDecision(1, 0), "2026-12-01T00:00:00.000000000Z", "node"));
    log.close();
    appendFileSync(torn, '{"kind":"level","times');
    const r = incident(torn);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`hosa: ${torn}: 1 line left out (torn, or not JSON)\n`);
  });

  test("a log's fields never reach the terminal as control characters", () => {
    const p = join(tmp.dir, "ctl", "decisions.log");
    const log = DecisionLog.open(p, { maxBytes: 1 << 20, keep: 2, stateDir: join(tmp.dir, "ctl", "state"), sign: false });
    log.append(levelEntry(makeDecision(1, 0, { reason: "\u001b]0;owned\u0007\u001b[2J" }), "2026-12-01T00:00:00.000000000Z", "node\u001b[31m"));
    log.close();
    const r = runHosa(["explain", "--log", p]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
    expect(r.stdout).toContain("\\x1b]0;owned\\x07\\x1b[2J");
  });
});

/**
 * The screen a terminal `cols` wide shows after `text`: "\r" goes back to the
 * start of the row, "\n" down a row, and a character written past the last
 * column wraps to the next row first (as xterm and the Linux console do).
 */
function terminal(text: string, cols: number): string[] {
  const rows: string[][] = [[]];
  let row = 0;
  let col = 0;
  for (const ch of text) {
    if (ch === "\r") col = 0;
    else if (ch === "\n") {
      row++;
      rows[row] ??= [];
    } else {
      if (col === cols) {
        row++;
        col = 0;
        rows[row] ??= [];
      }
      rows[row]![col++] = ch;
    }
  }
  return rows.map((r) => Array.from(r, (c) => c ?? " ").join("").trimEnd());
}

describe.skipIf(process.getuid?.() !== 0)("a terminal (a pty, through script)", () => {
  test("calibrate's progress bar ends as one clean line, in a wide and in a narrow terminal", () => {
    const cfg = writeTestConfig(tmp.dir);
    for (const cols of [100, 44]) {
      const run = Bun.spawnSync(["script", "-qfec", `stty cols ${cols} rows 50; exec ${hosaExe()} -c ${cfg} calibrate --duration 3s`, "/dev/null"], {
        stdout: "pipe",
        stderr: "pipe",
        stdin: "ignore",
        env: { ...process.env, NO_COLOR: "1", SHELL: "/bin/sh" },
      });
      const screen = terminal(run.stdout.toString(), cols);
      // The progress rows, and what a wrapped one leaves on the next row ("mples  0 s left").
      const bars = screen.filter((l) => /^\[[#.]|\d+%  \d|s left$/.test(l));
      expect(bars).toHaveLength(1);
      const full = /^\[#{30}\] 100%  \d+ samples  0 s left$/;
      if (cols === 100) expect(bars[0]).toMatch(full);
      else {
        expect(bars[0]!.length).toBe(cols - 1);
        expect(bars[0]).toStartWith("[##############################] 100%  ");
      }
      expect(screen.some((l) => l.startsWith("baseline written to"))).toBe(true);
    }
  });
});
