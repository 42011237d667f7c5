// Crash safety under fire, the full run: 100 SIGKILLs of the real agent at
// random moments of escalation and containment of a 50 MB/s leak (v1 memory
// cgroup under this process's own cgroup), and a 30 s webhook outage with one
// kill -9 during it. Writes bench/RESULTS-crash.md.
//   bun bench/crash.ts [--kills 100] [--outage-s 30] [--seed 14]
// With --guest N [--console FILE]: N kills on pure cgroup v2 in the QEMU guest
// (test/guest/crash.guest.sh), as a section of the same file; the guest's
// console goes to FILE as it comes. --judge FILE...: that section again from
// saved consoles (a run cut short, or runs that share the kills).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hosaExe, REPO } from "../test/harness.ts";
import { prng } from "../test/prng.ts";
import { hybrid, isRoot } from "../test/respond/helpers.ts";
import { killTrial, setUp, webhookOutage, type KillTrial } from "./lib/crash.ts";

function flag(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

if (process.argv.includes("--guest")) {
  const { runGuestKills } = await import("./lib/crash-guest.ts");
  const at = process.argv.indexOf("--console");
  process.exit(await runGuestKills(flag("guest", 5), at > 0 ? process.argv[at + 1] : undefined));
}
if (process.argv.includes("--judge")) {
  const { judgeGuestConsoles } = await import("./lib/crash-guest.ts");
  process.exit(judgeGuestConsoles(process.argv.slice(process.argv.indexOf("--judge") + 1)));
}
const kills = flag("kills", 100);
const outageS = flag("outage-s", 30);
const seed = flag("seed", 14);
if (!isRoot || !hybrid) {
  console.error("bench/crash: needs root and the v1 memory controller (hybrid cgroups)");
  process.exit(9);
}
const exe = hosaExe();
const dir = mkdtempSync(join(tmpdir(), `hosa-crash-${process.pid}-`));
const rng = prng(seed);
const commit = Bun.spawnSync(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]).stdout.toString().trim();
const started = Date.now();
const trials: KillTrial[] = [];
const s = await setUp(exe, join(dir, "kills"), "bench");
try {
  for (let i = 0; i < kills; i++) {
    const t = await killTrial(s, rng, [0, 3]);
    trials.push(t);
    const bad = t.notRestored.length + t.changed.length + (t.logVerified ? 0 : 1);
    console.log(
      `kill ${String(i + 1).padStart(3)}: at ${t.killAtS.toFixed(2)} s (${t.afterAlarmS === null ? "no alarm" : `alarm +${t.afterAlarmS.toFixed(2)} s`}), level ${t.levelAtKill}, ${t.openAtKill} open; ` +
        `restart ${t.restartMs} ms; ${bad === 0 ? "all back, log verified" : `NOT RESTORED ${[...t.notRestored, ...t.changed].join("; ")}${t.logVerified ? "" : ` log: ${t.logWhy}`}`}`,
    );
  }
} finally {
  await s.cg.cleanup();
}
const outage = await webhookOutage(exe, join(dir, "hook"), rng, outageS);
console.log(`webhook outage: ${JSON.stringify(outage)}`);
rmSync(dir, { recursive: true, force: true });

const byLevel = new Map<number, number>();
for (const t of trials) byLevel.set(t.levelAtKill, (byLevel.get(t.levelAtKill) ?? 0) + 1);
const withOpen = trials.filter((t) => t.openAtKill > 0);
const failures = trials.filter((t) => t.notRestored.length + t.changed.length > 0);
const broken = trials.filter((t) => !t.logVerified);
const restart = trials.map((t) => t.restartMs).sort((a, b) => a - b);
const q = (p: number) => restart[Math.min(restart.length - 1, Math.floor(p * restart.length))];
const md = `# Crash safety under fire

\`bun bench/crash.ts --kills ${kills} --outage-s ${outageS} --seed ${seed}\` (dist/hosa at ${commit}, ${new Date().toISOString().slice(0, 10)},
this project's 2-core VM, hybrid cgroups, v1 memory controller; ${((Date.now() - started) / 60000).toFixed(1)} min).
Each kill: \`hosa run\` in act mode (scope: a memory cgroup the bench creates under its own cgroup, 2 GiB limit),
a 50 MB/s leak started in it, SIGKILL of the agent at a uniformly random moment 0–3 s after its first alarm
(Level ≥ 1 in the decision log: escalation to Level 3–4 and the first memory actions take the first second,
containment the rest), the leak killed, the agent started again; then the values are read before the agent does anything else
(recovery runs before it says "running on"), the agent is stopped, and \`hosa audit verify\` checks the log.

| | count |
| --- | --- |
| SIGKILLs of the agent | ${trials.length} |
| … with hosa's changes in force at the kill (open journal entries) | ${withOpen.length} (${withOpen.reduce((a, t) => a + t.openAtKill, 0)} changes) |
| … highest level logged before the kill: ${[...byLevel.entries()].sort((a, b) => a[0] - b[0]).map(([l, n]) => `L${l} ${n}`).join(", ")} | |
| journaled values not back after the restart | **${failures.reduce((a, t) => a + t.notRestored.length, 0)}** |
| watched files of the leak cgroup (${"memory.limit_in_bytes, soft_limit, swappiness, oom_control"}) not as before the trial | **${failures.reduce((a, t) => a + t.changed.length, 0)}** |
| decision logs that fail \`audit verify\` after the restart | **${broken.length}**${broken.length ? ` (${[...new Set(broken.map((t) => t.logWhy))].join("; ")})` : ""} |
| restart to "running on" (recovery included), ms | median ${q(0.5)}, p90 ${q(0.9)}, max ${restart[restart.length - 1]} |

## Webhook outage with a kill -9

A receiver on loopback is taken down (connection refused) for ${outage.outageS} s while the agent queues
heartbeats (every 1 s) and the leak's level changes and actions; the agent is SIGKILLed once,
${outage.killAtS.toFixed(1)} s into the outage, and started again at once; then the receiver comes back.

| | count |
| --- | --- |
| distinct messages (idempotency keys) seen in the outbox | ${outage.queued} |
| accepted by the receiver | ${outage.delivered} |
| lost (queued, never accepted) | **${outage.lost}** |
| accepted more than once under the same key | **${outage.duplicated}** |
| requests that reached the receiver while it was down | ${outage.duringOutage} |
| left in the outbox by the clean stop (queued at the stop, delivered by the next start) | ${outage.leftAtStop} |
| still in the outbox at the end | ${outage.leftInOutbox} |
`;
writeFileSync(join(REPO, "bench/RESULTS-crash.md"), md);
console.log(md);
process.exit(failures.length + broken.length + outage.lost + outage.duplicated === 0 ? 0 : 1);
