// The Stats page's workers: how many answered the last ping, and their names. Until a
// first ping has ended it says "checking…", never "0" and "No worker answered." (an
// outage that is not there); when the ping could not be made, "unknown" and why.

import { formatNumber, t } from "./i18n.js";
import { $, el } from "./ui.js";

// Whether the stats must be asked for again soon: the first ping is still running.
export const workersPending = (stats) => stats?.workers_ping === "pending";

function note(text, classes) {
  return el("li", { class: `list-group-item px-0 ${classes}` }, text);
}

export function drawWorkers(stats) {
  const ping = stats.workers_ping ?? "done";
  const figure = $("stat-workers");
  figure.dataset.state = ping;
  if (ping === "pending") {
    figure.textContent = t("stats.workers_checking");
    $("workers-list").replaceChildren(note(t("stats.workers_checking_long"), "text-body-secondary"));
    return;
  }
  if (ping === "failed") {
    figure.textContent = t("stats.workers_unknown");
    $("workers-list").replaceChildren(note(t("stats.workers_ping_failed"), "text-warning-emphasis"));
    return;
  }
  figure.textContent = formatNumber(stats.workers.length);
  const items = stats.workers.map((name) =>
    el(
      "li",
      { class: "list-group-item px-0 d-flex align-items-center gap-2" },
      el("span", { class: "worker-dot", "aria-hidden": "true" }),
      name,
    ),
  );
  $("workers-list").replaceChildren(...(items.length ? items : [note(t("stats.no_workers"), "text-danger-emphasis")]));
}
