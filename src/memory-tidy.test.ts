import { describe, expect, test } from "bun:test";
import { MemoryTidy } from "./memory-tidy.ts";

/** The times (s from t0, at a 100 ms tick) at which the tidy is due over `seconds`. */
function dueTimes(tidy: MemoryTidy, seconds: number, containingAt: (t: number) => boolean = () => false, vigilantAt: (t: number) => boolean = () => false): number[] {
  const out: number[] = [];
  tidy.start(1000);
  for (let i = 1; i <= seconds * 10; i++) {
    const t = 1000 + i / 10;
    if (tidy.due(t, containingAt(t - 1000), vigilantAt(t - 1000))) out.push(Math.round((t - 1000) * 10) / 10);
  }
  return out;
}

describe("MemoryTidy", () => {
  test("2 s after start, then 10, 20, 40 s apart, doubling up to every ten minutes", () => {
    expect(dueTimes(new MemoryTidy(), 1600)).toEqual([2, 12, 32, 72, 152, 312, 632, 1232]);
  });

  test("never while containing; once, 5 s after it ends, and the doubling starts again", () => {
    // Containing from 100 s to 150 s: the 132 s tidy waits; 155 s, then 165, 185, 225 s.
    const times = dueTimes(new MemoryTidy(), 240, (t) => t >= 100 && t < 150);
    expect(times).toEqual([2, 12, 32, 72, 155, 165, 185, 225]);
    expect(times.some((t) => t >= 100 && t < 150)).toBe(false);
  });

  test("a containment that keeps coming back in under 5 s defers the tidy until it stays away", () => {
    // On for 1 s every 3 s from 10 s to 60 s: nothing from the first one (10 s) until 5 s after the last (59 s off at 64 s).
    const times = dueTimes(new MemoryTidy(), 80, (t) => t >= 10 && t < 60 && Math.floor(t) % 3 === 1);
    expect(times).toEqual([2, 64, 74]);
  });

  test("vigilance alone: a tidy 5 s after it ends, at most once every five minutes, and it defers nothing", () => {
    // Vigilant 100–110 s: 115 s. Again 200–260 s: within five minutes of 115 s, nothing of its own. Again
    // 420–430 s: 435 s. The schedule keeps its times (152, 312, 632 s).
    const vigil = (t: number) => (t >= 100 && t < 110) || (t >= 200 && t < 260) || (t >= 420 && t < 430);
    expect(dueTimes(new MemoryTidy(), 700, () => false, vigil)).toEqual([2, 12, 32, 72, 115, 152, 312, 435, 632]);
    // Vigilant all the time: the schedule as without it.
    expect(dueTimes(new MemoryTidy(), 700, () => false, () => true)).toEqual([2, 12, 32, 72, 152, 312, 632]);
  });
});
