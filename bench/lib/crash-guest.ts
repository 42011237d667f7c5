// The crash trials on pure cgroup v2, in the QEMU guest (TCG, slow: a few
// kills, not 100): test/guest/crash.guest.sh runs them, this judges and
// writes the "Pure cgroup v2" section of bench/RESULTS-crash.md.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { bootGuest, compileStatic, guestSkipReason, REPO_ROOT, tail } from "../../test/guest/boot.ts";

export async function runGuestKills(kills: number): Promise<number> {
  const skip = guestSkipReason();
  if (skip) {
    console.error(`bench/crash --guest: ${skip}`);
    return 9;
  }
  const leaker = compileStatic(join(REPO_ROOT, "bench/leaker.c"), "leaker");
  const dir = mkdtempSync(join(tmpdir(), `hosa-crash-guest-${process.pid}-`));
  const killsFile = join(dir, "kills");
  writeFileSync(killsFile, `${kills}\n`);
  let run;
  try {
    run = await bootGuest(join(REPO_ROOT, "test/guest/crash.guest.sh"), [leaker, killsFile], { timeoutS: 300 + kills * 90 });
  } finally {
    rmSync(dirname(leaker), { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
  const r = run.results;
  const done = Number(r.get("kills_done") ?? 0);
  const rows: string[] = [];
  let restored = 0;
  let acted = 0;
  for (let i = 1; i <= done; i++) {
    const ok = r.get(`kill_${i}_restored`) === "1";
    if (ok) restored++;
    const during = r.get(`kill_${i}_during`) ?? "";
    if (during !== r.get("leak_before")) acted++;
    rows.push(`| ${i} | ${r.get(`kill_${i}_acted_ms`)} | ${r.get(`kill_${i}_at_ms`)} | \`${during}\` | \`${r.get(`kill_${i}_after`) ?? "?"}\` | ${ok ? "yes" : "**no**"} |`);
  }
  console.log(tail(run, 40));
  const section = `## Pure cgroup v2 (QEMU guest)

\`bun bench/crash.ts --guest ${kills}\`: test/guest/crash.guest.sh in the TCG guest (scripts/guest.sh), ${(run.wallMs / 60000).toFixed(1)} min.
\`hosa run\` in act mode contains a 50 MB/s leak in \`/leak\` (memory.max 2G), is SIGKILLed 0–2 s after its first
write to \`/leak\`, and is started again; \`/leak\`'s memory.high, memory.max, cpu.max, cpu.weight and cgroup.freeze
are read once it says "running on". Before every trial: \`${r.get("leak_before")}\`.

| kill | first write (ms after the leak) | kill (ms) | /leak at the kill | after the restart | as before |
| --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

${done} kills (${acted} with hosa's values in force), **${done - restored}** not restored; \`hosa audit verify\` on the log at the end: exit ${r.get("log_verify") ?? "?"}.
`;
  const path = join(REPO_ROOT, "bench/RESULTS-crash.md");
  const text = readFileSync(path, "utf8");
  const at = text.indexOf("## Pure cgroup v2 (QEMU guest)");
  writeFileSync(path, `${(at >= 0 ? text.slice(0, at) : `${text}\n`).trimEnd()}\n\n${section}`);
  console.log(section);
  return done > 0 && done === restored && r.get("log_verify") === "0" && run.exitCode === 0 ? 0 : 1;
}
