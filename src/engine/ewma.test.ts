import { describe, expect, test } from "bun:test";
import { prng } from "../../test/prng.ts";
import { AlphaMemo, Ewma, ewmaAlpha } from "./ewma.ts";

describe("Ewma", () => {
  test("ewmaAlpha() is 1 − exp(−Δt/τ), and 1 without smoothing", () => {
    expect(ewmaAlpha(0.1, 0.3)).toBeCloseTo(1 - Math.exp(-1 / 3), 15);
    expect(ewmaAlpha(0.01, 0.3)).toBeCloseTo(1 - Math.exp(-1 / 30), 15);
    expect(ewmaAlpha(0.1, 0)).toBe(1);
  });

  test("a step input gives 1 − exp(−t/τ) at any sample times, regular or irregular", () => {
    const r = prng(1);
    for (const times of [
      Array.from({ length: 101 }, (_, i) => i * 0.01),
      Array.from({ length: 11 }, (_, i) => i * 0.1),
      (() => {
        const ts = [0];
        while (ts[ts.length - 1] < 1) ts.push(Math.min(1, ts[ts.length - 1] + 0.001 + r() * 0.15));
        return ts;
      })(),
    ]) {
      const e = new Ewma(0.3);
      e.prime(0);
      for (const t of times) e.update(t, 1);
      expect(e.lastT).toBe(1);
      expect(Math.abs(e.value - (1 - Math.exp(-1 / 0.3)))).toBeLessThan(1e-12);
    }
  });

  test("the derivative of a ramp converges to its slope with irregular Δt", () => {
    const r = prng(2);
    const e = new Ewma(0.3);
    let t = 0;
    while (t < 10) {
      e.update(t, 2.5 * t + 7);
      t += 0.005 + r() * 0.01;
    }
    expect(Math.abs(e.derivative - 2.5) / 2.5).toBeLessThan(0.02);
    expect(Math.abs(e.acceleration)).toBeLessThan(0.05);
    // The level lags a ramp by about τ·slope.
    expect(Math.abs(e.value - (2.5 * (e.lastT - 0.3) + 7))).toBeLessThan(0.05);
  });

  test("the same ramp at 10 ms and at 100 ms gives the same derivative", () => {
    const fast = new Ewma(0.3);
    const slow = new Ewma(0.3);
    for (let i = 0; i <= 1000; i++) fast.update(i * 0.01, 3 * i * 0.01);
    for (let i = 0; i <= 100; i++) slow.update(i * 0.1, 3 * i * 0.1);
    expect(Math.abs(fast.derivative - 3)).toBeLessThan(0.01);
    expect(Math.abs(slow.derivative - 3)).toBeLessThan(0.01);
  });

  test("without smoothing the derivatives are the finite differences over the real Δt", () => {
    const e = new Ewma(0);
    e.update(0, 0);
    expect(e.derivative).toBe(0);
    e.update(0.5, 1); // +1 in 0.5 s
    expect(e.derivative).toBe(2);
    expect(e.acceleration).toBe(4); // from 0 to 2 /s in 0.5 s
    e.update(0.75, 2); // +1 in 0.25 s
    expect(e.derivative).toBe(4);
    expect(e.acceleration).toBe(8);
  });

  test("a quadratic has acceleration 2a on a regular grid without smoothing", () => {
    const e = new Ewma(0);
    for (let i = 0; i <= 20; i++) e.update(i * 0.125, 1.5 * (i * 0.125) ** 2);
    expect(e.acceleration).toBeCloseTo(3, 9);
  });

  test("the first sample sets the value with zero derivatives; a primed one only starts the clock", () => {
    const e = new Ewma(0.3);
    e.update(5, 42);
    expect([e.value, e.derivative, e.acceleration]).toEqual([42, 0, 0]);
    const p = new Ewma(0.3);
    p.prime(1);
    p.update(5, 42);
    expect([p.value, p.derivative, p.acceleration, p.lastT]).toEqual([1, 0, 0, 5]);
  });

  test("a repeated timestamp changes nothing", () => {
    const e = new Ewma(0.3);
    e.update(0, 1);
    e.update(0.1, 2);
    const before = [e.value, e.derivative, e.acceleration];
    e.update(0.1, 100);
    expect([e.value, e.derivative, e.acceleration]).toEqual(before);
  });

  test("a shared α memo, and no derivatives, give the same values to the bit on a jittery clock", () => {
    const r = prng(3);
    const memo = new AlphaMemo(0.3, 3);
    const shared = [new Ewma(0.3, 3, { memo, derivatives: false }), new Ewma(0.3, 3, { memo, derivatives: false })];
    const own = [new Ewma(0.3, 3), new Ewma(0.3, 3)];
    let t = 0;
    for (let i = 0; i < 5000; i++) {
      t += i % 7 === 0 ? 0 : 0.1 + (r() - 0.5) * 0.01;
      const y = [r(), r() * 10];
      for (let k = 0; k < 2; k++) {
        shared[k].update(t, y[k]);
        own[k].update(t, y[k]);
        expect(shared[k].value).toBe(own[k].value);
      }
    }
    expect(shared[0].derivative).toBe(0);
    expect(own[0].derivative).not.toBe(0);
    expect(() => new Ewma(0.2, 3, { memo })).toThrow();
  });
});
