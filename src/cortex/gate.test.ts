import { expect, test } from "bun:test";
import { defaultConfig, type HosaConfig } from "../config.ts";
import { gate, type GateInput } from "./gate.ts";
import { parsePlaybook } from "./playbook.ts";

const PB = parsePlaybook(
  `name = "p"\nsignature = "memory_leak"\nmin_confidence = 0.5\n[[step]]\nid = "cap"\nkind = "cgroup_set"\nfile = "memory.high"\nvalue = "usage*1.1"\n[[step]]\nid = "hup"\nkind = "signal"\nservice = "app"\nsignal = "SIGHUP"\n`,
  "p.toml",
);
const LOW = parsePlaybook(`name = "l"\nsignature = "memory_leak"\n[[step]]\nid = "cap"\nkind = "cgroup_set"\nfile = "memory.high"\nvalue = "usage*1.1"\n`, "l.toml");

function cfg(over: Partial<HosaConfig["cortex"]> = {}, scope = "/app"): HosaConfig {
  const c = defaultConfig();
  c.cortex = { ...c.cortex, ...over };
  c.respond.cgroupScope = scope;
  return c;
}
const input = (o: Partial<GateInput> = {}): GateInput => ({ incidentId: "inc-1", playbook: PB, cgroup: "/app/leak", confidence: 0.9, approved: null, ...o });

test("defaults: dry-run, whatever the confidence and approval", () => {
  expect(gate(input(), cfg()).status).toBe("dry-run");
  const r = gate(input({ approved: { by: "ana", at: "t" } }), cfg());
  expect(r.status).toBe("dry-run");
  expect(r.reasons.join(" ")).toContain("approved by ana");
});

test("act: steps above auto_max_risk wait for an approval, then run", () => {
  const c = cfg({ mode: "act", autoMaxRisk: "low" });
  const r = gate(input(), c);
  expect(r).toMatchObject({ status: "awaiting_approval", risk: "medium" });
  expect(r.reasons.join(" ")).toContain("risk medium above auto_max_risk low");
  expect(gate(input({ approved: { by: "ana", at: "t" } }), c).status).toBe("approved");
});

test("act: high confidence and low risk run automatically only where the operator allowed it", () => {
  expect(gate(input({ playbook: LOW }), cfg({ mode: "act" })).status).toBe("awaiting_approval");
  expect(gate(input({ playbook: LOW }), cfg({ mode: "act", autoMaxRisk: "low" })).status).toBe("auto");
  expect(gate(input({ playbook: LOW, confidence: 0.7 }), cfg({ mode: "act", autoMaxRisk: "low" })).status).toBe("awaiting_approval");
});

test("blocked: outside the scope, no scope at all in act mode, the root cgroup, too little confidence, a command not allowlisted", () => {
  const act = cfg({ mode: "act", autoMaxRisk: "high" });
  expect(gate(input({ cgroup: "/other" }), act).reasons).toEqual(["/other is outside [respond] cgroup_scope /app"]);
  expect(gate(input({ cgroup: "/appx/leak" }), act).status).toBe("blocked");
  expect(gate(input(), cfg({ mode: "act" }, "")).reasons).toEqual(['[cortex] mode = "act" needs [respond] cgroup_scope']);
  expect(gate(input({ cgroup: "/" }), act).reasons).toContain("the root cgroup is never a target");
  expect(gate(input({ cgroup: null }), act).reasons).toContain("no cgroup named by the hypothesis");
  expect(gate(input({ confidence: 0.3 }), act).reasons).toContain("confidence 0.3 below the playbook's 0.5");
  const cmd = parsePlaybook(`name = "c"\nsignature = "fork_storm"\n[[step]]\nid = "x"\nkind = "command"\nargv = ["/usr/bin/systemctl", "restart", "app"]\n`, "c.toml");
  expect(gate(input({ playbook: cmd }), act).reasons).toEqual(["step x: /usr/bin/systemctl is not in [cortex] command_allowlist"]);
  expect(gate(input({ playbook: cmd }), cfg({ mode: "act", autoMaxRisk: "high", commandAllowlist: ["/usr/bin/systemctl"] })).status).toBe("auto");
});

test("idempotency keys: stable for the same incident, step and target; different otherwise", () => {
  const a = gate(input(), cfg()).steps.map((s) => s.idempotency_key);
  expect(gate(input(), cfg()).steps.map((s) => s.idempotency_key)).toEqual(a);
  expect(new Set(a).size).toBe(2);
  expect(gate(input({ cgroup: "/app/other" }), cfg()).steps[0]!.idempotency_key).not.toBe(a[0]);
  expect(gate(input({ incidentId: "inc-2" }), cfg()).steps[0]!.idempotency_key).not.toBe(a[0]);
});

test("pre-checks the decision data can answer block the plan", () => {
  const pc = parsePlaybook(`name = "pc"\nsignature = "memory_leak"\n[[precheck]]\nkind = "level_at_least"\nvalue = 3\n[[precheck]]\nkind = "confidence_at_least"\nvalue = 0.95\n[[step]]\nid = "cap"\nkind = "cgroup_set"\nfile = "memory.high"\nvalue = "1073741824"\n`, "pc.toml");
  expect(gate(input({ playbook: pc, peakLevel: 2 }), cfg()).reasons).toEqual(["pre-check: peak level 2 below 3", "pre-check: confidence 0.9 below 0.95"]);
  expect(gate(input({ playbook: pc, peakLevel: 4, confidence: 0.96 }), cfg()).status).toBe("dry-run");
});
