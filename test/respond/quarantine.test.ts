// Quarantine: enter, status and release through the built executable on a
// real child cgroup (a real process is stopped and continued); the edge-remote
// watchdog with time as data; the Kubernetes mode against a Bun.serve server
// on 127.0.0.1 that stands in for an API server (it speaks GET/PATCH node
// and POST event, the calls hosa makes).
import { afterAll, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkWatchdog, manualQuarantine, readQuarantineState, releaseQuarantine } from "../../src/respond/quarantine.ts";
import { runHosa } from "../harness.ts";
import { actConfig, hybrid, isRoot, tempDir, TestResources } from "./helpers.ts";

const res = new TestResources();
const { cg, procs, dirs } = res;
afterAll(() => res.cleanup());

/** Process state letter from /proc/<pid>/stat: T when stopped. */
const stateOf = (pid: number) => {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  return s.slice(s.lastIndexOf(")") + 2, s.lastIndexOf(")") + 3);
};

async function waitState(pid: number, want: string): Promise<string> {
  for (let i = 0; i < 50 && stateOf(pid) !== want; i++) await Bun.sleep(20);
  return stateOf(pid);
}

/** A sleeping process in a new child memory cgroup (the attribution hierarchy here). */
async function victim(name: string): Promise<{ pid: number; path: string }> {
  const path = cg.create(hybrid ? "memory" : "", `${name}-${process.pid}`);
  const dir = cg.dir(hybrid ? "memory" : "", path);
  const p = Bun.spawn(["sh", "-c", `echo $$ > ${dir}/cgroup.procs && exec sleep 60`]);
  procs.push(p);
  for (let i = 0; i < 50 && !readFileSync(`${dir}/cgroup.procs`, "utf8").trim(); i++) await Bun.sleep(10);
  return { pid: p.pid, path };
}

const skip = isRoot ? "" : "needs root to create cgroups and stop processes";

test.skipIf(Boolean(skip))("enter, status and release through the executable: SIGSTOP, Level 3 hold, who released, decision log line", async () => {
  const dir = tempDir("qcli");
  dirs.push(dir);
  const cfgPath = join(dir, "hosa.toml");
  writeFileSync(cfgPath, `[paths]\nstate_dir = "${dir}/state"\nlog_file = "${dir}/decisions.log"\n[respond]\nmode = "act"\nquarantine_mode = "airgap"\n`);
  const v = await victim("h4q");

  let r = runHosa(["-c", cfgPath, "quarantine", "status", "--json"]);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout).active).toBe(false);

  r = runHosa(["-c", cfgPath, "quarantine", "enter", "--cgroup", v.path, "--yes", "--json"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const entered = JSON.parse(r.stdout);
  expect(entered.active).toBe(true);
  expect(entered.mode).toBe("airgap");
  expect(await waitState(v.pid, "T")).toBe("T");

  r = runHosa(["-c", cfgPath, "quarantine", "status", "--json"]);
  expect(r.code).toBe(0);
  const st = JSON.parse(r.stdout);
  expect(st).toMatchObject({ active: true, level: 5, mode: "airgap", stopped_pids: [v.pid] });
  expect(st.in_force).toContainEqual({ what: `SIGSTOP ${v.pid}`, hosa_value: "stopped", original: "running", current: null });
  expect(st.notes).toContain("air-gapped: no network calls at all");
  const snap = JSON.parse(readFileSync(st.snapshot, "utf8"));
  expect(snap.contributors).toEqual([v.path]);
  expect(snap.top_processes.length).toBeGreaterThan(0);
  r = runHosa(["-c", cfgPath, "quarantine", "status"]);
  expect(r.stdout).toContain("QUARANTINE (Level 5)");
  expect(r.stdout).toContain(`stopped PIDs: ${v.pid}`);

  // No terminal and no --yes: refused, one line, DECLINED; nothing changed.
  r = runHosa(["-c", cfgPath, "quarantine", "release"]);
  expect(r.code).toBe(8);
  expect(r.stderr).toBe("hosa: quarantine release: not confirmed: no terminal to ask on, pass --yes\n");
  expect(stateOf(v.pid)).toBe("T");
  // Not root: PERMISSION.
  const nobody = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.env.HOSA_EXE ?? join(import.meta.dir, "../../dist/hosa"), "-c", cfgPath, "quarantine", "release", "--yes"]);
  expect(nobody.exitCode).toBe(5);
  expect(nobody.stderr.toString()).toBe("hosa: quarantine release: needs root (running as uid 65534)\n");

  r = runHosa(["-c", cfgPath, "quarantine", "release", "--yes", "--json"], { env: { SUDO_USER: "alice" } });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const rel = JSON.parse(r.stdout);
  expect(rel).toMatchObject({ released: true, released_by: "alice", hold: "Level 3" });
  expect(rel.actions).toContainEqual(expect.objectContaining({ kind: "signal", action: `SIGCONT ${v.pid}`, outcome: "restored" }));
  expect(await waitState(v.pid, "S")).toBe("S");
  const after = JSON.parse(readFileSync(join(dir, "state/quarantine.json"), "utf8"));
  expect(after).toMatchObject({ active: false, level: 3, hold: { level: 3 }, released: { by: "alice", how: "manual" } });
  expect(readFileSync(join(dir, "decisions.log"), "utf8")).toContain('"kind":"quarantine_release"');
  expect(readFileSync(join(dir, "state/actions.journal"), "utf8")).toBe("");

  r = runHosa(["-c", cfgPath, "quarantine", "status"]);
  expect(r.stdout).toMatch(/^no quarantine in force on .* \(released by alice at .*, manual; holding at Level 3\)\n$/);
  r = runHosa(["-c", cfgPath, "quarantine", "release", "--yes"]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^no quarantine in force on /);
}, 30000);

test.skipIf(Boolean(skip))("edge-remote: the watchdog releases at the persisted deadline, not before (time as data)", async () => {
  const state = tempDir("qwd");
  dirs.push(state);
  const cfg = actConfig(state, { quarantineMode: "edge-remote", watchdogS: 2 });
  const v = await victim("h4wd");
  const t0 = 1_700_000_000_000;
  const { state: st } = await manualQuarantine(cfg, { cgroups: [v.path], who: "test", nowMs: t0 });
  expect(st?.watchdogDeadlineMs).toBe(t0 + 2000);
  expect(await waitState(v.pid, "T")).toBe("T");
  // The deadline is in the state file, so a restarted agent sees the same one.
  expect(readQuarantineState(cfg)?.watchdogDeadlineMs).toBe(t0 + 2000);
  expect(await checkWatchdog(cfg, t0 + 1999)).toBeNull();
  expect(stateOf(v.pid)).toBe("T");
  const r = await checkWatchdog(cfg, t0 + 2000);
  expect(r?.released).toBe(true);
  expect(r?.state?.released).toMatchObject({ by: "watchdog", how: "watchdog" });
  expect(r?.state?.hold?.level).toBe(3);
  expect(await waitState(v.pid, "S")).toBe("S");
  expect(await checkWatchdog(cfg, t0 + 5000)).toBeNull();
});

test("kubernetes: taints the node hosa.io/quarantine=true:NoExecute and posts an Event; release removes only that taint", async () => {
  const calls: { method: string; path: string; type: string | null; auth: string | null; body: unknown }[] = [];
  let taints: unknown[] = [{ key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" }];
  // Stands in for a Kubernetes API server: the node object and events, nothing else.
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const body = req.method === "GET" ? null : await req.json();
      calls.push({ method: req.method, path: url.pathname, type: req.headers.get("content-type"), auth: req.headers.get("authorization"), body });
      if (url.pathname === "/api/v1/nodes/worker-7") {
        if (req.method === "GET") return Response.json({ kind: "Node", metadata: { name: "worker-7", resourceVersion: "42" }, spec: { taints } });
        if (req.method === "PATCH") {
          taints = (body as { spec: { taints: unknown[] } }).spec.taints;
          return Response.json({ kind: "Node", metadata: { name: "worker-7", resourceVersion: "43" }, spec: { taints } });
        }
      }
      if (url.pathname === "/api/v1/namespaces/hosa-system/events" && req.method === "POST") return Response.json(body, { status: 201 });
      if (url.pathname === "/api/v1/nodes/worker-7/status" && req.method === "PATCH") return Response.json({ kind: "Node", metadata: { name: "worker-7" } });
      return new Response("not found", { status: 404 });
    },
  });
  try {
    const state = tempDir("qk8s");
    const sa = tempDir("qk8s-sa");
    dirs.push(state, sa);
    writeFileSync(join(sa, "token"), "tok-123\n");
    writeFileSync(join(sa, "namespace"), "hosa-system\n");
    const cfg = actConfig(state, { quarantineMode: "kubernetes", k8sApiUrl: `http://127.0.0.1:${server.port}`, k8sServiceAccountDir: sa, k8sNodeName: "worker-7" });
    const { records, state: st } = await manualQuarantine(cfg, { cgroups: [], who: "test" });
    expect(st?.mode).toBe("kubernetes");
    expect(readQuarantineState(cfg)?.k8s).toEqual({ node: "worker-7", tainted: true, event: true });
    expect(records.filter((r) => r.kind === "k8s").map((r) => r.outcome)).toEqual(["applied", "applied", "applied"]);
    const patch = calls.find((c) => c.method === "PATCH" && c.path === "/api/v1/nodes/worker-7")!;
    expect(patch.type).toBe("application/merge-patch+json");
    expect(patch.auth).toBe("Bearer tok-123");
    const pb = patch.body as { metadata: { resourceVersion: string }; spec: { taints: { key: string; value?: string; effect: string }[] } };
    expect(pb.metadata.resourceVersion).toBe("42");
    expect(pb.spec.taints[0]).toEqual({ key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" });
    expect(pb.spec.taints[1]).toMatchObject({ key: "hosa.io/quarantine", value: "true", effect: "NoExecute" });
    const ev = calls.find((c) => c.method === "POST")!.body as Record<string, any>;
    expect(ev).toMatchObject({ kind: "Event", type: "Warning", reason: "HOSAQuarantine", involvedObject: { kind: "Node", name: "worker-7" }, metadata: { namespace: "hosa-system" } });

    calls.length = 0;
    const rel = await releaseQuarantine(cfg, { who: "bob" });
    expect(rel.released).toBe(true);
    expect(taints).toEqual([{ key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" }]);
    expect((calls.find((c) => c.method === "POST")!.body as Record<string, unknown>).reason).toBe("HOSAQuarantineReleased");
    expect(readQuarantineState(cfg)?.k8s?.tainted).toBe(false);
  } finally {
    server.stop(true);
  }
});

test("airgap and cloud-vm make no network call; an unreachable API server is a failed record, never a crash", async () => {
  const state = tempDir("qnet");
  const sa = tempDir("qnet-sa");
  dirs.push(state, sa);
  writeFileSync(join(sa, "token"), "t\n");
  let hits = 0;
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => (hits++, new Response("{}")) });
  try {
    for (const mode of ["airgap", "cloud-vm"] as const) {
      const cfg = actConfig(`${state}/${mode}`, { quarantineMode: mode, k8sApiUrl: `http://127.0.0.1:${server.port}`, k8sServiceAccountDir: sa });
      await manualQuarantine(cfg, { cgroups: [], who: "test" });
      expect(existsSync(`${state}/${mode}/quarantine.json`)).toBe(true);
      await releaseQuarantine(cfg, { who: "test" });
    }
    expect(hits).toBe(0);
  } finally {
    server.stop(true);
  }
  const cfg = actConfig(`${state}/down`, { quarantineMode: "kubernetes", k8sApiUrl: "http://127.0.0.1:9", k8sServiceAccountDir: sa, k8sNodeName: "n" });
  const { records } = await manualQuarantine(cfg, { cgroups: [], who: "test" });
  expect(records.filter((r) => r.kind === "k8s").every((r) => r.outcome.startsWith("failed: "))).toBe(true);
  expect(readQuarantineState(cfg)?.active).toBe(true);
});
