// deploy/kubernetes: kubectl (Debian's kubernetes-client, or the kubectl
// installed) maps every manifest to its resource on the loopback API server
// stand-in (test/deploy/k8s-api.ts) in a client-side dry run; the DaemonSets
// carry exactly the capabilities of the systemd unit per mode; and hosa's
// Kubernetes quarantine, run against the stand-in with a service-account
// token, taints the node, sets the HOSAQuarantine condition (True, then
// False on release, the kubelet's conditions kept) and posts Events, each
// call granted by deploy/kubernetes/rbac.yaml and every grant used.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { defaultConfig, parseConfig } from "../../src/config.ts";
import { kubernetesQuarantine } from "../../src/respond/quarantine.ts";
import { startApiServer } from "./k8s-api.ts";

const repo = resolve(import.meta.dir, "../..");
const k8s = join(repo, "deploy/kubernetes");
const dir = mkdtempSync(join(tmpdir(), "hosa-k8s-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Obj = { kind: string; metadata: { name: string; namespace?: string }; [k: string]: any };
function docs(file: string): Obj[] {
  const parsed = Bun.YAML.parse(readFileSync(join(k8s, file), "utf8")) as Obj | Obj[];
  return Array.isArray(parsed) ? parsed : [parsed];
}

/** Capabilities a unit grants, in Kubernetes' spelling (BPF, PERFMON...). */
function unitCaps(file: string): string[] {
  const text = readFileSync(join(repo, "deploy/systemd", file), "utf8");
  return [...text.matchAll(/^CapabilityBoundingSet=(.*)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/)).map((c) => c.replace(/^CAP_/, ""));
}

describe("deploy/kubernetes", () => {
  test("kubectl apply --dry-run=client maps every manifest, base and act, to its resource on the API server stand-in", async () => {
    const api = startApiServer({ node: "worker-1" });
    try {
      writeFileSync(join(dir, "kubeconfig"), "apiVersion: v1\nkind: Config\n");
      // Async spawn: the stand-in answers from this process's event loop.
      const p = Bun.spawn(
        [process.env.HOSA_KUBECTL ?? "kubectl", "--kubeconfig", join(dir, "kubeconfig"), "--server", api.url, "--request-timeout=10s", "--cache-dir", join(dir, "cache"), "apply", "--dry-run=client", "--validate=false", "-f", k8s, "-f", join(k8s, "act"), "-o", "name"],
        { stdout: "pipe", stderr: "pipe" },
      );
      const [out, err] = [await new Response(p.stdout).text(), await new Response(p.stderr).text()];
      expect(err).toBe("");
      expect(await p.exited).toBe(0);
      expect(out.trim().split("\n").sort()).toEqual(
        [
          "clusterrole.rbac.authorization.k8s.io/hosa",
          "clusterrolebinding.rbac.authorization.k8s.io/hosa",
          "configmap/hosa-config",
          "configmap/hosa-config",
          "daemonset.apps/hosa",
          "daemonset.apps/hosa",
          "namespace/hosa-system",
          "serviceaccount/hosa",
        ].sort(),
      );
      const gets = new Set(api.calls.filter((c) => c.method === "GET").map((c) => c.path));
      for (const path of [
        "/api/v1/namespaces/hosa-system",
        "/api/v1/namespaces/hosa-system/serviceaccounts/hosa",
        "/api/v1/namespaces/hosa-system/configmaps/hosa-config",
        "/apis/apps/v1/namespaces/hosa-system/daemonsets/hosa",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/hosa",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/hosa",
      ]) {
        expect(`${path} ${gets.has(path)}`).toBe(`${path} true`);
      }
      // A dry run writes nothing.
      expect(api.calls.filter((c) => c.method !== "GET")).toEqual([]);
    } finally {
      api.stop();
    }
  }, 60_000);

  test("the DaemonSets: host PID, the unit's capabilities per mode, host network only for XDP, every taint tolerated, scraped", () => {
    const detect = docs("daemonset.yaml")[0]!;
    const act = docs("act/daemonset.yaml")[0]!;
    for (const [ds, caps, hostNet] of [
      [detect, unitCaps("hosa.service"), undefined],
      [act, [...unitCaps("hosa.service"), ...unitCaps("act.conf")], true],
    ] as const) {
      const pod = ds.spec.template.spec;
      const c = pod.containers[0];
      expect(pod.hostPID).toBe(true);
      expect(pod.hostNetwork).toBe(hostNet);
      expect(c.securityContext.capabilities).toEqual({ drop: ["ALL"], add: caps });
      expect(c.securityContext.privileged).toBe(false);
      expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
      // Its own quarantine taint (NoExecute) must not evict the agent that holds it.
      expect(pod.tolerations).toContainEqual({ operator: "Exists" });
      expect(c.env).toContainEqual({ name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } });
      expect(ds.spec.template.metadata.annotations).toMatchObject({ "prometheus.io/scrape": "true", "prometheus.io/port": "9465" });
      expect(pod.serviceAccountName).toBe("hosa");
    }
    expect(detect.spec.template.spec.containers[0].volumeMounts.find((m: { name: string }) => m.name === "cgroup").readOnly).toBe(true);
    // The ConfigMaps are valid hosa configurations.
    const base = parseConfig(docs("configmap.yaml")[0]!.data["hosa.toml"], "configmap");
    const acting = parseConfig(docs("act/configmap.yaml")[0]!.data["hosa.toml"], "act configmap");
    expect([base.respond.mode, base.respond.quarantineMode, base.sense.cgroupRoot]).toEqual(["detect", "kubernetes", "/host/sys/fs/cgroup"]);
    expect([acting.respond.mode, acting.respond.quarantineMode]).toEqual(["act", "kubernetes"]);
    expect(detect.spec.template.spec.containers[0].ports[0].containerPort).toBe(Number(base.report.metricsListen.split(":")[1]));
  });

  test("quarantine against the stand-in: taint, HOSAQuarantine condition True then False, Events; every call granted by the RBAC, every grant used", async () => {
    const api = startApiServer({ node: "worker-7", token: "tok-7" });
    try {
      const sa = join(dir, "sa");
      Bun.spawnSync(["mkdir", "-p", sa]);
      writeFileSync(join(sa, "token"), "tok-7\n");
      writeFileSync(join(sa, "namespace"), "hosa-system\n");
      const cfg = defaultConfig();
      cfg.respond.quarantineMode = "kubernetes";
      cfg.respond.k8sApiUrl = api.url;
      cfg.respond.k8sServiceAccountDir = sa;
      const taint = await kubernetesQuarantine(cfg, "taint", { node: "worker-7", t: 10, message: "hosa quarantined node worker-7: memory of /leak runs out in 12 s" });
      expect(taint.records.map((r) => [r.action, r.outcome])).toEqual([
        ["taint hosa.io/quarantine=true:NoExecute", "applied"],
        ["condition HOSAQuarantine=True", "applied"],
        ["event HOSAQuarantine in hosa-system", "applied"],
      ]);
      const cond = () => api.node.status.conditions.find((c) => c.type === "HOSAQuarantine");
      expect(cond()).toMatchObject({ status: "True", reason: "HOSAQuarantined", message: "hosa quarantined node worker-7: memory of /leak runs out in 12 s" });
      expect(api.node.status.conditions.find((c) => c.type === "Ready")).toEqual({ type: "Ready", status: "True", reason: "KubeletReady" });
      expect(api.node.spec.taints?.map((t) => t.key)).toEqual(["node.kubernetes.io/unschedulable", "hosa.io/quarantine"]);

      const release = await kubernetesQuarantine(cfg, "untaint", { node: "worker-7", t: 20, message: "released by bob" });
      expect(release.records.every((r) => r.outcome === "applied")).toBe(true);
      expect(cond()).toMatchObject({ status: "False", reason: "HOSAReleased", message: "released by bob" });
      expect(api.node.spec.taints?.map((t) => t.key)).toEqual(["node.kubernetes.io/unschedulable"]);
      expect(api.events.map((e) => e.reason)).toEqual(["HOSAQuarantine", "HOSAQuarantineReleased"]);

      // Each call hosa made, as RBAC sees it, against the ClusterRole.
      const role = docs("rbac.yaml").find((o) => o.kind === "ClusterRole")!;
      const granted = new Set<string>((role.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[]).flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${res}`))));
      const verbOf: Record<string, string> = { GET: "get", PATCH: "patch", POST: "create", PUT: "update", DELETE: "delete" };
      const used = new Set(
        api.calls.map((c) => {
          const m = /^\/api\/v1\/(?:namespaces\/[^/]+\/)?([a-z]+)(?:\/[^/]+(?:\/([a-z]+))?)?$/.exec(c.path);
          if (!m) throw new Error(`unexpected call ${c.method} ${c.path}`);
          return `${verbOf[c.method]} ${m[1]}${m[2] ? `/${m[2]}` : ""}`;
        }),
      );
      expect([...used].sort()).toEqual([...granted].sort());
      expect(api.calls.every((c) => c.auth === "Bearer tok-7")).toBe(true);
    } finally {
      api.stop();
    }
  });
});
