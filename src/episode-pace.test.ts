import { describe, expect, test } from "bun:test";
import { NO_DANGER } from "./engine/danger.ts";
import type { Danger } from "./engine/types.ts";
import { EpisodePace, type PaceInput, SETTLE_S } from "./episode-pace.ts";

const leak = "/scope/leak";
const held = new Map([[leak, { "memory.limit_in_bytes": 1 }]]);
const heldBack: Danger = { ttfS: 40, cgroup: leak, resource: "memory limit", containmentFailing: false, evidence: "" };
const holding = (over: Partial<PaceInput> = {}): PaceInput => ({ level: 3, previousLevel: 3, danger: heldBack, held, candidates: 1, moving: 0, ...over });

describe("EpisodePace", () => {
  test("calm: the calm tick; a candidate or a level of 1 or more without a hold: the vigilance tick, as before", () => {
    const p = new EpisodePace(100, 10);
    expect(p.tickMs(0, { level: 0, previousLevel: 0, danger: NO_DANGER, held: new Map(), candidates: 0, moving: 0 })).toBe(100);
    expect(p.tickMs(0.1, { level: 0, previousLevel: 0, danger: NO_DANGER, held: new Map(), candidates: 1, moving: 1 })).toBe(10);
    expect(p.tickMs(0.2, { level: 1, previousLevel: 0, danger: NO_DANGER, held: new Map(), candidates: 0, moving: 0 })).toBe(10);
    // Surprise alone (Level 1-2, nothing held) keeps the vigilance tick, however long.
    expect(p.tickMs(60, { level: 2, previousLevel: 2, danger: NO_DANGER, held: new Map(), candidates: 0, moving: 0 })).toBe(10);
  });

  test("calm (the sampler may batch) only at Level 0 with no candidate and nothing held", () => {
    const p = new EpisodePace(100, 10);
    const none = { level: 0, previousLevel: 0, danger: NO_DANGER, held: new Map(), candidates: 0, moving: 0 };
    p.tickMs(0, none);
    expect(p.calm).toBe(true);
    p.tickMs(0.1, { ...none, candidates: 1 });
    expect(p.calm).toBe(false);
    p.tickMs(0.2, { ...none, level: 1 });
    expect(p.calm).toBe(false);
    // A ceiling still held at Level 0 (being let go): its facts are read at the tick, not batched.
    p.tickMs(0.3, { ...none, held });
    expect(p.calm).toBe(false);
    p.tickMs(0.4, none);
    expect(p.calm).toBe(true);
  });

  test("a containment that holds still is watched at the calm tick SETTLE_S after the last level change", () => {
    const p = new EpisodePace(100, 10);
    expect(p.tickMs(10, holding({ previousLevel: 1 }))).toBe(10);
    expect(p.tickMs(10 + SETTLE_S / 2, holding())).toBe(10);
    expect(p.tickMs(10 + SETTLE_S, holding())).toBe(100);
    expect(p.still).toBe(true);
    expect(p.tickMs(40, holding())).toBe(100);
  });

  test("anything that moves brings the vigilance tick back at once", () => {
    const still = () => {
      const p = new EpisodePace(100, 10);
      p.tickMs(0, holding({ previousLevel: 0 }));
      expect(p.tickMs(5, holding())).toBe(100);
      return p;
    };
    expect(still().tickMs(5.1, holding({ moving: 1 }))).toBe(10);
    expect(still().tickMs(5.1, holding({ level: 4 }))).toBe(10);
    expect(still().tickMs(5.1, holding({ level: 2 }))).toBe(10);
    expect(still().tickMs(5.1, holding({ danger: { ...heldBack, pending: true } }))).toBe(10);
    expect(still().tickMs(5.1, holding({ danger: { ...heldBack, containmentFailing: true } }))).toBe(10);
    // A danger on a cgroup hosa holds nothing on, or on the node: to contain, not to watch.
    expect(still().tickMs(5.1, holding({ danger: { ...heldBack, cgroup: "/scope/other" } }))).toBe(10);
    expect(still().tickMs(5.1, holding({ danger: { ...heldBack, cgroup: "" } }))).toBe(10);
    // Quarantine: always dense.
    const q = new EpisodePace(100, 10);
    q.tickMs(0, holding({ level: 5, previousLevel: 4 }));
    expect(q.tickMs(30, holding({ level: 5, previousLevel: 5 }))).toBe(10);
    // Nothing held any more (all restored): the vigilance tick while the level is 1 or more, as before.
    expect(still().tickMs(5.1, holding({ held: new Map(), danger: NO_DANGER }))).toBe(10);
  });

  test("after a level change while holding, SETTLE_S at the vigilance tick again", () => {
    const p = new EpisodePace(100, 10);
    p.tickMs(0, holding({ previousLevel: 0 }));
    expect(p.tickMs(5, holding())).toBe(100);
    expect(p.tickMs(5.1, holding({ level: 4, previousLevel: 3 }))).toBe(10);
    expect(p.tickMs(5.1 + SETTLE_S / 2, holding({ level: 4, previousLevel: 4 }))).toBe(10);
    expect(p.tickMs(5.2 + SETTLE_S, holding({ level: 4, previousLevel: 4 }))).toBe(100);
  });
});
