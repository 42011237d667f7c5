// Crash safety under fire, the suite's share (the 100-kill run is
// bench/crash.ts → bench/RESULTS-crash.md): the real agent SIGKILLed at
// random moments of a leak's escalation and containment, in a v1 memory
// cgroup under this process's own cgroup; after each restart every journaled
// value is back and the decision log verifies. And a webhook outage with one
// kill -9 during it: no message lost, none accepted twice under one key.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { killTrial, setUp, webhookOutage, type CrashSetup } from "../../bench/lib/crash.ts";
import { hosaExe, tempDir } from "../harness.ts";
import { prng } from "../prng.ts";
import { hybrid, isRoot } from "../respond/helpers.ts";

setDefaultTimeout(240_000);
const tmp = tempDir(`hosa-crash-${process.pid}-`);
let s: CrashSetup | null = null;
afterAll(async () => {
  await s?.cg.cleanup();
  tmp.cleanup();
});

describe.skipIf(!isRoot || !hybrid)("crash safety under fire (cgroup v1)", () => {
  test("10 SIGKILLs during escalation and containment: every journaled value back, the log intact", async () => {
    s = await setUp(hosaExe(), join(tmp.dir, "kills"), "test");
    const rng = prng(1401);
    let inForce = 0;
    for (let i = 0; i < 10; i++) {
      const t = await killTrial(s, rng, [0, 2]);
      expect(t.notRestored).toEqual([]);
      expect(t.changed).toEqual([]);
      expect(t.logWhy).toBe("");
      expect(t.logVerified).toBe(true);
      if (t.openAtKill > 0) inForce++;
    }
    // The kills must have caught hosa with changes in force, or the test proves nothing.
    expect(inForce).toBeGreaterThanOrEqual(3);
  });

  test("a 6 s webhook outage with one kill -9: no message lost, none accepted twice", async () => {
    const r = await webhookOutage(hosaExe(), join(tmp.dir, "hook"), prng(1402), 6);
    expect(r.queued).toBeGreaterThan(3);
    expect(r.duringOutage).toBe(0);
    expect(r.lostKeys).toEqual([]);
    expect(r.duplicated).toBe(0);
  });
});
