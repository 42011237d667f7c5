// A clean Debian 12 root (debootstrap --variant=minbase bookworm) for the
// package test, from the Debian mirror apt is configured with here (read
// from /etc/apt/sources.list*, so no host name is written in the repo).
// Built once and cached as a tarball under .deps/debootstrap/, unpacked
// once beside it; a test mounts an overlay on that tree, so every run
// starts from the clean root and copies nothing.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const repo = resolve(import.meta.dir, "../..");
export const ROOT_TARBALL = join(repo, ".deps/debootstrap/bookworm-minbase.tar");
const ROOT_DIR = join(repo, ".deps/debootstrap/bookworm-minbase");

/** The first configured mirror that serves bookworm itself (not -security or -updates). */
export function debianMirror(): string {
  const files = ["/etc/apt/sources.list", ...(existsSync("/etc/apt/sources.list.d") ? readdirSync("/etc/apt/sources.list.d").map((f) => join("/etc/apt/sources.list.d", f)) : [])];
  for (const f of files) {
    if (!/\.(list|sources)$/.test(f) || !existsSync(f)) continue;
    const text = readFileSync(f, "utf8");
    if (f.endsWith(".sources")) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
        const suites = /^Suites:\s*(.*)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
        if (uri && suites.includes("bookworm") && /^Types:.*\bdeb\b/m.test(stanza)) return uri;
      }
    } else {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(text);
      if (m) return m[1]!;
    }
  }
  throw new Error("no Debian bookworm mirror in /etc/apt/sources.list*");
}

/** The cached root: the tarball (built first when absent) and its unpacked tree; builtS is how long debootstrap took (0 when cached). */
export function ensureDebianRoot(): { tarball: string; dir: string; builtS: number } {
  let builtS = 0;
  if (!existsSync(ROOT_TARBALL)) {
    mkdirSync(join(repo, ".deps/debootstrap"), { recursive: true });
    const dir = mkdtempSync(join(tmpdir(), "hosa-debootstrap-"));
    const t0 = Date.now();
    try {
      const r = Bun.spawnSync(["debootstrap", "--variant=minbase", "bookworm", dir, debianMirror()], { stdout: "pipe", stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`debootstrap failed: ${r.stderr.toString().slice(-500)}${r.stdout.toString().slice(-500)}`);
      const tmp = `${ROOT_TARBALL}.tmp-${process.pid}`;
      const t = Bun.spawnSync(["tar", "-C", dir, "--numeric-owner", "-cf", tmp, "."], { stderr: "pipe" });
      if (t.exitCode !== 0) throw new Error(`tar failed: ${t.stderr}`);
      renameSync(tmp, ROOT_TARBALL);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    builtS = (Date.now() - t0) / 1000;
  }
  const done = join(ROOT_DIR, ".hosa-unpacked");
  if (!existsSync(done) || statSync(done).mtimeMs < statSync(ROOT_TARBALL).mtimeMs) {
    rmSync(ROOT_DIR, { recursive: true, force: true });
    mkdirSync(ROOT_DIR, { recursive: true });
    const t = Bun.spawnSync(["tar", "-C", ROOT_DIR, "--numeric-owner", "-xf", ROOT_TARBALL], { stderr: "pipe" });
    if (t.exitCode !== 0) throw new Error(`tar -x failed: ${t.stderr}`);
    writeFileSync(done, "");
  }
  return { tarball: ROOT_TARBALL, dir: ROOT_DIR, builtS };
}
