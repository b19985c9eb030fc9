// The rollout client and panel: every rollout of the mesh with its state, its current step and weights, and the
// history of its decisions (time, step, weights, what was measured, the decision and why).
//
// It calls the Rollout API through the console's relay (which passes its two reads and none of its commands):
// GET /meshplane/v1/meshes/{meshName}/rollouts, page by page ({"rollouts": [{"rolloutName", "phase", "step", ...}],
// "nextToken"}), then GET .../rollouts/{rolloutName} for each, and reads this answer (times in epoch seconds):
//
//   {"rollout": {
//     "meshName": "demo", "rolloutName": "green",
//     "spec": {"route": {"virtualRouterName": "color", "routeName": "split"},
//              "stable": {"virtualNode": "blue"}, "canary": {"virtualNode": "green"},
//              "steps": [5, 25, 50], "stepIntervalSeconds": 60, "maxFailedChecks": 1,
//              "successCriteria": {"maxErrorRatePercent": 1, "maxP99Millis": 300, "alarmNames": [], "minimumRequests": 50}},
//     "status": {
//       "phase": "PROGRESSING",      // PENDING, PROGRESSING, PAUSED, PROMOTED, ROLLED_BACK or ABORTED
//       "step": 1,                   // index into spec.steps; -1 before the first
//       "failedChecks": 0,
//       "weights": {"stable": 75, "canary": 25},   // what the route carries while the rollout owns it (null: none)
//       "reason": "...",             // the last decision's why
//       "history": [{"at": 1764000000.1, "step": 0, "weights": {"stable": 95, "canary": 5}, "decision": "ADVANCED",
//                    "reason": "...", "measured": null | {"windowStart", "windowEnd", "requests", "errors",
//                                                        "retried"?, "p99Millis": null | ms, "alarms": {"name": "OK"}}}]
//     }, "metadata": {...}}}
//
// An API without the Rollout API makes the answer "not available" with its reason: the panel says so, nothing else.

import { ApiError, type Relay, segment } from "./api";
import { h, replace } from "./dom";

export interface Weights {
  stable: number;
  canary: number;
}

export interface Measured {
  windowStart: number;
  windowEnd: number;
  requests: number;
  errors: number;
  retried?: number;
  p99Millis?: number | null;
  alarms?: Record<string, string>;
}

export interface HistoryEntry {
  at: number;
  step: number;
  weights?: Weights | null;
  decision: string;
  reason: string;
  measured?: Measured | null;
}

export interface Rollout {
  rolloutName: string;
  spec: {
    route: { virtualRouterName: string; routeName: string };
    stable: { virtualNode: string; port?: number | null };
    canary: { virtualNode: string; port?: number | null };
    steps: number[];
    stepIntervalSeconds: number;
    maxFailedChecks?: number;
  };
  status: {
    phase: string;
    step: number;
    failedChecks?: number;
    weights?: Weights | null;
    reason?: string | null;
    history?: HistoryEntry[];
  };
}

export type RolloutsAnswer = { available: true; rollouts: Rollout[] } | { available: false; reason: string };

const ACTIVE = new Set(["PROGRESSING", "PAUSED"]);

export async function listRollouts(relay: Relay, mesh: string): Promise<RolloutsAnswer> {
  const base = `/meshplane/v1/meshes/${segment(mesh)}/rollouts`;
  const names: string[] = [];
  let token: string | undefined;
  try {
    do {
      const query = token ? `?nextToken=${encodeURIComponent(token)}` : "";
      const page = await relay.get<{ rollouts?: { rolloutName: string }[]; nextToken?: string | null }>(base + query);
      names.push(...(page.rollouts ?? []).map((r) => r.rolloutName));
      token = page.nextToken ?? undefined;
    } while (token);
    const described = await Promise.all(names.map((name) => relay.get<{ rollout: Rollout }>(`${base}/${segment(name)}`)));
    return { available: true, rollouts: described.map((d) => d.rollout) };
  } catch (error) {
    if (error instanceof ApiError) return { available: false, reason: error.message };
    throw error;
  }
}

// Whether any rollout may still change by itself (the controller drives it): the panel then reads them again.
export function anyActive(answer: RolloutsAnswer): boolean {
  return answer.available && answer.rollouts.some((r) => ACTIVE.has(r.status.phase));
}

function when(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace("T", " ").replace("Z", " UTC");
}

function weightsText(weights: Weights | null | undefined): string {
  return weights ? `stable ${weights.stable} / canary ${weights.canary}` : "-";
}

export function measuredText(measured: Measured | null | undefined): string {
  if (!measured) return "-";
  const parts = [`${measured.requests} req`];
  if (measured.requests > 0) parts.push(`5xx ${((100 * measured.errors) / measured.requests).toFixed(2)}%`);
  if (measured.retried) parts.push(`${measured.retried} retried`);
  if (measured.p99Millis !== null && measured.p99Millis !== undefined) parts.push(`p99 ${measured.p99Millis.toFixed(1)} ms`);
  for (const [alarm, state] of Object.entries(measured.alarms ?? {})) parts.push(`${alarm} ${state}`);
  const seconds = Math.max(0, measured.windowEnd - measured.windowStart);
  return `${parts.join(", ")} over ${seconds.toFixed(0)} s`;
}

// Steps are counted from 0, as the API, the CLI and the decisions' reasons count them.
function stepText(rollout: Rollout): string {
  const { step } = rollout.status;
  const steps = rollout.spec.steps;
  const plan = `of ${steps.join(" → ")}%`;
  if (step < 0) return `not started, ${plan}`;
  return step < steps.length ? `step ${step} (${steps[step]}%) ${plan}` : `after the last step ${plan}`;
}

function historyTable(rollout: Rollout): HTMLElement {
  const entries = rollout.status.history ?? [];
  if (entries.length === 0) return h("p", { class: "hint" }, "No decision yet.");
  const rows = entries.map((entry) =>
    h(
      "tr",
      { "data-decision": entry.decision },
      h("td", {}, when(entry.at)),
      h("td", {}, String(entry.step)),
      h("td", {}, weightsText(entry.weights)),
      h("td", { class: "measured" }, measuredText(entry.measured)),
      h("td", { class: "decision" }, entry.decision),
      h("td", { class: "reason" }, entry.reason),
    ),
  );
  const head = ["time", "step", "weights", "measured", "decision", "why"].map((t) => h("th", { scope: "col" }, t));
  return h("table", { class: "rollout-history" }, h("thead", {}, h("tr", {}, ...head)), h("tbody", {}, ...rows));
}

function card(rollout: Rollout): HTMLElement {
  const { spec, status } = rollout;
  const route = `${spec.route.virtualRouterName}/${spec.route.routeName}`;
  return h(
    "section",
    { class: `rollout phase-${status.phase.toLowerCase()}`, "data-rollout": rollout.rolloutName },
    h("h4", {}, rollout.rolloutName, " ", h("span", { class: "phase" }, status.phase)),
    h(
      "dl",
      {},
      h("dt", {}, "route"), h("dd", {}, `${route}: ${spec.stable.virtualNode} → ${spec.canary.virtualNode}`),
      h("dt", {}, "step"), h("dd", { class: "step" }, stepText(rollout)),
      h("dt", {}, "weights"), h("dd", { class: "weights" }, weightsText(status.weights)),
      h("dt", {}, "checks"), h("dd", {}, `${status.failedChecks ?? 0} failed of ${spec.maxFailedChecks ?? 0} allowed, every ${spec.stepIntervalSeconds} s`),
    ),
    status.reason ? h("p", { class: "hint reason" }, status.reason) : null,
    historyTable(rollout),
  );
}

export function showRollouts(panel: HTMLElement, answer: RolloutsAnswer): void {
  if (!answer.available) {
    replace(panel, h("p", { id: "rollouts-unavailable", class: "unavailable" }, "Rollouts not available."),
      h("p", { class: "hint" }, `The API has no rollout read (${answer.reason}).`));
    return;
  }
  if (answer.rollouts.length === 0) {
    replace(panel, h("p", { id: "no-rollout" }, "No rollout in this mesh."));
    return;
  }
  replace(panel, h("h3", {}, "Rollouts"), ...answer.rollouts.map(card));
}
