// Decisions and actions for report tests: plain data shaped like the engine's output.
import type { Decision, Level } from "../../src/engine/types.ts";
import { LEVEL_NAMES } from "../../src/engine/types.ts";
import type { ActionRecord } from "../../src/respond/types.ts";

export function makeDecision(level: Level, previousLevel: Level, over: Partial<Decision> = {}): Decision {
  return {
    t: 100,
    level,
    levelName: LEVEL_NAMES[level],
    previousLevel,
    dmRaw: 1 + level * 1.3,
    dm: 1 + level * 1.2,
    dmDerivative: level > previousLevel ? 2.1 : -0.8,
    dmAcceleration: level > previousLevel ? 0.5 : -0.45,
    phi: 1.8,
    regime: level >= 2 ? 4 : 0,
    dominant: [
      { dim: "mem_used_ratio", share: 0.68 },
      { dim: "psi_mem_some_ratio", share: 0.19 },
      { dim: "io_latency_us", share: 0.08 },
    ],
    thresholds: { theta1: 2.6, theta2: 3.9, theta3: 5.2, theta4: 6.5 },
    ttfS: level >= 2 ? 38 : Infinity,
    ttfDim: level >= 2 ? "mem_used_ratio" : null,
    reason: level > previousLevel ? `D_M above theta${level}` : `below theta for hold`,
    learning: level === 0,
    ...over,
  };
}

export function makeAction(i: number, level = 2): ActionRecord {
  return {
    id: `act-${i}`,
    t: 100 + i,
    level,
    kind: "cgroup",
    target: `/hosa-test/leaker-${i}`,
    action: "memory.high max→1.6G",
    outcome: "applied",
  };
}
