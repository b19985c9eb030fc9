// The mesh as a layered graph: virtual gateways -> gateway routes -> virtual services -> virtual routers -> routes
// -> virtual nodes, with each route's weights on its edges and a node's calls to its backends as dashed edges.
// dagre lays it out left to right, so each kind gets its own columns and no two nodes overlap.

import cytoscape, { type Core, type ElementDefinition, type EventObject } from "cytoscape";
import dagre from "cytoscape-dagre";
import { type Kind, type MeshModel, type Resource, idOf, resourceId, routeType, weightedTargets } from "./appmesh";
import type { Sync } from "./status";

cytoscape.use(dagre);

export const KIND_COLORS: Record<Kind | "missing", string> = {
  mesh: "#555555",
  virtualGateway: "#7d3c98",
  gatewayRoute: "#a569bd",
  virtualService: "#2471a3",
  virtualRouter: "#b9770e",
  route: "#d4ac0d",
  virtualNode: "#1e8449",
  missing: "#9e9e9e",
};

export const KIND_LABELS: Record<Kind | "missing", string> = {
  mesh: "mesh",
  virtualGateway: "virtual gateway",
  gatewayRoute: "gateway route",
  virtualService: "virtual service",
  virtualRouter: "virtual router",
  route: "route",
  virtualNode: "virtual node",
  missing: "named, not found",
};

const SYNC_COLORS: Record<Sync, string> = {
  "in-sync": "#2ecc71",
  behind: "#f39c12",
  disconnected: "#7f8c8d",
  nack: "#e74c3c",
};

// Below this many pixels on screen a label is not drawn (Cytoscape.js's min-zoomed-font-size).
export const MIN_FONT_PX = 6;
// Node labels: about this many pixels a character at 12 px, wrapped past this many characters where a dot allows.
const CHAR_PX = 7;
const WRAP_CHARS = 18;
// A small mesh is not blown up past this zoom to fill the view.
const MAX_FIT_ZOOM = 1.25;

type Spec = Record<string, any>; // App Mesh JSON as the API returned it, read defensively below

function gatewayRouteTarget(spec: Spec | undefined): string | undefined {
  for (const type of ["httpRoute", "http2Route", "grpcRoute"]) {
    const name = spec?.[type]?.action?.target?.virtualService?.virtualServiceName;
    if (typeof name === "string") return name;
  }
  return undefined;
}

function providerOf(spec: Spec | undefined): [Kind, string] | undefined {
  const provider = spec?.provider;
  if (typeof provider?.virtualNode?.virtualNodeName === "string") return ["virtualNode", provider.virtualNode.virtualNodeName];
  if (typeof provider?.virtualRouter?.virtualRouterName === "string") return ["virtualRouter", provider.virtualRouter.virtualRouterName];
  return undefined;
}

function backendsOf(spec: Spec | undefined): string[] {
  const backends: Spec[] = Array.isArray(spec?.backends) ? spec.backends : [];
  return backends.map((b) => b?.virtualService?.virtualServiceName).filter((n): n is string => typeof n === "string");
}

// A node's name and how it is drawn: long names wrap after their dots, so DNS-style service names keep the columns
// narrow; `lines` and `width` size the node to its label.
function named(name: string): { name: string; label: string; lines: number; width: number } {
  const chunks = name.split(/(?<=\.)/);
  const lines: string[] = [];
  for (const chunk of chunks) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + chunk.length <= WRAP_CHARS) lines[last] += chunk;
    else lines.push(chunk);
  }
  const longest = Math.max(...lines.map((line) => line.length));
  return { name, label: lines.join("\n"), lines: lines.length, width: Math.max(48, CHAR_PX * longest + 18) };
}

// The graph of a mesh: one node per resource, edges for every reference; a name no resource has becomes a grey node.
export function elements(model: MeshModel, sync: Map<string, Sync> = new Map()): ElementDefinition[] {
  const nodes = new Map<string, ElementDefinition>();
  const edges: ElementDefinition[] = [];
  for (const resource of model.resources) {
    const id = idOf(resource);
    const state = sync.get(`${resource.kind}/${resource.name}`);
    nodes.set(id, { group: "nodes", data: { id, kind: resource.kind, ...named(resource.name), sync: state ?? "" } });
  }
  const link = (source: string, kind: Kind, name: string, extra: Record<string, unknown> = {}, parent?: string): void => {
    const target = resourceId(kind, name, parent);
    if (!nodes.has(target)) nodes.set(target, { group: "nodes", data: { id: target, kind: "missing", ...named(name), sync: "" } });
    edges.push({ group: "edges", data: { id: `${source}>${target}`, source, target, ...extra } });
  };
  for (const resource of model.resources) {
    const id = idOf(resource);
    const spec = resource.data.spec as Spec | undefined;
    if (resource.kind === "gatewayRoute" && resource.parent !== undefined) {
      link(resourceId("virtualGateway", resource.parent), "gatewayRoute", resource.name, { kind: "has" }, resource.parent);
      const service = gatewayRouteTarget(spec);
      if (service !== undefined) link(id, "virtualService", service, { kind: "targets" });
    } else if (resource.kind === "virtualService") {
      const provider = providerOf(spec);
      if (provider !== undefined) link(id, provider[0], provider[1], { kind: "provider" });
    } else if (resource.kind === "route" && resource.parent !== undefined) {
      link(resourceId("virtualRouter", resource.parent), "route", resource.name, { kind: "has" }, resource.parent);
      weightEdges(resource).forEach(({ node, data }) => link(id, "virtualNode", node, data));
    } else if (resource.kind === "virtualNode") {
      backendsOf(spec).forEach((service) => link(id, "virtualService", service, { kind: "calls" }));
    }
  }
  return [...nodes.values(), ...edges];
}

function weightEdges(route: Resource): { node: string; data: Record<string, unknown> }[] {
  const targets = weightedTargets(route);
  const total = targets.reduce((sum, t) => sum + t.weight, 0);
  return targets.map((t) => {
    const share = total > 0 ? Math.round((1000 * t.weight) / total) / 10 : 0;
    return {
      node: t.virtualNode,
      data: { kind: "weight", weight: t.weight, share, label: `${t.weight} (${share}%)`, routeType: routeType(route.data.spec) ?? "" },
    };
  });
}

function style(): cytoscape.StylesheetJson {
  const kinds = Object.entries(KIND_COLORS).map(([kind, color]) => ({
    selector: `node[kind = "${kind}"]`,
    style: { "background-color": color },
  }));
  const syncs = Object.entries(SYNC_COLORS).map(([state, color]) => ({
    selector: `node[sync = "${state}"]`,
    style: { "border-width": 4, "border-color": color },
  }));
  return [
    {
      selector: "node",
      style: {
        shape: "round-rectangle",
        label: "data(label)",
        color: "#ffffff",
        "font-size": 12,
        "font-family": "system-ui, sans-serif",
        "text-valign": "center",
        "text-halign": "center",
        "text-wrap": "wrap",
        "text-max-width": "1000px", // lines break where `named` put them
        width: "data(width)",
        height: (node: cytoscape.NodeSingular) => 12 + 14 * Number(node.data("lines")),
        "min-zoomed-font-size": MIN_FONT_PX,
      },
    },
    ...kinds,
    ...syncs,
    { selector: "node:selected", style: { "overlay-color": "#000000", "overlay-opacity": 0.15, "overlay-padding": 4 } },
    { selector: "node.faded, edge.faded", style: { opacity: 0.15 } },
    { selector: "node.found", style: { "border-width": 3, "border-color": "#e91e63" } },
    {
      selector: "edge",
      style: {
        width: 1.5,
        "curve-style": "bezier",
        "line-color": "#9a9a9a",
        "target-arrow-color": "#9a9a9a",
        "target-arrow-shape": "triangle",
        "arrow-scale": 0.8,
      },
    },
    { selector: 'edge[kind = "calls"]', style: { "line-style": "dashed", "line-color": "#5dade2", "target-arrow-color": "#5dade2" } },
    {
      selector: 'edge[kind = "weight"]',
      style: {
        label: "data(label)",
        "font-size": 11,
        "text-background-color": "#ffffff",
        "text-background-opacity": 0.9,
        "text-background-padding": "2px",
        "text-rotation": "autorotate",
        "text-margin-y": -7,
        width: "mapData(share, 0, 100, 1, 5)",
        "line-color": "#d4ac0d",
        "target-arrow-color": "#d4ac0d",
      },
    },
    { selector: 'edge[kind = "weight"][weight = 0]', style: { "line-style": "dotted", width: 1 } },
  ];
}

export class Topology {
  readonly cy: Core;

  constructor(container: HTMLElement, onSelect: (id: string) => void) {
    this.cy = cytoscape({ container, style: style(), minZoom: 0.05, maxZoom: 3 });
    this.cy.on("tap", "node", (event: EventObject) => {
      this.focus(event.target.id());
      onSelect(event.target.id());
    });
    this.cy.on("tap", (event: EventObject) => {
      if (event.target === this.cy) this.cy.elements().removeClass("faded");
    });
  }

  show(model: MeshModel, sync?: Map<string, Sync>): void {
    this.cy.batch(() => {
      this.cy.elements().remove();
      this.cy.add(elements(model, sync));
    });
    const layout = {
      name: "dagre",
      rankDir: "LR",
      nodeSep: 10,
      rankSep: 36,
      edgeSep: 8,
      minLen: (edge: cytoscape.EdgeSingular) => (edge.data("kind") === "weight" ? 2 : 1), // room for the weight label
      fit: true,
      padding: 24,
    };
    this.cy.layout(layout as cytoscape.LayoutOptions).run();
    if (this.cy.zoom() > MAX_FIT_ZOOM) {
      this.cy.zoom(MAX_FIT_ZOOM);
      this.cy.center();
    }
  }

  // Marks each node's sync state (from the status client) without laying the graph out again.
  markSync(sync: Map<string, Sync>): void {
    this.cy.nodes().forEach((node) => {
      const data = node.data() as { kind: string; name: string };
      node.data("sync", sync.get(`${data.kind}/${data.name}`) ?? "");
    });
  }

  // Fades everything but the node and its neighbours.
  focus(id: string): void {
    const node = this.cy.getElementById(id);
    if (node.empty()) return;
    const near = node.closedNeighborhood();
    this.cy.elements().addClass("faded");
    near.removeClass("faded");
  }

  // Highlights the nodes whose name contains `text` and zooms to them; returns how many matched.
  find(text: string): number {
    this.cy.nodes().removeClass("found");
    if (!text) {
      this.cy.fit(undefined, 24);
      return 0;
    }
    const found = this.cy.nodes().filter((n) => String(n.data("name")).includes(text));
    found.addClass("found");
    if (found.nonempty()) this.cy.fit(found, 60);
    return found.length;
  }
}
