// The HOSAQuarantine node condition: what `kubectl describe node` and every
// controller that reads node conditions see while hosa holds the node in
// quarantine. The taint keeps new pods away; the condition says why, on the
// node itself, and is set back to False (not deleted) on release so the
// history of the transition stays readable.
//
// A strategic merge patch on the node's status subresource merges the
// conditions list by its "type" key (Kubernetes API conventions), so the
// kubelet's own conditions (Ready, MemoryPressure...) are left as they are.

export const QUARANTINE_CONDITION = "HOSAQuarantine";

export interface NodeCondition {
  type: string;
  status: "True" | "False";
  reason: string;
  message: string;
  lastHeartbeatTime: string;
  lastTransitionTime: string;
}

/** The patch body for PATCH /api/v1/nodes/{name}/status. */
export function quarantineConditionPatch(active: boolean, message: string, now: Date): { status: { conditions: NodeCondition[] } } {
  // Kubernetes' metav1.Time is RFC 3339 to the second.
  const t = now.toISOString().replace(/\.\d+Z$/, "Z");
  return {
    status: {
      conditions: [
        {
          type: QUARANTINE_CONDITION,
          status: active ? "True" : "False",
          reason: active ? "HOSAQuarantined" : "HOSAReleased",
          message,
          lastHeartbeatTime: t,
          lastTransitionTime: t,
        },
      ],
    },
  };
}

/**
 * Set the condition on `nodeUrl` (…/api/v1/nodes/{name}); `init` builds the
 * authenticated request as the taint's does. Never throws: the outcome is
 * for the action record.
 */
export async function setQuarantineCondition(
  doFetch: typeof fetch,
  nodeUrl: string,
  init: (method: string, body?: unknown, type?: string) => RequestInit,
  active: boolean,
  message: string,
  now: Date = new Date(),
): Promise<{ action: string; outcome: string; set: boolean }> {
  const action = `condition ${QUARANTINE_CONDITION}=${active ? "True" : "False"}`;
  try {
    const res = await doFetch(`${nodeUrl}/status`, init("PATCH", quarantineConditionPatch(active, message, now), "application/strategic-merge-patch+json"));
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) return { action, outcome: `failed: PATCH node status: HTTP ${res.status}`, set: false };
    return { action, outcome: "applied", set: true };
  } catch (e) {
    return { action, outcome: `failed: ${(e as Error).message.split("\n")[0]}`, set: false };
  }
}
