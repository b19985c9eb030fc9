// The route weight editor: the chosen route's weighted targets, changed through UpdateRoute with the route's whole
// spec.  The API decides what is valid: its refusal is shown as it said it, and nothing is checked here first.

import { ApiError, type Relay } from "./api";
import { type MeshModel, type Resource, idOf, updateRouteWeights, weightedTargets } from "./appmesh";
import { h, replace } from "./dom";

export class WeightEditor {
  constructor(
    private readonly panel: HTMLElement,
    private readonly relay: Relay,
    private readonly onUpdated: (route: Resource, message: string) => Promise<void>,
  ) {}

  // `message` says how the last save went; it stays above the reloaded route.
  show(model: MeshModel, chosen?: string, message?: string): void {
    const routes = model.resources.filter((r) => r.kind === "route" && weightedTargets(r).length > 0);
    if (routes.length === 0) {
      replace(this.panel, h("p", {}, "This mesh has no route with weighted targets."));
      return;
    }
    const picker = h("select", { id: "route-picker", "aria-label": "route" }, ...routes.map((r) => h("option", { value: idOf(r) }, `${r.parent} / ${r.name}`)));
    const editor = h("div", { id: "weight-editor" });
    replace(this.panel, h("label", {}, "route ", picker), editor);
    const open = (): void => this.edit(model.mesh.name, routes.find((r) => idOf(r) === picker.value) ?? routes[0], editor);
    picker.addEventListener("change", open);
    if (chosen && routes.some((r) => idOf(r) === chosen)) picker.value = chosen;
    open();
    if (message) replace(this.panel.querySelector<HTMLElement>("#weight-outcome") ?? editor, h("p", { class: "ok" }, message));
  }

  private edit(mesh: string, route: Resource, editor: HTMLElement): void {
    const targets = weightedTargets(route);
    const inputs = targets.map((t) => h("input", { type: "number", step: "1", value: String(t.weight), "data-node": t.virtualNode, "aria-label": `weight of ${t.virtualNode}` }));
    const rows = targets.map((t, i) => h("tr", {}, h("th", { scope: "row" }, t.virtualNode + (t.port ? `:${t.port}` : "")), h("td", {}, inputs[i])));
    const save = h("button", { type: "submit" }, "Save weights");
    const outcome = h("div", { id: "weight-outcome", role: "status" });
    const form = h("form", { id: "weights-form" }, h("table", {}, h("tbody", {}, ...rows)), save, outcome);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.save(mesh, route, inputs.map((input) => Number(input.value)), save, outcome);
    });
    replace(editor, h("p", { class: "hint" }, `version ${route.data.metadata?.version ?? "?"}; saved with UpdateRoute`), form);
  }

  private async save(mesh: string, route: Resource, weights: number[], button: HTMLButtonElement, outcome: HTMLElement): Promise<void> {
    button.disabled = true;
    replace(outcome, "saving ...");
    try {
      const updated = await updateRouteWeights(this.relay, mesh, route, weights);
      const message = `updated: route version ${updated.metadata?.version ?? "?"}`;
      replace(outcome, h("p", { class: "ok" }, message));
      await this.onUpdated(route, message);
    } catch (error) {
      const text = error instanceof ApiError ? error.message : String(error);
      replace(outcome, h("pre", { class: "api-error", role: "alert" }, text));
    } finally {
      button.disabled = false;
    }
  }
}
