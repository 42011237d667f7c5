import { describe, expect, test } from "bun:test";
import { MemoryTidy } from "./memory-tidy.ts";

/** The times (s from t0, at a 100 ms tick) at which the tidy is due over `seconds`. */
function dueTimes(
  tidy: MemoryTidy,
  seconds: number,
  containingAt: (t: number) => boolean = () => false,
  vigilantAt: (t: number) => boolean = () => false,
  dangerAt: (t: number) => boolean = () => false,
): number[] {
  const out: number[] = [];
  tidy.start(1000);
  for (let i = 1; i <= seconds * 10; i++) {
    const t = 1000 + i / 10;
    if (tidy.due(t, containingAt(t - 1000), vigilantAt(t - 1000), dangerAt(t - 1000))) out.push(Math.round((t - 1000) * 10) / 10);
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

  test("short vigilance: a tidy 5 s after it ends, at most once every five minutes, and it defers nothing", () => {
    // Vigilant 100–110 s: 115 s. Again 200–260 s: within five minutes of 115 s, nothing of its own. Again
    // 420–430 s: 435 s. The schedule keeps its times (152, 312, 632 s).
    const vigil = (t: number) => (t >= 100 && t < 110) || (t >= 200 && t < 260) || (t >= 420 && t < 430);
    expect(dueTimes(new MemoryTidy(), 700, () => false, vigil)).toEqual([2, 12, 32, 72, 115, 152, 312, 435, 632]);
  });

  test("vigilance that lasts: a tidy every two minutes after the last one, none while a cgroup is in danger", () => {
    // Vigilant all the time: the schedule (2 … 152, 312, 632 s) and one 120 s after each tidy between (272, 432, 552 s).
    expect(dueTimes(new MemoryTidy(), 700, () => false, () => true)).toEqual([2, 12, 32, 72, 152, 272, 312, 432, 552, 632]);
    // A cgroup in danger all the time: the schedule alone.
    expect(dueTimes(new MemoryTidy(), 700, () => false, () => true, () => true)).toEqual([2, 12, 32, 72, 152, 312, 632]);
    // Vigilant from 400 s to 1000 s, a cgroup in danger from 600 s to 700 s: 520 s (120 s into it); the
    // schedule's 632 s; none of its own in the danger; 752, 872, 992 s; after it ends, the schedule's 1232 s
    // (the tidy 5 s after vigilance waits five minutes from the last of its own).
    expect(dueTimes(new MemoryTidy(), 1300, () => false, (t) => t >= 400 && t < 1000, (t) => t >= 600 && t < 700)).toEqual([2, 12, 32, 72, 152, 312, 520, 632, 752, 872, 992, 1232]);
    // Danger from 500 s to 580 s: the tidy due at 520 s waits until the danger is gone (580 s).
    expect(dueTimes(new MemoryTidy(), 700, () => false, (t) => t >= 400, (t) => t >= 500 && t < 580)).toEqual([2, 12, 32, 72, 152, 312, 580, 632]);
  });
});
