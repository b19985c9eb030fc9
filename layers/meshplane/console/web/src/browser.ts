// The resource browser: every resource of the mesh by kind; the chosen one as the API described it (spec, status,
// metadata), as JSON.

import { type Kind, type MeshModel, type Resource, idOf } from "./appmesh";
import { h, replace } from "./dom";
import type { OpenConfig } from "./proxies";
import { KIND_COLORS, KIND_LABELS } from "./topology";

const ORDER: Kind[] = ["mesh", "virtualGateway", "gatewayRoute", "virtualService", "virtualRouter", "route", "virtualNode"];

export class ResourceBrowser {
  private model: MeshModel | null = null;

  constructor(
    private readonly panel: HTMLElement,
    private readonly onPick: (resource: Resource) => void,
    private readonly onConfig: OpenConfig,
  ) {}

  show(model: MeshModel, selected?: string): void {
    this.model = model;
    const all = [model.mesh, ...model.resources];
    const groups = ORDER.map((kind) => {
      const members = all.filter((r) => r.kind === kind).sort((a, b) => idOf(a).localeCompare(idOf(b)));
      if (members.length === 0) return null;
      const items = members.map((r) =>
        h("li", {}, h("button", { type: "button", class: "resource", "data-id": idOf(r) }, r.parent ? `${r.parent} / ${r.name}` : r.name)),
      );
      return h("details", { open: "" }, h("summary", {}, swatch(kind), `${KIND_LABELS[kind]} (${members.length})`), h("ul", {}, ...items));
    });
    const detail = h("div", { id: "resource-detail" });
    replace(this.panel, h("div", { class: "resource-list" }, ...groups), detail);
    this.panel.querySelectorAll<HTMLButtonElement>("button.resource").forEach((button) => {
      button.addEventListener("click", () => this.select(button.dataset.id ?? ""));
    });
    if (selected) this.select(selected);
  }

  select(id: string): void {
    const all = this.model ? [this.model.mesh, ...this.model.resources] : [];
    const resource = all.find((r) => idOf(r) === id);
    const detail = this.panel.querySelector<HTMLElement>("#resource-detail");
    if (resource === undefined || detail === null) return;
    this.panel.querySelectorAll("button.resource").forEach((b) => b.classList.toggle("chosen", (b as HTMLElement).dataset.id === id));
    const status = resource.data.status?.status ?? "unknown";
    replace(
      detail,
      h("h3", {}, `${KIND_LABELS[resource.kind]} ${resource.parent ? `${resource.parent} / ` : ""}${resource.name}`),
      h("p", { class: `state state-${status.toLowerCase()}` }, `status ${status}, version ${resource.data.metadata?.version ?? "?"}`),
      h("pre", { class: "json", "aria-label": "resource JSON" }, JSON.stringify(resource.data, null, 2)),
    );
    if (resource.kind === "virtualNode" || resource.kind === "virtualGateway") {
      const target = h("div", { id: "resource-config" });
      const button = h("button", { type: "button", id: "show-config" }, "Published Envoy config");
      button.addEventListener("click", () => this.onConfig(resource.kind, resource.name, target));
      detail.append(button, target);
    }
    this.onPick(resource);
  }
}

// A colour chip of a kind, as the topology paints it (set through the CSSOM: the page allows no inline style).
function swatch(kind: keyof typeof KIND_COLORS): HTMLElement {
  const chip = h("span", { class: "swatch" });
  chip.style.backgroundColor = KIND_COLORS[kind];
  return chip;
}

export function legend(list: HTMLElement): void {
  const kinds = Object.keys(KIND_COLORS) as (keyof typeof KIND_COLORS)[];
  replace(
    list,
    ...kinds.filter((k) => k !== "mesh").map((k) => h("li", {}, swatch(k), KIND_LABELS[k])),
    h("li", { class: "edge-key" }, "edge label: weight (share); dashed: calls a backend"),
  );
}
