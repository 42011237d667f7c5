import { describe, expect, test } from "bun:test";
import { HosaError } from "./errors.ts";
import { defaultConfig, EDGE_DIMENSIONS, parseConfig, profileConfig } from "./config.ts";
import { ALL_DIMENSIONS } from "./sense/dimensions.ts";
import { defaultEngineConfig, engineConfigFrom } from "./engine/engine.ts";

function error(text: string): HosaError {
  try {
    parseConfig(text, "hosa.toml");
  } catch (e) {
    return e as HosaError;
  }
  throw new Error("expected an error");
}

describe("parseConfig()", () => {
  test("an empty file is all defaults, detection-only", () => {
    const c = parseConfig("", "hosa.toml");
    expect(c).toEqual(defaultConfig());
    expect(c.respond.mode).toBe("detect");
  });

  test("keys override defaults, snake_case to camelCase", () => {
    const c = parseConfig('[sense]\ntick_ms = 50\n[respond]\nmode = "act"\nsafelist = ["postgres"]\n', "hosa.toml");
    expect(c.sense.tickMs).toBe(50);
    expect(c.respond.mode).toBe("act");
    expect(c.respond.safelist).toEqual(["postgres"]);
    expect(c.sense.vigilanceTickMs).toBe(10);
  });

  test("an unknown key names its line", () => {
    const e = error("[sense]\n\ntick_mz = 100\n");
    expect(e.message).toBe('cannot load hosa.toml: line 3: unknown key "tick_mz" in [sense]');
    expect(e.exitCode).toBe(3);
  });

  test("wrong types, enums, negative numbers and unknown sections are refused", () => {
    expect(error('[sense]\ntick_ms = "fast"\n').message).toContain('"tick_ms" must be a number');
    expect(error('[respond]\nmode = "kill"\n').message).toContain('"mode" must be one of detect, act');
    expect(error("[engine]\nshrinkage = -1\n").message).toContain("non-negative");
    expect(error("[engine]\nhold_s = [1, 2]\n").message).toContain("must have 4 numbers");
    // Infinity and NaN are TOML numbers too (inf, nan, 1e309), in arrays as well.
    expect(error("[engine]\ncalibration_s = inf\n").message).toBe('cannot load hosa.toml: line 2: "calibration_s" must be a finite, non-negative number, not Infinity');
    expect(error("[sense]\n\ntick_ms = nan\n").message).toBe('cannot load hosa.toml: line 3: "tick_ms" must be a finite, non-negative number, not NaN');
    expect(error("[engine]\nhold_s = [10, inf, 20, 20]\n").message).toBe('cannot load hosa.toml: line 2: "hold_s" must hold finite, non-negative numbers, not Infinity (item 2)');
    expect(error("[engine]\nescalate_after_s = [0, 0.3, -1, 0.3, 0]\n").message).toContain('"escalate_after_s" must hold finite, non-negative numbers, not -1 (item 3)');
    expect(error("[bogus]\nx = 1\n").message).toContain("unknown section [bogus]");
    expect(error("[sense\n").message).toStartWith("cannot load hosa.toml: ");
  });

  test('[sense] probes is "lean" by default, "full" on request, anything else refused with its line', () => {
    expect(defaultConfig().sense.probes).toBe("lean");
    expect(parseConfig('[sense]\nprobes = "full"\n', "hosa.toml").sense.probes).toBe("full");
    const e = error('[sense]\ntick_ms = 100\nprobes = "some"\n');
    expect(e.message).toBe('cannot load hosa.toml: line 3: "probes" must be one of lean, full');
    expect(e.exitCode).toBe(3);
  });

  test('[sense] sampler is "auto" with a calm batch of 10 by default; "off", and a batch from 1 to 100, on request; anything else refused with its line', () => {
    expect(defaultConfig().sense.sampler).toBe("auto");
    expect(defaultConfig().sense.calmBatch).toBe(10);
    const cfg = parseConfig('[sense]\nsampler = "off"\ncalm_batch = 1\n', "hosa.toml");
    expect(cfg.sense.sampler).toBe("off");
    expect(cfg.sense.calmBatch).toBe(1);
    expect(error('[sense]\nsampler = "on"\n').message).toBe('cannot load hosa.toml: line 2: "sampler" must be one of auto, off');
    expect(error("[sense]\ntick_ms = 100\ncalm_batch = 2.5\n").message).toBe('cannot load hosa.toml: line 3: "calm_batch" must be a whole number from 1 to 100');
    expect(error("[sense]\ncalm_batch = 0\n").message).toBe('cannot load hosa.toml: line 2: "calm_batch" must be a whole number from 1 to 100');
    const e = error("[sense]\ncalm_batch = 101\n");
    expect(e.message).toBe('cannot load hosa.toml: line 2: "calm_batch" must be a whole number from 1 to 100');
    expect(e.exitCode).toBe(3);
  });

  test("[respond] cgroup_scope: a cgroup path as in /proc/self/cgroup; a cgroupfs directory or a relative path refused with its line", () => {
    expect(parseConfig('[respond]\ncgroup_scope = "/system.slice/app.service"\n', "hosa.toml").respond.cgroupScope).toBe("/system.slice/app.service");
    expect(parseConfig('[respond]\ncgroup_scope = ""\n', "hosa.toml").respond.cgroupScope).toBe("");
    expect(error('[respond]\ncgroup_scope = "/sys/fs/cgroup/memory/app"\n').message).toBe(
      'cannot load hosa.toml: line 2: "cgroup_scope" is a cgroup path as in /proc/self/cgroup (e.g. "/system.slice/app.service"), not a cgroupfs directory: drop the mount point from "/sys/fs/cgroup/memory/app"',
    );
    expect(error('[respond]\ncgroup_scope = "/sys/fs/cgroup"\n').message).toContain("not a cgroupfs directory");
    expect(error('[respond]\ncgroup_scope = "app.service"\n').message).toBe('cannot load hosa.toml: line 2: "cgroup_scope" must be a cgroup path starting with "/" (as in /proc/self/cgroup), not "app.service"');
  });

  test("[sense] calm_scan_ms: the watch's scan stretched to 500 ms at calm by default; 0 (every scan) to 1000 on request; anything else refused with its line", () => {
    expect(defaultConfig().sense.calmScanMs).toBe(500);
    expect(parseConfig("[sense]\ncalm_scan_ms = 0\n", "hosa.toml").sense.calmScanMs).toBe(0);
    expect(parseConfig("[sense]\ncalm_scan_ms = 500\n", "hosa.toml").sense.calmScanMs).toBe(500);
    expect(error("[sense]\ncalm_scan_ms = 1001\n").message).toBe('cannot load hosa.toml: line 2: "calm_scan_ms" must be a whole number from 0 to 1000');
    expect(error("[sense]\ncalm_scan_ms = 150.5\n").message).toBe('cannot load hosa.toml: line 2: "calm_scan_ms" must be a whole number from 0 to 1000');
  });

  test("webhooks are checked", () => {
    const ok = parseConfig('[[report.webhooks]]\nurl = "http://127.0.0.1:9/x"\nformat = "alertmanager"\n', "hosa.toml");
    expect(ok.report.webhooks).toEqual([{ url: "http://127.0.0.1:9/x", format: "alertmanager", hmacSecret: "" }]);
    expect(error('[[report.webhooks]]\nurl = "ftp://x"\n').message).toContain("http(s) URL");
  });

  test("a TOML syntax error names its line and column, on one line", () => {
    const e = error("[sense]\ntick_ms = 100\nebpf = = \"off\"\n");
    expect(e.message).toBe("cannot load hosa.toml: line 3, column 8: invalid value");
    expect(e.exitCode).toBe(3);
    expect(error("[sense\n").message).toMatch(/^cannot load hosa\.toml: line 1, column \d+: /);
  });

  test("keys with control characters and inherited names are refused, escaped", () => {
    expect(error('[sense]\n"a\\u001b[2Jb" = 1\n').message).toContain('unknown key "a\\x1b[2Jb" in [sense]');
    expect(error("[toString]\nx = 1\n").message).toContain("unknown section [toString]");
    expect(error("[sense]\nconstructor = 1\n").message).toContain('unknown key "constructor"');
  });

  test("[profile] name = \"edge\": a longer tick, fewer dimensions, a smaller log and outbox, the edge-remote watchdog", () => {
    const c = parseConfig('[profile]\nname = "edge"\n', "hosa.toml");
    expect(c).toEqual(profileConfig("edge"));
    expect(c.profile.name).toBe("edge");
    const d = defaultConfig();
    expect(c.sense.tickMs).toBeGreaterThan(d.sense.tickMs);
    expect(c.sense.vigilanceTickMs).toBeGreaterThan(d.sense.vigilanceTickMs);
    expect(c.sense.dimensions.length).toBeLessThan(18);
    for (const n of c.sense.dimensions) expect(ALL_DIMENSIONS.map((x) => x.name)).toContain(n);
    expect(c.sense.dimensions).toEqual([...EDGE_DIMENSIONS]);
    expect(c.report.outboxMaxMessages).toBeLessThan(d.report.outboxMaxMessages);
    expect(c.report.logMaxBytes * c.report.logKeep).toBeLessThan(d.report.logMaxBytes * d.report.logKeep);
    expect(c.respond.quarantineMode).toBe("edge-remote");
    expect(c.respond.mode).toBe("detect");
    expect(c.engine).toEqual(d.engine);
  });

  test("the file's own keys override the profile, before or after [profile]", () => {
    for (const text of ['[sense]\ntick_ms = 200\n[profile]\nname = "edge"\n', '[profile]\nname = "edge"\n[sense]\ntick_ms = 200\n']) {
      const c = parseConfig(text, "hosa.toml");
      expect(c.sense.tickMs).toBe(200);
      expect(c.sense.vigilanceTickMs).toBe(50);
      expect(c.sense.dimensions).toEqual([...EDGE_DIMENSIONS]);
    }
    expect(parseConfig('[profile]\nname = "default"\n', "hosa.toml")).toEqual(defaultConfig());
  });

  test("an unknown profile names its line", () => {
    const e = error('# board\n[profile]\nname = "tiny"\n');
    expect(e.message).toBe('cannot load hosa.toml: line 3: "name" in [profile] must be one of default, edge');
    expect(e.exitCode).toBe(3);
    expect(error("[profile]\nflavour = 1\n").message).toContain('unknown key "flavour" in [profile]');
  });
});

describe("[engine] → the engine's own settings", () => {
  test("the default [engine] section gives the engine's defaults; a key set in the file reaches the engine", () => {
    expect(engineConfigFrom(defaultConfig().engine)).toEqual(defaultEngineConfig());
    const c = parseConfig("[engine]\nhold_s = [1, 2, 3, 4]\newma_tau_s = 0.5\n", "test.toml");
    expect(engineConfigFrom(c.engine)).toEqual({ ...defaultEngineConfig(), holdS: [1, 2, 3, 4], ewmaTauS: 0.5 });
  });
});
