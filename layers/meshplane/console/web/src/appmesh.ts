// A mesh read through the App Mesh API (2019-01-25 rest-json): every resource described, with spec and status.

import { ApiError, type Relay, segment } from "./api";

export type Kind =
  | "mesh"
  | "virtualGateway"
  | "gatewayRoute"
  | "virtualService"
  | "virtualRouter"
  | "route"
  | "virtualNode";

// A described resource as the API returns it (the Describe* payload: meshName, <kind>Name, spec, status, metadata).
export type Described = Record<string, unknown> & {
  spec?: Record<string, unknown>;
  status?: { status?: string };
  metadata?: { version?: number; lastUpdatedAt?: number; arn?: string };
};

export interface Resource {
  kind: Kind;
  name: string;
  parent?: string; // a route's virtual router, a gateway route's virtual gateway
  data: Described;
}

export interface MeshModel {
  mesh: Resource;
  resources: Resource[];
}

export interface WeightedTarget {
  virtualNode: string;
  weight: number;
  port?: number;
}

const V = "/v20190125/meshes";
const PAGE = 100;
const PARALLEL = 8;
export const ROUTE_TYPES = ["httpRoute", "http2Route", "grpcRoute", "tcpRoute"] as const;

export function resourceId(kind: Kind, name: string, parent?: string): string {
  return parent === undefined ? `${kind}/${name}` : `${kind}/${parent}/${name}`;
}

export function idOf(resource: Resource): string {
  return resourceId(resource.kind, resource.name, resource.parent);
}

async function listAll<T>(relay: Relay, path: string, key: string): Promise<T[]> {
  const found: T[] = [];
  let token: string | undefined;
  do {
    const query = `?limit=${PAGE}` + (token ? `&nextToken=${encodeURIComponent(token)}` : "");
    const page = await relay.get<Record<string, unknown>>(path + query);
    found.push(...((page[key] as T[] | undefined) ?? []));
    token = typeof page.nextToken === "string" && page.nextToken ? page.nextToken : undefined;
  } while (token);
  return found;
}

// Runs `work` on every item, at most PARALLEL at a time, keeping the order of `items`.
async function inParallel<T, R>(items: T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, worker));
  return results;
}

export async function listMeshes(relay: Relay): Promise<string[]> {
  const meshes = await listAll<{ meshName: string }>(relay, V, "meshes");
  return meshes.map((m) => m.meshName).sort();
}

interface Ref {
  kind: Kind;
  name: string;
  parent?: string;
  path: string;
}

// The mesh's top-level kinds: (kind, path under the mesh and List* key, name field); Describe* adds the name.
const TOP_LEVEL: [Kind, string, string][] = [
  ["virtualNode", "virtualNodes", "virtualNodeName"],
  ["virtualRouter", "virtualRouters", "virtualRouterName"],
  ["virtualService", "virtualServices", "virtualServiceName"],
  ["virtualGateway", "virtualGateways", "virtualGatewayName"],
];
// The kinds listed under a parent: (kind, parent kind, parent's path part, path and List* key, name field).
const CHILDREN: [Kind, Kind, string, string, string][] = [
  ["route", "virtualRouter", "virtualRouter", "routes", "routeName"],
  ["gatewayRoute", "virtualGateway", "virtualGateway", "gatewayRoutes", "gatewayRouteName"],
];

async function refsOf(relay: Relay, mesh: string): Promise<Ref[]> {
  const base = `${V}/${segment(mesh)}`;
  const lists = await Promise.all(
    TOP_LEVEL.map(async ([kind, path, field]) => {
      const items = await listAll<Record<string, string>>(relay, `${base}/${path}`, path);
      return items.map((item): Ref => ({ kind, name: item[field], path: `${base}/${path}/${segment(item[field])}` }));
    }),
  );
  const top = lists.flat();
  const parents = CHILDREN.flatMap((child) => top.filter((ref) => ref.kind === child[1]).map((ref) => ({ ref, child })));
  const children = await inParallel(parents, async ({ ref, child: [kind, , part, path, field] }) => {
    const under = `${base}/${part}/${segment(ref.name)}/${path}`;
    const items = await listAll<Record<string, string>>(relay, under, path);
    return items.map((item): Ref => ({ kind, name: item[field], parent: ref.name, path: `${under}/${segment(item[field])}` }));
  });
  return [...top, ...children.flat()];
}

// Every resource of `mesh`, described.  A resource deleted between the list and the describe is left out.
export async function loadMesh(relay: Relay, mesh: string): Promise<MeshModel> {
  const meshData = await relay.get<Described>(`${V}/${segment(mesh)}`);
  const refs = await refsOf(relay, mesh);
  const described = await inParallel(refs, async (ref): Promise<Resource | null> => {
    try {
      return { kind: ref.kind, name: ref.name, parent: ref.parent, data: await relay.get<Described>(ref.path) };
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return null;
      throw error;
    }
  });
  return {
    mesh: { kind: "mesh", name: mesh, data: meshData },
    resources: described.filter((r): r is Resource => r !== null),
  };
}

export function routeType(spec: Record<string, unknown> | undefined): (typeof ROUTE_TYPES)[number] | null {
  return ROUTE_TYPES.find((t) => spec !== undefined && spec[t] !== undefined) ?? null;
}

export function weightedTargets(route: Resource): WeightedTarget[] {
  const type = routeType(route.data.spec);
  if (type === null) return [];
  const action = (route.data.spec?.[type] as { action?: { weightedTargets?: WeightedTarget[] } }).action;
  return action?.weightedTargets ?? [];
}

// UpdateRoute with the route's whole spec as last described, its weighted targets' weights replaced in order.
export async function updateRouteWeights(relay: Relay, mesh: string, route: Resource, weights: number[]): Promise<Described> {
  const spec = structuredClone(route.data.spec ?? {}) as Record<string, unknown>;
  const type = routeType(spec);
  if (type === null || route.parent === undefined) throw new Error(`${route.name} has no weighted targets`);
  const targets = (spec[type] as { action: { weightedTargets: WeightedTarget[] } }).action.weightedTargets;
  targets.forEach((target, index) => {
    target.weight = weights[index];
  });
  const path = `${V}/${segment(mesh)}/virtualRouter/${segment(route.parent)}/routes/${segment(route.name)}`;
  return relay.put<Described>(path, { spec });
}
