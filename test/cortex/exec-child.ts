// Runs (or resumes) one playbook plan as the agent's cortex would, in its own
// process so a test can kill it with SIGKILL at any point and start it again.
//   bun test/cortex/exec-child.ts STATE_FILE CGROUP PLAYBOOK_FILE SCOPE MARKER
import { readFileSync } from "node:fs";
import { defaultConfig } from "../../src/config.ts";
import { liveExecutorContext } from "../../src/cortex/cortex.ts";
import { executePlan } from "../../src/cortex/executor.ts";
import { gate } from "../../src/cortex/gate.ts";
import { parsePlaybook } from "../../src/cortex/playbook.ts";

const [statePath, cgroup, pbFile, scope, marker] = process.argv.slice(2) as [string, string, string, string, string];
process.env.MARKER = marker;
const cfg = defaultConfig();
cfg.cortex.mode = "act";
cfg.cortex.commandAllowlist = ["/bin/sh"];
cfg.respond.cgroupScope = scope;
const pb = parsePlaybook(readFileSync(pbFile, "utf8"), pbFile);
const plan = gate({ incidentId: "inc-crash-test", playbook: pb, cgroup, confidence: 1, approved: { by: "test", at: "now" } }, cfg);
if (plan.status !== "approved") throw new Error(`gate: ${plan.status}: ${plan.reasons.join("; ")}`);
const s = executePlan(statePath, pb, cgroup, plan.steps, "inc-crash-test", liveExecutorContext(cfg));
process.stdout.write(`${JSON.stringify({ status: s.status, runs: s.runs })}\n`);
