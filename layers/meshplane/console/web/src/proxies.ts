// The per-proxy status panel: every Envoy of the mesh, the version it runs against the latest, and its NACKs,
// from the status client.  Without a status API it says so and shows nothing else.

import { h, replace } from "./dom";
import { type ProxyStatus, type StatusAnswer, resourceKey, syncOf } from "./status";

function when(seconds: number | undefined): string {
  return seconds === undefined ? "-" : new Date(seconds * 1000).toLocaleTimeString();
}

function row(proxy: ProxyStatus): HTMLTableRowElement {
  const sync = syncOf(proxy);
  const nack = proxy.nack ? `${proxy.nack.typeUrl.split(".").pop() ?? ""} ${proxy.nack.version ?? ""}: ${proxy.nack.message}` : "";
  return h(
    "tr",
    { class: `sync-${sync}`, "data-node": resourceKey(proxy.nodeId) ?? proxy.nodeId },
    h("td", {}, resourceKey(proxy.nodeId) ?? proxy.nodeId),
    h("td", {}, proxy.instance ?? "-"),
    h("td", {}, proxy.delivery ?? "-"),
    h("td", {}, proxy.connected ? "connected" : "disconnected"),
    h("td", {}, `${proxy.appliedVersion ?? "-"} / ${proxy.latestVersion ?? "-"}`),
    h("td", {}, sync),
    h("td", {}, when(proxy.lastSeen)),
    h("td", { class: "nack" }, nack),
  );
}

export function showProxies(panel: HTMLElement, answer: StatusAnswer): void {
  if (!answer.available) {
    replace(
      panel,
      h("p", { id: "status-unavailable", class: "unavailable" }, "Proxy status not available."),
      h("p", { class: "hint" }, `The API has no proxy status read yet (${answer.reason}). Nodes carry no sync state.`),
    );
    return;
  }
  if (answer.proxies.length === 0) {
    replace(panel, h("p", {}, "No proxy of this mesh has reported."));
    return;
  }
  const head = ["proxy", "instance", "delivery", "connection", "applied / latest", "sync", "last seen", "NACK"];
  replace(
    panel,
    h("table", { id: "proxy-table" }, h("thead", {}, h("tr", {}, ...head.map((t) => h("th", { scope: "col" }, t)))), h("tbody", {}, ...answer.proxies.map(row))),
  );
}
