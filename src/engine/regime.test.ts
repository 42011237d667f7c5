import { describe, expect, test } from "bun:test";
import { classifyRegime, type RegimeInputs } from "./regime.ts";

const TH = { theta1: 2, theta2: 3, theta3: 4, theta4: 5 };
const LIM = { phiIdle: 1, phiSilence: 2, structuralIdleS: 3600 };
const calm: RegimeInputs = { dm: 1, derivative: 0, acceleration: 0, phi: 0, ttfCritical: false, propagating: false, idleForS: 0 };
const of = (r: Partial<RegimeInputs>) => classifyRegime({ ...calm, ...r }, TH, LIM);

describe("classifyRegime", () => {
  test("0 homeostasis under θ1", () => {
    expect(of({})).toBe(0);
    expect(of({ dm: 2, derivative: 5, phi: 0.9 })).toBe(0);
  });
  test("+1 plateau shift: above θ1, not rising", () => {
    expect(of({ dm: 2.5, derivative: 0 })).toBe(1);
    expect(of({ dm: 4.5, derivative: -1, acceleration: 3 })).toBe(1);
  });
  test("+2 seasonality: above θ1, rising but decelerating", () => {
    expect(of({ dm: 2.5, derivative: 1, acceleration: -1 })).toBe(2);
    expect(of({ dm: 2.5, derivative: 1, acceleration: 1 })).toBe(2); // accelerating, but under θ2
  });
  test("+3 adversarial: above θ2, rising and accelerating", () => {
    expect(of({ dm: 3.5, derivative: 1, acceleration: 1 })).toBe(3);
  });
  test("+4 local failure: above θ4 or resource exhaustion near", () => {
    expect(of({ dm: 5.5 })).toBe(4);
    expect(of({ dm: 2.5, ttfCritical: true })).toBe(4);
  });
  test("+5 viral propagation overrides everything", () => {
    expect(of({ propagating: true })).toBe(5);
    expect(of({ propagating: true, phi: -5, dm: 9 })).toBe(5);
  });
  test("−1 legitimate idleness, −2 once it has lasted structuralIdleS", () => {
    expect(of({ phi: -1.5, dm: 2.5 })).toBe(-1);
    expect(of({ phi: -1.5, dm: 1, idleForS: 3599.9 })).toBe(-1);
    expect(of({ phi: -1.5, dm: 1, idleForS: 3600 })).toBe(-2);
  });
  test("−3 anomalous silence: demand far below baseline with a large D_M", () => {
    expect(of({ phi: -2.5, dm: 3.5 })).toBe(-3);
    // Strongly negative φ but a small distance is idleness, not silence.
    expect(of({ phi: -2.5, dm: 2.9 })).toBe(-1);
    // A large distance with mildly negative φ is judged on the positive axis.
    expect(of({ phi: -0.5, dm: 5.5 })).toBe(4);
  });
});
