// The console page: a mesh picker, the topology, the resource browser, the route weight editor, the proxy panel and
// the rollouts' progress.
// It starts from the token in the URL's fragment (printed by `meshplane console`), kept for this tab only.

import { ApiError, Relay } from "./api";
import { type MeshModel, type Resource, idOf, listMeshes, loadMesh } from "./appmesh";
import { ResourceBrowser, legend } from "./browser";
import { byId, h, replace } from "./dom";
import { showProxies } from "./proxies";
import { anyActive, listRollouts, showRollouts } from "./rollouts";
import { type Sync, proxyStatus, publishedConfig, syncByResource } from "./status";
import { Topology } from "./topology";
import { WeightEditor } from "./weights";

const TOKEN_KEY = "meshplane-console-token";
const STATUS_POLL_MS = 5000;

// The token from `#token=...`, moved into session storage and out of the address bar (and so out of screenshots).
function takeToken(): string | null {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? `#${rest}` : ""));
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function say(text: string, error = false): void {
  const notice = byId("notice");
  notice.textContent = text;
  notice.classList.toggle("error", error);
}

function describe(error: unknown): string {
  return error instanceof ApiError ? error.message : String(error);
}

class Console {
  private model: MeshModel | null = null;
  private sync = new Map<string, Sync>();
  private loads = 0;
  private poll: number | undefined;
  private rolloutPoll: number | undefined;
  readonly topology: Topology;
  private readonly browser: ResourceBrowser;
  private readonly weights: WeightEditor;
  private readonly picker = byId<HTMLSelectElement>("mesh-picker");
  private readonly config = h("div", { id: "proxy-config" });

  constructor(private readonly relay: Relay) {
    this.topology = new Topology(byId("graph"), (id) => this.pick(id));
    this.browser = new ResourceBrowser(byId("panel-resources"), (resource) => this.picked(resource),
      (kind, name, target) => void this.openConfig(kind, name, target));
    this.weights = new WeightEditor(byId("panel-weights"), relay, (route, message) => this.reload(idOf(route), message));
    this.picker.addEventListener("change", () => void this.load(this.picker.value));
    byId("refresh").addEventListener("click", () => void this.load(this.picker.value));
    byId<HTMLInputElement>("find").addEventListener("input", (event) => {
      const found = this.topology.find((event.target as HTMLInputElement).value.trim());
      say(found ? `${found} found` : "");
    });
    document.querySelectorAll<HTMLButtonElement>("#tabs button").forEach((tab) => tab.addEventListener("click", () => openTab(tab.dataset.tab ?? "")));
    legend(byId("legend"));
  }

  get current(): MeshModel | null {
    return this.model;
  }

  async start(): Promise<void> {
    const meshes = await listMeshes(this.relay);
    replace(this.picker, ...meshes.map((m) => h("option", { value: m }, m)));
    if (meshes.length === 0) {
      say("No mesh yet: create one through the App Mesh API.");
      return;
    }
    const wanted = new URLSearchParams(location.hash.slice(1)).get("mesh");
    this.picker.value = wanted && meshes.includes(wanted) ? wanted : meshes[0];
    await this.load(this.picker.value);
  }

  async load(mesh: string, chosen?: string, message?: string): Promise<void> {
    say(`loading ${mesh} ...`);
    document.body.dataset.state = "loading";
    try {
      const model = await loadMesh(this.relay, mesh);
      this.model = model;
      history.replaceState(null, "", `${location.pathname}#mesh=${encodeURIComponent(mesh)}`);
      this.topology.show(model, this.sync);
      this.browser.show(model, chosen);
      this.weights.show(model, chosen, message);
      say(`${mesh}: ${model.resources.length} resources`);
      await Promise.all([this.refreshStatus(), this.refreshRollouts()]);
    } catch (error) {
      say(describe(error), true);
    } finally {
      document.body.dataset.state = "ready";
      document.body.dataset.loads = String(++this.loads);
    }
  }

  private reload(chosen: string, message: string): Promise<void> {
    return this.load(this.picker.value, chosen, message);
  }

  private async refreshStatus(): Promise<void> {
    window.clearTimeout(this.poll);
    const mesh = this.model?.mesh.name;
    if (mesh === undefined) return;
    const answer = await proxyStatus(this.relay, mesh);
    showProxies(byId("panel-proxies"), answer, (kind, name, target) => void this.openConfig(kind, name, target), this.config);
    this.sync = answer.available ? syncByResource(answer.proxies) : new Map();
    this.topology.markSync(this.sync);
    if (answer.available) this.poll = window.setTimeout(() => void this.refreshStatus(), STATUS_POLL_MS);
  }

  // Every rollout of the mesh, read again every few seconds while one is in progress (the controller moves it).
  private async refreshRollouts(): Promise<void> {
    window.clearTimeout(this.rolloutPoll);
    const mesh = this.model?.mesh.name;
    if (mesh === undefined) return;
    const answer = await listRollouts(this.relay, mesh);
    if (this.model?.mesh.name !== mesh) return; // another mesh was picked meanwhile
    showRollouts(byId("panel-rollouts"), answer);
    if (anyActive(answer)) this.rolloutPoll = window.setTimeout(() => void this.refreshRollouts(), STATUS_POLL_MS);
  }

  // A proxy's Envoy config as meshplane published it, as JSON (the API redacts key material).
  private async openConfig(kind: string, name: string, target: HTMLElement): Promise<void> {
    const mesh = this.model?.mesh.name;
    if (mesh === undefined) return;
    replace(target, h("p", { class: "hint" }, `loading the published config of ${kind}/${name} ...`));
    try {
      const published = await publishedConfig(this.relay, mesh, kind, name);
      replace(
        target,
        h("h3", {}, `${kind}/${name} as published`),
        h("p", { class: "hint" }, `version ${published.version}; key material redacted`),
        h("pre", { class: "json config", "data-node": `${kind}/${name}`, "aria-label": "published Envoy config" },
          JSON.stringify(published.config, null, 2)),
      );
    } catch (error) {
      replace(target, h("pre", { class: "api-error" }, describe(error)));
    }
  }

  private pick(id: string): void {
    this.browser.select(id);
  }

  private picked(resource: Resource): void {
    this.topology.focus(idOf(resource));
    if (resource.kind === "route" && this.model !== null) this.weights.show(this.model, idOf(resource));
  }
}

function openTab(name: string): void {
  document.querySelectorAll<HTMLButtonElement>("#tabs button").forEach((tab) => tab.setAttribute("aria-selected", String(tab.dataset.tab === name)));
  document.querySelectorAll<HTMLElement>(".panel").forEach((panel) => {
    panel.hidden = panel.id !== `panel-${name}`;
  });
}

declare global {
  interface Window {
    meshplaneConsole?: { cy: Topology["cy"]; model: () => MeshModel | null };
  }
}

function main(): void {
  const token = takeToken();
  if (token === null) {
    say("Open the URL that `meshplane console` printed: it carries this session's token.", true);
    document.body.dataset.state = "no-token";
    return;
  }
  const app = new Console(new Relay(token));
  // for the browser's developer tools (and the browser tests): the graph and the loaded mesh, read-only use
  window.meshplaneConsole = { cy: app.topology.cy, model: () => app.current };
  app.start().catch((error: unknown) => {
    say(describe(error), true);
    document.body.dataset.state = "ready";
  });
}

main();
