// A Kubernetes API server stand-in on loopback, enough for kubectl to map
// manifests to resources (discovery documents for the groups hosa's
// manifests use) and for hosa's quarantine to taint the node, set its
// HOSAQuarantine condition and post Events. A real API server (etcd,
// kube-apiserver) is what this machine cannot have; this stands in for
// it, and records every call so tests can hold them against the RBAC.

export interface ApiCall {
  method: string;
  path: string;
  query: string;
  type: string | null;
  auth: string | null;
  body: unknown;
}

interface Res {
  name: string;
  kind: string;
  namespaced: boolean;
  verbs?: string[];
}
const VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"];
const GROUPS: Record<string, Res[]> = {
  v1: [
    { name: "namespaces", kind: "Namespace", namespaced: false },
    { name: "nodes", kind: "Node", namespaced: false },
    { name: "nodes/status", kind: "Node", namespaced: false, verbs: ["get", "patch", "update"] },
    { name: "configmaps", kind: "ConfigMap", namespaced: true },
    { name: "serviceaccounts", kind: "ServiceAccount", namespaced: true },
    { name: "services", kind: "Service", namespaced: true },
    { name: "events", kind: "Event", namespaced: true },
  ],
  "apps/v1": [{ name: "daemonsets", kind: "DaemonSet", namespaced: true }],
  "rbac.authorization.k8s.io/v1": [
    { name: "clusterroles", kind: "ClusterRole", namespaced: false },
    { name: "clusterrolebindings", kind: "ClusterRoleBinding", namespaced: false },
    { name: "roles", kind: "Role", namespaced: true },
    { name: "rolebindings", kind: "RoleBinding", namespaced: true },
  ],
  "events.k8s.io/v1": [{ name: "events", kind: "Event", namespaced: true }],
};

const notFound = (kind: string, name: string) =>
  Response.json({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: `${kind} "${name}" not found`, reason: "NotFound", details: { name, kind }, code: 404 }, { status: 404 });

export interface NodeObject {
  kind: "Node";
  apiVersion: "v1";
  metadata: { name: string; resourceVersion: string };
  spec: { taints?: { key: string; value?: string; effect: string; timeAdded?: string }[] };
  status: { conditions: { type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string }[] };
}

export function startApiServer(opts: { node: string; token?: string }) {
  const calls: ApiCall[] = [];
  const node: NodeObject = {
    kind: "Node",
    apiVersion: "v1",
    metadata: { name: opts.node, resourceVersion: "100" },
    spec: { taints: [{ key: "node.kubernetes.io/unschedulable", effect: "NoSchedule" }] },
    status: { conditions: [{ type: "Ready", status: "True", reason: "KubeletReady" }] },
  };
  const events: Record<string, unknown>[] = [];
  const bump = () => (node.metadata.resourceVersion = String(Number(node.metadata.resourceVersion) + 1));
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      const text = req.method === "GET" ? "" : await req.text();
      const body = text ? JSON.parse(text) : null;
      calls.push({ method: req.method, path: url.pathname, query: url.search, type: req.headers.get("content-type"), auth: req.headers.get("authorization"), body });
      if (opts.token && url.pathname.includes("/nodes/") && req.headers.get("authorization") !== `Bearer ${opts.token}`) {
        return Response.json({ kind: "Status", status: "Failure", reason: "Unauthorized", code: 401 }, { status: 401 });
      }
      const p = url.pathname;
      if (p === "/version") return Response.json({ major: "1", minor: "28", gitVersion: "v1.28.0-standin", platform: "linux/amd64" });
      if (p === "/api") return Response.json({ kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: url.host }] });
      if (p === "/apis") {
        const groups = Object.keys(GROUPS)
          .filter((g) => g.includes("/"))
          .map((gv) => ({ name: gv.split("/")[0], versions: [{ groupVersion: gv, version: "v1" }], preferredVersion: { groupVersion: gv, version: "v1" } }));
        return Response.json({ kind: "APIGroupList", apiVersion: "v1", groups });
      }
      const gv = p === "/api/v1" ? "v1" : p.startsWith("/apis/") && p.split("/").length === 4 ? p.slice(6) : null;
      if (gv) {
        const list = GROUPS[gv];
        if (!list) return notFound("group", gv);
        return Response.json({
          kind: "APIResourceList",
          apiVersion: "v1",
          groupVersion: gv,
          resources: list.map((r) => ({ name: r.name, singularName: r.name.includes("/") ? "" : r.kind.toLowerCase(), namespaced: r.namespaced, kind: r.kind, verbs: r.verbs ?? VERBS })),
        });
      }
      const nodePath = `/api/v1/nodes/${opts.node}`;
      if (p === nodePath && req.method === "GET") return Response.json(node);
      if (p === nodePath && req.method === "PATCH") {
        const b = body as { metadata?: { resourceVersion?: string }; spec?: { taints?: NodeObject["spec"]["taints"] } };
        if (b.metadata?.resourceVersion && b.metadata.resourceVersion !== node.metadata.resourceVersion) {
          return Response.json({ kind: "Status", status: "Failure", reason: "Conflict", code: 409 }, { status: 409 });
        }
        if (b.spec && "taints" in b.spec) node.spec.taints = b.spec.taints;
        bump();
        return Response.json(node);
      }
      if (p === `${nodePath}/status` && req.method === "PATCH") {
        if (req.headers.get("content-type") !== "application/strategic-merge-patch+json") return new Response("unsupported patch", { status: 415 });
        // Strategic merge: conditions merge by "type".
        for (const c of (body as { status?: { conditions?: NodeObject["status"]["conditions"] } }).status?.conditions ?? []) {
          const i = node.status.conditions.findIndex((x) => x.type === c.type);
          if (i >= 0) node.status.conditions[i] = { ...node.status.conditions[i], ...c };
          else node.status.conditions.push(c);
        }
        bump();
        return Response.json(node);
      }
      const ev = /^\/api\/v1\/namespaces\/([^/]+)\/events$/.exec(p);
      if (ev && req.method === "POST") {
        events.push(body as Record<string, unknown>);
        return Response.json(body, { status: 201 });
      }
      // Everything else (kubectl's GET of an object before it applies it) does not exist yet.
      const parts = p.split("/");
      return notFound(parts.at(-2) ?? "object", parts.at(-1) ?? "");
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, calls, node, events, stop: () => server.stop(true) };
}
