// How often dist/hosa-arm64 dies under qemu-system-aarch64 TCG (issue 16,
// docs/edge.md "SIGSEGV under TCG"): one guest boot per QEMU setting (-cpu
// model, -smp), in it the same replay N times under each of Bun's JIT
// switches (bench/arm64-segv.guest.sh), each exit code counted. Settings run
// one after the other, so their rates are comparable within one run.
// Usage: bun bench/arm64-segv.ts [--runs N] [--rec NAME.rec] [--only LABEL,...] [--variants "- BUN_JSC_useJIT=0 ..."]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bootGuest, tail } from "../test/guest/boot.ts";

const repo = resolve(import.meta.dir, "..");
const arg = (name: string) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : undefined;
};
const runs = Number(arg("--runs") ?? 8);
const only = arg("--only")?.split(",");
const rec = arg("--rec") ?? "arm64-edge.rec";
const variants = (arg("--variants") ?? "- BUN_JSC_useJIT=0 BUN_JSC_useDFGJIT=0 BUN_JSC_useFTLJIT=0").split(/\s+/).filter(Boolean);

interface Setting {
  label: string;
  cpu: string;
  cpus?: number;
}
const SETTINGS: Setting[] = [
  { label: "max-impdef", cpu: "max,pauth-impdef=on" },
  { label: "max", cpu: "max" },
  { label: "max-nopauth", cpu: "max,pauth=off" },
  { label: "max-nosve", cpu: "max,pauth-impdef=on,sve=off" },
  { label: "cortex-a72", cpu: "cortex-a72" },
  { label: "neoverse-n1", cpu: "neoverse-n1" },
  { label: "max-impdef-smp1", cpu: "max,pauth-impdef=on", cpus: 1 },
];

process.env.HOSA_GUEST_ACCEL = "tcg";
// The right answer: the same replay on this x86-64 machine (dist/hosa).
const emptyDir = mkdtempSync(join(tmpdir(), `hosa-segv-x86-${process.pid}-`));
writeFileSync(join(emptyDir, "empty.toml"), "");
const x86 = Bun.spawnSync([join(repo, "dist/hosa"), "-c", join(emptyDir, "empty.toml"), "replay", join(repo, "test/recordings", rec), "--calibrate", "30s", "--json"]);
rmSync(emptyDir, { recursive: true, force: true });
const rightSha = new Bun.CryptoHasher("sha256").update(x86.stdout).digest("hex").slice(0, 16);
console.log(`x86-64 (dist/hosa): ${rec} ${rightSha}`);
console.log("| setting | -cpu | vCPUs | Bun JIT switch | recording | crashed (exit 139) | same decisions as x86-64 | exit codes | mean s per replay | SHA-256 prefixes of the completed runs |");
console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
for (const s of SETTINGS.filter((s) => !only || only.includes(s.label))) {
  const dir = mkdtempSync(join(tmpdir(), `hosa-segv-${process.pid}-`));
  try {
    const env = join(dir, "segv.env");
    writeFileSync(env, `N=${runs}\nREC=${rec}\nVARIANTS="${variants.join(" ")}"\n`);
    process.env.HOSA_GUEST_CPU = s.cpu;
    const run = await bootGuest(join(repo, "bench/arm64-segv.guest.sh"), [env, join(repo, "test/recordings", rec)], {
      timeoutS: 120 + runs * variants.length * 90,
      mem: "1G",
      arch: "arm64",
      cpus: s.cpus,
    });
    for (const v of variants) {
      const k = v.replace(/[^A-Za-z0-9_]/g, "_");
      const codes: string[] = [];
      const secs: number[] = [];
      const shas: string[] = [];
      for (let i = 1; i <= runs; i++) {
        const c = run.results.get(`run_${k}_${i}_exit`);
        if (c === undefined) break;
        codes.push(c);
        const [a, b] = (run.results.get(`run_${k}_${i}_s`) ?? "0-0").split("-").map(Number);
        secs.push(b! - a!);
        if (c === "0") shas.push(run.results.get(`run_${k}_${i}_sha256`) ?? "");
        if (c !== "0") console.log(`  ${s.label} ${v} run ${i}: exit ${c} after ${(b! - a!).toFixed(1)} s\n    ${run.results.get(`run_${k}_${i}_err`)}\n    ${run.results.get(`run_${k}_${i}_dmesg`)}`);
      }
      const crashes = codes.filter((c) => c !== "0").length;
      const mean = secs.reduce((a, b) => a + b, 0) / Math.max(1, secs.length);
      console.log(`| ${s.label} | \`${s.cpu}\` | ${s.cpus ?? 2} | ${v} | ${rec} | ${crashes}/${codes.length} | ${shas.filter((h) => h === rightSha).length}/${codes.length} | ${codes.join(" ")} | ${mean.toFixed(1)} s | ${shas.join(" ")} |`);
      if (codes.length < runs) console.log(`  ${s.label} ${v}: only ${codes.length} of ${runs} runs reported (guest exit ${run.exitCode})\n${tail(run, 15)}`);
    }
    console.log(`  ${s.label}: guest wall ${(run.wallMs / 1000).toFixed(0)} s`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
