// The per-proxy status client: the one place the page learns which Envoys run which config.
//
// It calls GET /meshplane/v1/meshes/{meshName}/proxies on the meshplane API (through the console's relay, which
// allows exactly that path and the config read below), page by page, and reads this answer (times in epoch seconds):
//
//   {
//     "meshName": "demo",
//     "nodes": [{                                     // every virtual gateway and node of the page, in name order
//       "nodeId": "mesh/demo/virtualNode/blue", "kind": "virtualNode", "name": "blue",
//       "latestVersion": "a1b2c3",                   // what meshplane published last for it (null: nothing yet)
//       "envoys": 2, "connected": 2, "inSync": 1, "nacks": 1,
//       "sync": "nack"                               // its worst Envoy: nack > behind > disconnected > in-sync;
//     }],                                            // "no-envoy" or "unpublished" when there is none to judge
//     "proxies": [{                                   // every Envoy of those nodes that reported
//       "nodeId": "mesh/demo/virtualNode/blue",     // the Envoy's node.id (a path or the ARN)
//       "instance": "blue-1",                        // which Envoy of that node (its ECS task, bind address or peer)
//       "connection": "3f2a-17", "peer": "ipv4:10.0.1.7:51234",
//       "delivery": "ads",                           // "ads" or "file"
//       "connected": true,                           // an open ADS stream (file mode: the agent is running)
//       "connectedAt": 1764000000.1, "lastSeen": 1764000000.5,
//       "latestVersion": "a1b2c3",
//       "appliedVersion": "a1b2c3",                  // the published version it holds every type of (null: none yet)
//       "ackedVersions": {"clusters": "c1", ...},    // per xDS type, the published version it acknowledged
//       "sync": "in-sync",
//       "nack": null                                 // or its last rejection, until that type is accepted again:
//       // {"typeUrl": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "version": "d4e5f6",
//       //  "resourceNames": [...],                   // the resources Envoy's message names (it may name none)
//       //  "changedResources": ["cds_..."],          // those the refused version added or changed
//       //  "message": "<Envoy's error_detail.message>", "at": 1764000001.2}
//     }],
//     "nextToken": null
//   }
//
// GET /meshplane/v1/meshes/{meshName}/{virtualNodes|virtualGateways}/{name}/config answers a proxy's published
// Envoy config: {"nodeId", "version", "versions", "config": {"<type>": {"<resource name>": <Envoy JSON>}}}, with
// key material redacted.  An API without these reads makes every answer "not available" with its reason: the page
// then shows no proxy and no sync state at all, never a guess.

import { ApiError, type Relay, segment } from "./api";

export interface Nack {
  typeUrl: string;
  version?: string;
  resourceNames?: string[];
  changedResources?: string[];
  message: string;
  at?: number;
}

export interface NodeStatus {
  nodeId: string;
  kind: string;
  name: string;
  latestVersion?: string | null;
  envoys: number;
  connected: number;
  inSync: number;
  nacks: number;
  sync: string;
}

export interface PublishedConfig {
  nodeId: string;
  version: string;
  versions: Record<string, string>;
  config: Record<string, Record<string, unknown>>;
}

export interface ProxyStatus {
  nodeId: string;
  instance?: string;
  delivery?: string;
  connected: boolean;
  lastSeen?: number;
  latestVersion?: string | null;
  appliedVersion?: string | null;
  ackedVersions?: Record<string, string>;
  peer?: string;
  nack?: Nack | null;
}

export type StatusAnswer =
  | { available: true; proxies: ProxyStatus[]; nodes: NodeStatus[] }
  | { available: false; reason: string };

export type Sync = "nack" | "behind" | "in-sync" | "disconnected";

export async function proxyStatus(relay: Relay, mesh: string): Promise<StatusAnswer> {
  const proxies: ProxyStatus[] = [];
  const nodes: NodeStatus[] = [];
  let token: string | undefined;
  try {
    do {
      const query = token ? `?nextToken=${encodeURIComponent(token)}` : "";
      const page = await relay.get<{ proxies?: unknown; nodes?: unknown; nextToken?: unknown }>(
        `/meshplane/v1/meshes/${segment(mesh)}/proxies${query}`,
      );
      if (!Array.isArray(page.proxies)) return { available: false, reason: "the status API answered without a proxies list" };
      proxies.push(...(page.proxies as ProxyStatus[]));
      if (Array.isArray(page.nodes)) nodes.push(...(page.nodes as NodeStatus[]));
      token = typeof page.nextToken === "string" && page.nextToken ? page.nextToken : undefined;
    } while (token);
  } catch (error) {
    if (error instanceof ApiError) return { available: false, reason: error.message };
    throw error;
  }
  return { available: true, proxies, nodes };
}

// A proxy's Envoy config as meshplane published it (virtual nodes and gateways only).
export function publishedConfig(relay: Relay, mesh: string, kind: string, name: string): Promise<PublishedConfig> {
  return relay.get<PublishedConfig>(`/meshplane/v1/meshes/${segment(mesh)}/${kind}s/${segment(name)}/config`);
}

export function syncOf(proxy: ProxyStatus): Sync {
  if (proxy.nack) return "nack";
  if (!proxy.connected) return "disconnected";
  return proxy.appliedVersion && proxy.appliedVersion === proxy.latestVersion ? "in-sync" : "behind";
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
