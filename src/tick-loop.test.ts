import { describe, expect, test } from "bun:test";
import type { Sample } from "./engine/types.ts";
import type { Sampler } from "./sense/sampler.ts";
import { MAX_SAMPLER_STALLS, TickLoop } from "./tick-loop.ts";

// A sampler thread that is alive but takes nothing (starved on a loaded node,
// stuck in a slow read) cannot be produced on demand on this machine: this
// scripted sampler stands in for libhosa's (src/sense/sampler.test.ts tests
// the real thread). It starts, never takes a snapshot after its first, and
// never wakes the loop, so only the loop's watchdog sees it.
function stalledSampler(): Sampler & { starts: number } {
  let running = false;
  const s = {
    starts: 0,
    onWake: null as (() => void) | null,
    get running() {
      return running;
    },
    run(): boolean {
      if (!running) s.starts++;
      running = true;
      return true;
    },
    pause(): number {
      running = false;
      return 0;
    },
    begin: () => false,
    end: () => {},
    ack: () => {},
    status: () => ({ alive: running, pending: 0, skipped: 0, tripped: 0, taken: 1 }),
    close: () => {},
  };
  return s;
}

describe("TickLoop with a sampler", () => {
  test("a thread alive but stalled sends the loop inline and is started again at the next calm tick; given up after repeated stalls", async () => {
    const sampler = stalledSampler();
    const lost: string[] = [];
    let inline = 0;
    const loop = new TickLoop({
      source: { read: (t: number): Sample => ({ t, x: new Float64Array(0) }) },
      tickMs: () => 5,
      durationS: 1.5,
      onTick: () => {
        inline++;
      },
      sampler,
      batch: () => 4,
      onSamplerLost: (why) => lost.push(why),
    });
    const r = await loop.run();
    // Each stall (a watchdog after 3 × 4 × 5 ms + 50 ms) costs one inline tick and a restart, until the last.
    expect(sampler.starts).toBe(MAX_SAMPLER_STALLS);
    expect(lost.length).toBe(1);
    expect(lost[0]).toContain(`${MAX_SAMPLER_STALLS} times`);
    // Once given up, every tick is inline: far more ticks than the stalls alone would give.
    expect(inline).toBeGreaterThan(MAX_SAMPLER_STALLS + 50);
    expect(r.ticks).toBe(inline);
    expect(sampler.running).toBe(false);
  });
});
