// The cortex bench's rule for an incident the shared machine opened before a
// scenario's workload started (bench/cortex.ts): set apart as the machine's,
// unless the workload took it higher or hosa acted on the workload's cgroup in it.
import { expect, test } from "bun:test";
import { tookUpWorkload } from "../../bench/cortex.ts";
import type { LogEntry } from "../../src/cortex/types.ts";

const T0 = Date.parse("2026-12-02T01:05:30Z");
const at = (s: number) => new Date(T0 + s * 1000).toISOString().replace("Z", "000000Z");
const level = (s: number, l: number) => ({ kind: "level", timestamp: at(s), level: l, seq: 0, hash: "" }) as unknown as LogEntry;
const action = (s: number, cgroup: string) => ({ kind: "action", timestamp: at(s), level: 4, target_cgroup: cgroup, seq: 0, hash: "" }) as unknown as LogEntry;

test("an episode at Level 2 before the start that stays there is the machine's", () => {
  expect(tookUpWorkload([level(-14, 1), level(-10, 2), level(5, 1)], T0, "/b/conn-flood-hosa-1")).toBe(false);
  // Acting on another cgroup after the start does not make it the workload's either.
  expect(tookUpWorkload([level(-10, 2), action(3, "/b/other")], T0, "/b/conn-flood-hosa-1")).toBe(false);
});

test("the workload's own escalation, or an action on its cgroup, makes it the workload's", () => {
  expect(tookUpWorkload([level(-5, 2), level(0.4, 4)], T0, "/b/cache-warm-hosa-1")).toBe(true);
  expect(tookUpWorkload([level(-5, 2), action(0.4, "/b/cache-warm-hosa-1/child")], T0, "/b/cache-warm-hosa-1")).toBe(true);
});
