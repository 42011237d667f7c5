// Boots the pure cgroup v2 guest through scripts/guest.sh and reads back what
// the guest script printed: `HOSA-RESULT: name=value` lines and the exit code.
import { appendFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const REPO_ROOT = resolve(import.meta.dir, "../..");
export const HOSA_EXE = process.env.HOSA_GUEST_EXE ?? join(REPO_ROOT, "dist/hosa");
/** scripts/build.sh --arch arm64's executable, for the arm64 guest (docs/edge.md). */
export const HOSA_EXE_ARM64 = process.env.HOSA_GUEST_EXE_ARM64 ?? join(REPO_ROOT, "dist/hosa-arm64");
export type GuestArch = "x86_64" | "arm64";

export interface GuestRun {
  exitCode: number;
  /** The guest's console (kernel, /init and the script), CR stripped. */
  console: string;
  /** scripts/guest.sh's own lines (build, accelerator, timing, errors). */
  stderr: string;
  results: Map<string, string>;
  wallMs: number;
}

/**
 * Why the guest cannot boot on this machine, or undefined when it can. Only a
 * missing emulator, kernel or busybox is a reason: TCG needs no /dev/kvm, so
 * a machine without KVM still runs the guest, only slower.
 */
export function guestSkipReason(arch: GuestArch = "x86_64"): string | undefined {
  if (arch === "arm64") {
    // scripts/deps.sh installs all of these, so on CI nothing skips.
    if (!Bun.which("qemu-system-aarch64")) return "qemu-system-aarch64 is not installed (scripts/deps.sh installs qemu-system-arm)";
    if (!Bun.which("aarch64-linux-gnu-gcc")) return "aarch64-linux-gnu-gcc is not installed (scripts/deps.sh installs gcc-aarch64-linux-gnu)";
    if (!Bun.which("busybox")) return "busybox is not installed (scripts/deps.sh installs busybox-static)";
    const archs = Bun.spawnSync(["dpkg", "--print-foreign-architectures"]).stdout.toString();
    if (!archs.split("\n").includes("arm64")) return "dpkg has no arm64 architecture for Debian's arm64 kernel and busybox (scripts/deps.sh adds it)";
    return undefined;
  }
  if (!Bun.which("qemu-system-x86_64")) return "qemu-system-x86_64 is not installed (scripts/deps.sh installs qemu-system-x86)";
  const kernels = existsSync("/boot") ? readdirSync("/boot").filter((f) => f.startsWith("vmlinuz-")) : [];
  if (kernels.length === 0 && !process.env.HOSA_GUEST_KERNEL) return "no kernel in /boot (scripts/deps.sh installs linux-image-amd64)";
  if (!Bun.which("busybox")) return "busybox is not installed (scripts/deps.sh installs busybox-static)";
  return undefined;
}

/** The results as a map; a name printed twice keeps its last value. */
export function parseResults(consoleText: string): Map<string, string> {
  const results = new Map<string, string>();
  for (const line of consoleText.split("\n")) {
    const m = /^HOSA-RESULT: ([A-Za-z0-9_.]+)=(.*)$/.exec(line.trimEnd());
    if (m) results.set(m[1]!, m[2]!);
  }
  return results;
}

/** A result that must be there, as a number. */
export function numberResult(run: GuestRun, name: string): number {
  const raw = run.results.get(name);
  if (raw === undefined) throw new Error(`guest printed no HOSA-RESULT ${name} (exit ${run.exitCode})\n${tail(run)}`);
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`guest result ${name} is not a number: ${raw}`);
  return n;
}

export function tail(run: GuestRun, lines = 60): string {
  return [...run.console.split("\n").slice(-lines), ...run.stderr.split("\n").slice(-10)].join("\n");
}

/** Compiles a C file statically, so the guest needs no library for it; for arm64 with the cross compiler. */
export function compileStatic(source: string, name: string, arch: GuestArch = "x86_64"): string {
  const dir = mkdtempSync(join(tmpdir(), "hosa-guest-bin-"));
  const out = join(dir, name);
  const cc = Bun.spawnSync([arch === "arm64" ? "aarch64-linux-gnu-gcc" : "cc", "-static", "-O2", "-o", out, source], { stderr: "pipe" });
  if (cc.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot compile ${source} statically: ${cc.stderr.toString().trim()}`);
  }
  return out;
}

export async function bootGuest(
  script: string,
  files: string[],
  opts: { timeoutS: number; mem?: string; arch?: GuestArch; cpus?: number; consoleFile?: string },
): Promise<GuestRun> {
  const arch = opts.arch ?? "x86_64";
  const exe = arch === "arm64" ? HOSA_EXE_ARM64 : HOSA_EXE;
  if (!existsSync(exe)) throw new Error(`${exe} is missing: run scripts/build.sh${arch === "arm64" ? " --arch arm64" : ""} first`);
  const env: Record<string, string | undefined> = { ...process.env, HOSA_GUEST_EXE: exe };
  // An x86-64 kernel given for the x86-64 guest is no kernel for this one.
  if (arch === "arm64") delete env.HOSA_GUEST_KERNEL;
  const started = performance.now();
  const proc = Bun.spawn(
    ["bash", join(REPO_ROOT, "scripts/guest.sh"), "--arch", arch, "--timeout", String(opts.timeoutS), "--mem", opts.mem ?? "3G", "--cpus", String(opts.cpus ?? 2), "--", script, ...files],
    { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe", stdin: "ignore", env },
  );
  const out = opts.consoleFile ? teeText(proc.stdout, opts.consoleFile) : new Response(proc.stdout).text();
  const [outText, err, exitCode] = await Promise.all([out, new Response(proc.stderr).text(), proc.exited]);
  const consoleText = outText.replaceAll("\r", "");
  return { exitCode, console: consoleText, stderr: err, results: parseResults(consoleText), wallMs: performance.now() - started };
}

/** A stream's text, appended to `file` as it comes: a long guest run that is cut short keeps what it printed. */
async function teeText(stream: ReadableStream<Uint8Array>, file: string): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of stream) {
    appendFileSync(file, chunk);
    text += decoder.decode(chunk, { stream: true });
  }
  return text + decoder.decode();
}
