// The per-proxy status client: the one place the page learns which Envoys run which config.
//
// It calls GET /meshplane/v1/meshes/{meshName}/proxies on the meshplane API (through the console's relay, which
// allows exactly that path) and expects this answer (timestamps in epoch seconds, as the App Mesh API writes them):
//
//   {
//     "meshName": "demo",
//     "proxies": [{
//       "nodeId": "mesh/demo/virtualNode/blue",     // the Envoy's node.id: which virtual node or gateway it serves
//       "instance": "blue-1",                        // which Envoy of that node (several may serve one node)
//       "delivery": "ads",                           // "ads" or "file"
//       "connected": true,                           // an open ADS stream (file mode: the agent reported lately)
//       "lastSeen": 1764000000.5,
//       "latestVersion": "a1b2c3",                   // what meshplane published last for that node
//       "appliedVersion": "a1b2c3",                  // what this Envoy last acknowledged (or the agent applied)
//       "nack": null                                 // or the last rejection, until a later version is accepted:
//       // {"typeUrl": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "version": "d4e5f6",
//       //  "resourceNames": ["cds_egress_demo_green_http_8080"], "message": "<Envoy's error_detail.message>",
//       //  "at": 1764000001.2}
//     }],
//     "nextToken": null
//   }
//
// Until an API answers that path, every answer is "not available" with the reason (the API's own 404, say):
// the page then shows no proxy and no sync state at all, never a guess.

import { ApiError, type Relay, segment } from "./api";

export interface Nack {
  typeUrl: string;
  version?: string;
  resourceNames?: string[];
  message: string;
  at?: number;
}

export interface ProxyStatus {
  nodeId: string;
  instance?: string;
  delivery?: string;
  connected: boolean;
  lastSeen?: number;
  latestVersion?: string;
  appliedVersion?: string;
  nack?: Nack | null;
}

export type StatusAnswer = { available: true; proxies: ProxyStatus[] } | { available: false; reason: string };

export type Sync = "nack" | "behind" | "in-sync" | "disconnected";

export async function proxyStatus(relay: Relay, mesh: string): Promise<StatusAnswer> {
  const proxies: ProxyStatus[] = [];
  let token: string | undefined;
  try {
    do {
      const query = token ? `?nextToken=${encodeURIComponent(token)}` : "";
      const page = await relay.get<{ proxies?: unknown; nextToken?: unknown }>(
        `/meshplane/v1/meshes/${segment(mesh)}/proxies${query}`,
      );
      if (!Array.isArray(page.proxies)) return { available: false, reason: "the status API answered without a proxies list" };
      proxies.push(...(page.proxies as ProxyStatus[]));
      token = typeof page.nextToken === "string" && page.nextToken ? page.nextToken : undefined;
    } while (token);
  } catch (error) {
    if (error instanceof ApiError) return { available: false, reason: error.message };
    throw error;
  }
  return { available: true, proxies };
}

export function syncOf(proxy: ProxyStatus): Sync {
  if (proxy.nack) return "nack";
  if (!proxy.connected) return "disconnected";
  return proxy.appliedVersion !== undefined && proxy.appliedVersion === proxy.latestVersion ? "in-sync" : "behind";
}

// "virtualNode/blue" for "mesh/demo/virtualNode/blue" or its ARN: the key the topology marks.
export function resourceKey(nodeId: string): string | null {
  const found = /(?:^|:|\/)mesh\/[^/]+\/(virtualNode|virtualGateway)\/([^/]+)$/.exec(nodeId);
  return found === null ? null : `${found[1]}/${found[2]}`;
}

// The worst state among a resource's proxies, for its node in the topology: nack > behind > disconnected > in-sync.
export function syncByResource(proxies: ProxyStatus[]): Map<string, Sync> {
  const rank: Record<Sync, number> = { "in-sync": 0, disconnected: 1, behind: 2, nack: 3 };
  const worst = new Map<string, Sync>();
  for (const proxy of proxies) {
    const key = resourceKey(proxy.nodeId);
    if (key === null) continue;
    const state = syncOf(proxy);
    const seen = worst.get(key);
    if (seen === undefined || rank[state] > rank[seen]) worst.set(key, state);
  }
  return worst;
}
