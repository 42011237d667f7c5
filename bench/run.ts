// `bun run bench`: every benchmark in bench/, one after another, each in its
// own process. Arguments after `--` go to the Lethal Interval benchmark
// (`bun run bench -- --quick`); `--only NAME` runs just one of them.
import { existsSync } from "node:fs";

const here = new URL(".", import.meta.url).pathname;
const args = process.argv.slice(2);
const onlyAt = args.indexOf("--only");
const only = onlyAt >= 0 ? args[onlyAt + 1] : undefined;
const lethalArgs = onlyAt >= 0 ? args.filter((_, i) => i !== onlyAt && i !== onlyAt + 1) : args;

const benches: { name: string; file: string; args: string[] }[] = [
  { name: "engine-step", file: "engine-step.bench.ts", args: [] },
  { name: "replay", file: "replay.bench.ts", args: [] },
  { name: "probe-overhead", file: "probe-overhead.ts", args: [] },
  { name: "lethal", file: "lethal.ts", args: lethalArgs },
];

let failed = 0;
for (const b of benches) {
  if (only && b.name !== only) continue;
  if (!existsSync(`${here}${b.file}`)) continue;
  process.stderr.write(`bench: ${b.name}\n`);
  const p = Bun.spawn([process.execPath, `${here}${b.file}`, ...b.args], { stdio: ["inherit", "inherit", "inherit"] });
  const code = await p.exited;
  if (code !== 0) {
    process.stderr.write(`bench: ${b.name} exited ${code}\n`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
