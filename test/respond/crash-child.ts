// Run by journal.test.ts as a separate process: contain one cgroup at
// Level 3 with the real responder, say so, then wait to be SIGKILLed.
//   bun test/respond/crash-child.ts <state-dir> <memory-cgroup-path>
import { detectCgroupLayout, readCgroupUsage } from "../../src/kernel/cgroups.ts";
import { createResponder } from "../../src/respond/responder.ts";
import { actConfig, decision } from "./helpers.ts";

const [stateDir, path] = process.argv.slice(2);
const cfg = actConfig(stateDir, { cgroupScope: path.slice(0, path.lastIndexOf("/")) });
const layout = detectCgroupLayout();
const r = createResponder(cfg);
r.onDecision(decision(0, 1, 0), [readCgroupUsage(layout, path)]);
await Bun.sleep(300);
const records = r.onDecision(decision(0.3, 3, 1), [readCgroupUsage(layout, path)]);
console.log(JSON.stringify(records));
await Bun.sleep(60_000);
