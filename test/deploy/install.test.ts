// scripts/install.sh and scripts/uninstall.sh on this machine, where PID 1
// is not systemd (a container): the background start, an upgrade that
// restarts the agent, the supervisor restarting a failed agent, and an
// uninstall that leaves nothing. HOSA_ROOT keeps everything under a temp
// directory (the host's /usr/local, /etc and /var are never touched);
// HOSA_SKIP_BUILD=1 installs the dist/hosa the suite built. The systemd
// path runs where systemd is PID 1 (docs/operations.md); the unit itself is
// checked in systemd.test.ts. What install.sh may install is checked here
// by simulating apt on the build set.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const repo = resolve(import.meta.dir, "../..");
const root = mkdtempSync(join(tmpdir(), "hosa-install-"));
const pids: number[] = [];
afterAll(() => {
  for (const f of ["var/lib/hosa/supervisor.pid", "var/lib/hosa/hosa.pid"]) {
    try {
      process.kill(Number(readFileSync(join(root, f), "utf8")), "SIGKILL");
    } catch {}
  }
  for (const p of pids) {
    try {
      process.kill(p, "SIGKILL");
    } catch {}
  }
  rmSync(root, { recursive: true, force: true });
});

function script(name: string, args: string[] = [], env: Record<string, string> = {}): { code: number; out: string; err: string } {
  const r = Bun.spawnSync(["bash", join(repo, "scripts", name), ...args], {
    env: { ...process.env, HOSA_ROOT: root, HOSA_SKIP_BUILD: "1", HOSA_INIT: "background", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  return { code: r.exitCode ?? -1, out: r.stdout.toString(), err: r.stderr.toString() };
}
const pidOf = (f: string) => Number(readFileSync(join(root, "var/lib/hosa", f), "utf8"));
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.startsWith("Z");
async function until(what: string, ms: number, ok: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (ok()) return;
    await Bun.sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("install.sh and uninstall.sh (background start, HOSA_ROOT)", () => {
  test("install, upgrade, restart on failure, uninstall: the node is left as it was", async () => {
    // The configuration an operator would have written, with paths inside the test root.
    mkdirSync(join(root, "etc/hosa"), { recursive: true });
    const conf = join(root, "etc/hosa/hosa.toml");
    writeFileSync(conf, `[paths]\nstate_dir = "${root}/var/lib/hosa"\nlog_file = "${root}/var/log/hosa/decisions.log"\n[report]\nmetrics_listen = "127.0.0.1:0"\n`);
    const first = script("install.sh");
    expect(first.err).toBe("");
    expect(first.code).toBe(0);
    expect(first.out).toMatch(/running in the background as pid \d+, supervised by pid \d+ \(detect; no systemd here\)/);
    expect(statSync(join(root, "usr/local/bin/hosa")).mode & 0o777).toBe(0o755);
    expect(readFileSync(conf, "utf8")).toContain('metrics_listen = "127.0.0.1:0"'); // kept, not overwritten
    const agent1 = pidOf("hosa.pid");
    const sup1 = pidOf("supervisor.pid");
    pids.push(agent1, sup1);
    expect(readFileSync(`/proc/${agent1}/cmdline`, "utf8").split("\0").filter(Boolean)).toEqual([join(root, "usr/local/bin/hosa"), "-c", conf, "run"]);

    // Upgrade: the agent restarts on the new executable.
    const again = script("install.sh");
    expect(again.code).toBe(0);
    expect(again.out).toContain(`stopping the running agent (pid ${sup1})`);
    const agent2 = pidOf("hosa.pid");
    pids.push(agent2, pidOf("supervisor.pid"));
    expect(agent2).not.toBe(agent1);
    expect(alive(agent1)).toBe(false);
    // The first agent stopped cleanly on SIGTERM, as systemd would stop it.
    expect(readFileSync(join(root, "var/log/hosa/agent.log"), "utf8")).toMatch(/hosa: stopped after \d+ ticks/);

    // A crash (SIGKILL) is restarted by the supervisor, as Restart=on-failure does.
    process.kill(agent2, "SIGKILL");
    await until("a new agent after the crash", 15_000, () => {
      try {
        const p = pidOf("hosa.pid");
        return p !== agent2 && alive(p);
      } catch {
        return false;
      }
    });
    const agent3 = pidOf("hosa.pid");
    pids.push(agent3);

    const gone = script("uninstall.sh");
    expect(gone.err).toBe("");
    expect(gone.code).toBe(0);
    expect(alive(agent3)).toBe(false);
    for (const p of ["usr/local/bin/hosa", "etc/hosa", "var/lib/hosa", "var/log/hosa", "usr/share/doc/hosa", "etc/systemd/system/hosa.service"]) {
      expect(`${p} ${existsSync(join(root, p))}`).toBe(`${p} false`);
    }
  }, 120_000);

  test("where systemd is PID 1: the unit installed, enabled and restarted on every install, the act drop-in only when acting, removed by uninstall", () => {
    // systemd as PID 1 is what this machine cannot have: a systemctl that
    // records its arguments stands in for it (and answers is-active).
    const sys = mkdtempSync(join(tmpdir(), "hosa-install-systemd-"));
    const fake = join(sys, "bin");
    mkdirSync(fake);
    writeFileSync(join(fake, "systemctl"), `#!/bin/sh\necho "$*" >> ${sys}/calls\nexit 0\n`, { mode: 0o755 });
    const env = { HOSA_ROOT: join(sys, "root"), HOSA_INIT: "systemd", PATH: `${fake}:${process.env.PATH}` };
    const calls = () => readFileSync(join(sys, "calls"), "utf8").trim().split("\n");
    // Paths inside the test root: uninstall.sh asks the executable about a quarantine under the configured state directory.
    const conf = join(sys, "root/etc/hosa/hosa.toml");
    mkdirSync(join(sys, "root/etc/hosa"), { recursive: true });
    writeFileSync(conf, `[paths]\nstate_dir = "${sys}/root/var/lib/hosa"\nlog_file = "${sys}/root/var/log/hosa/decisions.log"\n`);
    try {
      const a = script("install.sh", [], env);
      expect(a.err).toBe("");
      expect(a.code).toBe(0);
      expect(a.out).toContain("running as hosa.service (detect); logs: journalctl -u hosa");
      const unitPath = join(sys, "root/etc/systemd/system/hosa.service");
      expect(readFileSync(unitPath, "utf8")).toBe(readFileSync(join(repo, "deploy/systemd/hosa.service"), "utf8"));
      expect(existsSync(join(sys, "root/etc/systemd/system/hosa.service.d/act.conf"))).toBe(false);
      expect(calls()).toEqual(["daemon-reload", "enable --quiet hosa.service", "restart hosa.service", "is-active --quiet hosa.service", "is-active --quiet hosa.service"]);
      // The operator switches to act and runs install.sh again: the drop-in comes, the agent restarts.
      writeFileSync(conf, `${readFileSync(conf, "utf8")}[respond]\nmode = "act"\n`);
      expect(script("install.sh", [], env).code).toBe(0);
      expect(readFileSync(join(sys, "root/etc/systemd/system/hosa.service.d/act.conf"), "utf8")).toBe(readFileSync(join(repo, "deploy/systemd/act.conf"), "utf8"));
      expect(calls().filter((c) => c === "restart hosa.service").length).toBe(2);
      const u = script("uninstall.sh", [], env);
      expect(u.code).toBe(0);
      expect(calls()).toContain("disable --now --quiet hosa.service");
      expect(existsSync(unitPath)).toBe(false);
      expect(existsSync(join(sys, "root/etc/systemd/system/hosa.service.d"))).toBe(false);
      expect(existsSync(join(sys, "root/usr/local/bin/hosa"))).toBe(false);
    } finally {
      rmSync(sys, { recursive: true, force: true });
    }
  }, 60_000);

  test("install.sh's package set brings no kernel, no service and no other OOM killer; deb-src stays out of /etc/apt", () => {
    const list = Bun.spawnSync(["bash", join(repo, "scripts/deps.sh"), "build", "--print"]).stdout.toString().trim().split("\n");
    expect(list).toContain("clang");
    // apt's dependency closure of that set (every alternative included, so wider than what apt would pick).
    const closure = Bun.spawnSync(
      ["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", ...list],
      { stdout: "pipe", stderr: "pipe" },
    );
    expect(closure.exitCode).toBe(0);
    const names = [...new Set(closure.stdout.toString().split("\n").filter((l) => l && !l.startsWith(" ") && !l.startsWith("<")))];
    expect(names.length).toBeGreaterThan(50);
    const banned = /^(linux-image|linux-headers|earlyoom|nohang|prometheus|stress-ng|fio$|qemu|systemd$|grub)/;
    expect(names.filter((p) => banned.test(p))).toEqual([]);
    // The check can fail: the test set has what the build set must not.
    const testSet = Bun.spawnSync(["bash", join(repo, "scripts/deps.sh"), "test", "--print"]).stdout.toString().trim().split("\n");
    expect(testSet.filter((p) => banned.test(p)).length).toBeGreaterThanOrEqual(5);
    const apt = ["/etc/apt/sources.list", "/etc/apt/sources.list.d"].filter(existsSync);
    const before = Bun.spawnSync(["ls", "-l", "--time-style=full-iso", ...apt]).stdout.toString();
    const t = mkdtempSync(join(tmpdir(), "hosa-apt-source-"));
    try {
      const r = Bun.spawnSync(["bash", join(repo, "scripts/apt-source.sh"), "libbpf", t], { stderr: "pipe" });
      expect(r.stderr.toString()).toBe("");
      expect(r.exitCode).toBe(0);
      expect(Bun.spawnSync(["sh", "-c", `ls -d ${t}/libbpf-[0-9]*`]).exitCode).toBe(0);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
    expect(Bun.spawnSync(["ls", "-l", "--time-style=full-iso", ...apt]).stdout.toString()).toBe(before);
    expect(existsSync("/etc/apt/sources.list.d/hosa-src.list")).toBe(false);
  }, 120_000);
});
