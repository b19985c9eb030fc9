// The per-proxy status panel: every proxy of the mesh with its latest published version and its Envoys' summary,
// then every Envoy: the version it runs against the latest, its acknowledged versions and its NACK with Envoy's
// message.  A proxy's published Envoy config opens below on demand.  Without a status API it says so, nothing else.

import { h, replace } from "./dom";
import { type NodeStatus, type ProxyStatus, type StatusAnswer, resourceKey, syncOf } from "./status";

export type OpenConfig = (kind: string, name: string, target: HTMLElement) => void;

function when(seconds: number | undefined): string {
  return seconds === undefined ? "-" : new Date(seconds * 1000).toLocaleTimeString();
}

function nackText(proxy: ProxyStatus): string {
  const nack = proxy.nack;
  if (!nack) return "";
  const named = nack.resourceNames?.length ? ` [named: ${nack.resourceNames.join(", ")}]` : "";
  const changed = nack.changedResources?.length ? ` [changed: ${nack.changedResources.join(", ")}]` : "";
  return `${nack.typeUrl.split(".").pop() ?? ""} ${nack.version ?? ""}: ${nack.message}${named}${changed}`;
}

function acked(proxy: ProxyStatus): string {
  return Object.entries(proxy.ackedVersions ?? {}).map(([type, version]) => `${type} ${version}`).join("\n");
}

function row(proxy: ProxyStatus): HTMLTableRowElement {
  const sync = syncOf(proxy);
  return h(
    "tr",
    { class: `sync-${sync}`, "data-node": resourceKey(proxy.nodeId) ?? proxy.nodeId, title: acked(proxy) },
    h("td", {}, resourceKey(proxy.nodeId) ?? proxy.nodeId),
    h("td", {}, proxy.instance ?? "-"),
    h("td", {}, proxy.delivery ?? "-"),
    h("td", {}, proxy.connected ? "connected" : "disconnected"),
    h("td", {}, `${proxy.appliedVersion ?? "-"} / ${proxy.latestVersion ?? "-"}`),
    h("td", {}, sync),
    h("td", {}, when(proxy.lastSeen)),
    h("td", { class: "nack" }, nackText(proxy)),
  );
}

function nodeRow(node: NodeStatus, open: OpenConfig, target: HTMLElement): HTMLTableRowElement {
  const key = `${node.kind}/${node.name}`;
  const button = h("button", { type: "button", class: "config", "data-node": key }, "config");
  button.addEventListener("click", () => open(node.kind, node.name, target));
  return h(
    "tr",
    { class: `sync-${node.sync}`, "data-node": key },
    h("td", {}, key),
    h("td", {}, node.latestVersion ?? "-"),
    h("td", {}, `${node.connected} / ${node.envoys}`),
    h("td", {}, String(node.inSync)),
    h("td", {}, String(node.nacks)),
    h("td", {}, node.sync),
    h("td", {}, node.latestVersion ? button : "-"),
  );
}

function table(id: string, head: string[], rows: HTMLTableRowElement[]): HTMLTableElement {
  return h("table", { id }, h("thead", {}, h("tr", {}, ...head.map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, ...rows));
}

// `config`: where a proxy's published config shows; the same element across refreshes, so an open one stays.
export function showProxies(panel: HTMLElement, answer: StatusAnswer, open: OpenConfig, config: HTMLElement): void {
  if (!answer.available) {
    replace(
      panel,
      h("p", { id: "status-unavailable", class: "unavailable" }, "Proxy status not available."),
      h("p", { class: "hint" }, `The API has no proxy status read (${answer.reason}). Nodes carry no sync state.`),
    );
    return;
  }
  const nodes = table("node-table", ["proxy", "latest", "connected", "in sync", "NACKs", "sync", "published"],
    answer.nodes.map((node) => nodeRow(node, open, config)));
  const envoys =
    answer.proxies.length === 0
      ? h("p", { id: "no-envoy" }, "No Envoy of this mesh has reported.")
      : table("proxy-table", ["proxy", "instance", "delivery", "connection", "applied / latest", "sync", "last seen", "NACK"],
          answer.proxies.map(row));
  replace(panel, h("h3", {}, "Proxies"), nodes, h("h3", {}, "Envoys"), envoys, config);
}
