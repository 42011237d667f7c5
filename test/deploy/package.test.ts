// The Debian package in a clean Debian 12 root (debootstrap minbase, cached
// in .deps/debootstrap/, an overlay per run): installed, run by hand, upgraded with the
// operator's conffile change kept, removed (the prerm stops the agent
// cleanly, so it restores what it changed) and purged with nothing left.
// The root runs in its own mount, PID and network namespaces (unshare), so
// nothing of it outlives the test; systemd is not PID 1 there, as in any
// chroot: the unit is installed and enabled, and started where systemd runs.
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ensureDebianRoot } from "./debian-root.ts";

const repo = resolve(import.meta.dir, "../..");
const work = mkdtempSync(join(tmpdir(), "hosa-deb-"));

function sh(cmd: string[], what: string): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${what} failed (${r.exitCode}): ${r.stderr.toString().slice(-800)}${r.stdout.toString().slice(-800)}`);
  return r.stdout.toString();
}

describe("Debian package", () => {
  test("install, upgrade, remove and purge in a clean Debian 12 root", () => {
    const t0 = Date.now();
    const { dir: lower, builtS } = ensureDebianRoot();
    if (builtS > 0) console.log(`debootstrap --variant=minbase bookworm: ${builtS.toFixed(0)} s (cached from now on in .deps/debootstrap/)`);
    const out = join(work, "upper/tmp");
    mkdirSync(out, { recursive: true });
    mkdirSync(join(work, "ovl-work"));
    mkdirSync(join(work, "root"));
    sh(["bash", join(repo, "scripts/package-deb.sh"), "--version", "0.1.0", "--out", out, "--uncompressed"], "package-deb 0.1.0");
    sh(["bash", join(repo, "scripts/package-deb.sh"), "--version", "0.1.1", "--out", out, "--uncompressed"], "package-deb 0.1.1");
    // Bad input is one line and exit 2.
    const bad = Bun.spawnSync(["bash", join(repo, "scripts/package-deb.sh"), "--version", "x1"], { stderr: "pipe" });
    expect([bad.exitCode, bad.stderr.toString()]).toEqual([2, 'package-deb: bad version "x1": a Debian version starts with a digit\n']);
    copyFileSync(join(import.meta.dir, "deb-scenario.sh"), join(out, "scenario.sh"));
    // Private mount, PID and network namespaces: the overlay, /proc, /sys and
    // every process started in the root end with the scenario.
    const r = Bun.spawnSync(
      [
        "unshare", "--mount", "--pid", "--net", "--fork", "sh", "-c",
        'set -e; mount -t overlay overlay -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/ovl-work" "$2/root"; mount -t proc proc "$2/root/proc"; mount -t sysfs sysfs "$2/root/sys"; exec chroot "$2/root" /bin/sh /tmp/scenario.sh /tmp/hosa_0.1.0_amd64.deb /tmp/hosa_0.1.1_amd64.deb',
        "sh", lower, work,
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    const text = r.stdout.toString();
    const got = Object.fromEntries([...text.matchAll(/^RESULT ([a-z_0-9]+)=(.*)$/gm)].map((m) => [m[1], m[2]!.trim()]));
    if (r.exitCode !== 0 || Object.keys(got).length < 20) console.log(text, r.stderr.toString());
    expect(got).toEqual({
      install1: "0",
      postinst_says: "1",
      version: "0.1.0",
      // Nothing but glibc in a minimal root: no libbpf, libelf, zlib, clang or bun.
      libs: "ld-linux-x86-64.so.2 libc.so.6 libdl.so.2 libm.so.6 libpthread.so.0 linux-vdso.so.1",
      conffiles: "/etc/hosa/hosa.toml",
      unit_exec: "ExecStart=/usr/bin/hosa run",
      enabled: "yes",
      dirs: "yes",
      active_keys: "0",
      agent_started: "1",
      install2: "0",
      version2: "0.1.1",
      conffile_kept: "1",
      agent_after_upgrade: "running",
      remove: "0",
      prerm_says: "1",
      agent_exit: "0",
      agent_after_remove: "gone",
      agent_stopped_cleanly: "1",
      binary_after_remove: "gone",
      conffile_after_remove: "kept",
      purge: "0",
      left: "",
      status: "dpkg-query: no packages found matching hosa",
    });
    expect(r.exitCode).toBe(0);
    console.log(`package test: ${((Date.now() - t0) / 1000).toFixed(0)} s${builtS > 0 ? " (root built in this run)" : " (root cached)"}`);
    // Never remove a tree something is still mounted in (the namespace is gone, so nothing should be).
    if (!readFileSync("/proc/self/mounts", "utf8").includes(` ${work}/`)) rmSync(work, { recursive: true, force: true });
  }, 1_200_000);
});
