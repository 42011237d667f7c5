// The crash trials on pure cgroup v2, in the QEMU guest (TCG, slow: about
// 25 s a kill): test/guest/crash.guest.sh runs them, this judges and writes
// the "Pure cgroup v2" section of bench/RESULTS-crash.md. The guest's console
// is kept in a file as it comes (--console FILE), so a run cut short (or two
// runs, the second for the kills the first did not reach) can still be judged:
// `bun bench/crash.ts --judge FILE...`.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { bootGuest, compileStatic, guestSkipReason, parseResults, REPO_ROOT, tail } from "../../test/guest/boot.ts";

interface GuestKill {
  actedMs: string;
  atMs: string;
  during: string;
  after: string;
  restored: boolean;
  /** Agent starts it took after the kill (a start that died or said nothing in 90 s is tried again). */
  starts: number;
}
interface GuestConsole {
  before: string;
  kills: GuestKill[];
  logVerify: string;
  logKb: string;
}

function readConsole(text: string): GuestConsole {
  const r = parseResults(text.replaceAll("\r", ""));
  const kills: GuestKill[] = [];
  // kills_done is missing from a run cut short: every kill whose restart was judged counts.
  for (let i = 1; r.has(`kill_${i}_restored`); i++) {
    kills.push({
      actedMs: r.get(`kill_${i}_acted_ms`) ?? "?",
      atMs: r.get(`kill_${i}_at_ms`) ?? "?",
      during: r.get(`kill_${i}_during`) ?? "?",
      after: r.get(`kill_${i}_after`) ?? "?",
      restored: r.get(`kill_${i}_restored`) === "1",
      starts: Number(r.get(`kill_${i}_starts`) ?? 1),
    });
  }
  return { before: r.get("leak_before") ?? "?", kills, logVerify: r.get("log_verify") ?? "not reached", logKb: r.get("log_kb") ?? "?" };
}

/** Writes the section from one or more consoles (runs in order); 0 when every kill was restored and every log verified. */
function judge(consoles: GuestConsole[], command: string, minutes: string): number {
  const kills = consoles.flatMap((c) => c.kills);
  const rows = kills.map(
    (k, i) => `| ${i + 1} | ${k.actedMs} | ${k.atMs} | \`${k.during}\` | \`${k.after}\` | ${k.restored ? "yes" : "**no**"} |`,
  );
  const before = [...new Set(consoles.map((c) => c.before))].join(" / ");
  const inForce = kills.filter((k) => !consoles.some((c) => c.before === k.during)).length;
  // A restart that never said "running on" (the harness gave up) is not a value left in force: counted apart.
  const noStart = kills.filter((k) => !k.restored && k.after === "?").length;
  const notRestored = kills.filter((k) => !k.restored && k.after !== "?").length;
  const frozen = kills.filter((k) => k.during.endsWith(",1")).length;
  const verify = consoles.map((c) => c.logVerify);
  const section = `## Pure cgroup v2 (QEMU guest)

\`${command}\`: test/guest/crash.guest.sh in the TCG guest (scripts/guest.sh)${minutes}, on this loaded 2-core machine.
\`hosa run\` in act mode contains a 50 MB/s leak in \`/leak\` (memory.max 2G), is SIGKILLed 0–2 s after its first
write to \`/leak\`, and is started again; \`/leak\`'s memory.high, memory.max, cpu.max, cpu.weight and cgroup.freeze
are read once it says "running on" (recovery runs before). The restarted agent, after 3 s without the leak, is the
one the next trial kills. Before every trial: \`${before}\`.

| | count |
| --- | --- |
| SIGKILLs of the agent | ${kills.length} |
| … with hosa's values in force on /leak at the kill | ${inForce} (${frozen} with /leak frozen) |
| /leak not as before the trial after the restart | **${notRestored}** |
| restarts that died or said nothing in 90 s (tried again, up to 3 starts) | ${kills.reduce((a, k) => a + k.starts - 1, 0)} |
| kills whose restart never came up (the run stopped there) | ${noStart} |
| \`hosa audit verify\` on the decision log at the end (exit code${consoles.length > 1 ? " per run" : ""}) | ${verify.join(", ")} (log ${consoles.map((c) => `${c.logKb} KiB`).join(", ")}) |

${consoles.length > 1 ? `${consoles.map((c, k) => `Run ${k + 1}: ${c.kills.length} kills, ${c.kills.filter((x) => !x.restored && x.after !== "?").length} not restored, ${c.kills.filter((x) => !x.restored && x.after === "?").length} restarts that never came up, \`audit verify\` exit ${c.logVerify}.`).join("\n")}\n\n` : ""}| kill | first write (ms after the leak) | kill (ms) | /leak at the kill | after the restart | as before |
| --- | --- | --- | --- | --- | --- |
${rows.join("\n")}
`;
  const path = join(REPO_ROOT, "bench/RESULTS-crash.md");
  const text = readFileSync(path, "utf8");
  const at = text.indexOf("## Pure cgroup v2 (QEMU guest)");
  writeFileSync(path, `${(at >= 0 ? text.slice(0, at) : `${text}\n`).trimEnd()}\n\n${section}`);
  console.log(section);
  return kills.length > 0 && notRestored + noStart === 0 && verify.every((v) => v === "0") ? 0 : 1;
}

export async function runGuestKills(kills: number, consoleFile?: string): Promise<number> {
  const skip = guestSkipReason();
  if (skip) {
    console.error(`bench/crash --guest: ${skip}`);
    return 9;
  }
  if (consoleFile && existsSync(consoleFile)) rmSync(consoleFile);
  const leaker = compileStatic(join(REPO_ROOT, "bench/leaker.c"), "leaker");
  const dir = mkdtempSync(join(tmpdir(), `hosa-crash-guest-${process.pid}-`));
  const killsFile = join(dir, "kills");
  writeFileSync(killsFile, `${kills}\n`);
  let run;
  try {
    run = await bootGuest(join(REPO_ROOT, "test/guest/crash.guest.sh"), [leaker, killsFile], { timeoutS: 300 + kills * 60, consoleFile });
  } finally {
    rmSync(dirname(leaker), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(tail(run, 40));
  const c = readConsole(run.console);
  const rc = judge([c], `bun bench/crash.ts --guest ${kills}`, `, ${(run.wallMs / 60000).toFixed(1)} min`);
  return rc === 0 && c.kills.length === kills && run.exitCode === 0 ? 0 : 1;
}

/** The section again from saved consoles (--console FILE of earlier runs). */
export function judgeGuestConsoles(files: string[]): number {
  const consoles = files.map((f) => readConsole(readFileSync(f, "utf8")));
  return judge(consoles, `bun bench/crash.ts --guest N --console FILE (${files.length} run${files.length > 1 ? "s" : ""}, judged with --judge)`, "");
}
