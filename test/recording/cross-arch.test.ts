// Issue 16: a recording made on one architecture replays to the same
// decisions on the other. x86-64-live.rec is `hosa run --record` on x86-64,
// arm64-edge.rec on the arm64 guest (edge profile, a leak). The SHA-256s in
// test/golden/cross-arch.sha256 are of `hosa replay FILE --calibrate 30s
// --json`, written by scripts/cross-arch-golden.sh only when the arm64 guest
// and this x86-64 machine printed the same: so this x86-64 run checks both
// recordings against what arm64 decided, each one against the architecture
// that did not make it. Rerun that script when the engine's decisions change.
import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, runHosa, tempDir } from "../harness.ts";

const tmp = tempDir("hosa-cross-arch-");
afterAll(() => tmp.cleanup());
const emptyConfig = join(tmp.dir, "empty.toml");
writeFileSync(emptyConfig, "");

const expected = new Map(
  readFileSync(join(REPO, "test/golden/cross-arch.sha256"), "utf8")
    .split("\n")
    .filter((l) => l.trim() && !l.startsWith("#"))
    .map((l) => {
      const [sha, name] = l.trim().split(/\s+/);
      return [name!, sha!] as const;
    }),
);

describe("recordings replay alike on x86-64 and arm64", () => {
  for (const name of ["x86-64-live.rec", "arm64-edge.rec"]) {
    test(`${name}: the decisions both architectures made, byte for byte`, () => {
      const r = runHosa(["-c", emptyConfig, "replay", join(REPO, "test/recordings", name), "--calibrate", "30s", "--json"]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { level: number });
      // The recording holds a leak: the replay leaves homeostasis (without a recorded danger, surprise stops at Level 2).
      expect(Math.max(...lines.map((l) => l.level))).toBeGreaterThanOrEqual(1);
      expect(expected.get(name), `${name} has no SHA-256 in test/golden/cross-arch.sha256: run scripts/cross-arch-golden.sh`).toBeDefined();
      expect(createHash("sha256").update(r.stdout).digest("hex")).toBe(expected.get(name)!);
    });
  }
});
