// The Models page: every version of each model with the metrics that decided its fate,
// the fine-tune in progress as a progress bar, and the admin actions (start, roll back).

import { ApiError, errorMessage, request } from "./api.js";
import { adminRequest, onAdminChange } from "./admin.js";
import { formatDate, formatNumber, percent, t } from "./i18n.js";
import { setStatus } from "./ui.js";

const MODELS = ["fnn", "cnn"];
const OUTCOME_BADGES = { initial: "text-bg-secondary", promoted: "text-bg-success", rejected: "text-bg-danger" };
const FINISHED = new Set(["promoted", "rejected", "failed"]);
const POLL_MS = 1000;
// The last job this tab followed, so its outcome is still shown after a reload.
const LAST_JOB_KEY = "digits.fine_tune.last";

const $ = (id) => document.getElementById(id);
const config = document.body.dataset;
const status = $("status");
const adminStatus = $("admin-status");
const startButton = $("start-fine-tune");
let isAdmin = false;
let followed = null; // id of the fine-tune being polled
let pollTimer = null;

const cell = (content, className = "") => {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.append(content ?? "–");
  return td;
};

const accuracy = (value) => (typeof value === "number" ? t("percent", { percent: percent(value) }) : "–");
const loss = (value) => (typeof value === "number" ? value.toFixed(3) : "–");

// "98.4 % (+0.2)": the candidate's figure and how far it moved from its parent's.
function withDelta(candidate, parent, format, digits) {
  const span = document.createElement("span");
  span.append(format(candidate));
  if (typeof candidate === "number" && typeof parent === "number") {
    const delta = (candidate - parent) * (format === accuracy ? 100 : 1);
    const small = document.createElement("small");
    small.className = "ms-1 text-body-secondary";
    small.textContent = `(${delta >= 0 ? "+" : "−"}${Math.abs(delta).toFixed(digits)})`;
    span.append(small);
  }
  return span;
}

function versionRow(name, version, current) {
  const row = document.createElement("tr");
  row.dataset.version = String(version.version);
  const isCurrent = version.version === current;
  if (isCurrent) row.classList.add("table-active");

  const label = document.createElement("span");
  label.className = "fw-semibold";
  label.textContent = `v${version.version}`;
  const first = document.createElement("th");
  first.scope = "row";
  first.append(label);
  if (isCurrent) {
    const badge = document.createElement("span");
    badge.className = "badge text-bg-primary ms-2";
    badge.textContent = t("models.current_badge");
    first.append(badge);
  }
  // When and from what: the created date, and the parent a candidate was trained from.
  const origin = document.createElement("div");
  origin.className = "small fw-normal text-body-secondary";
  origin.textContent = formatDate(version.created_at);
  if (version.parent_version) origin.append(` · ${t("models.from", { version: version.parent_version })}`);
  first.append(origin);
  row.append(first);

  const outcome = document.createElement("span");
  const kind = version.outcome ?? "initial";
  outcome.className = `badge ${OUTCOME_BADGES[kind] ?? "text-bg-secondary"}`;
  outcome.textContent = t(`models.outcome.${kind}`);
  row.append(cell(outcome));

  const holdout = version.holdout;
  if (holdout) {
    const { candidate, parent } = holdout;
    row.append(cell(withDelta(candidate?.mnist, parent?.mnist, accuracy, 1), "text-end"));
    row.append(cell(withDelta(candidate?.mnist_loss, parent?.mnist_loss, loss, 3), "text-end"));
    row.append(cell(withDelta(candidate?.user, parent?.user, accuracy, 1), "text-end"));
    const training = version.training ?? {};
    row.append(
      cell(
        t("models.trained_on", {
          samples: formatNumber(training.user_samples ?? 0),
          replay: formatNumber(training.replay_digits ?? 0),
        }),
      ),
    );
  } else {
    // The shipped version: its model card measured it on the full MNIST test set.
    const card = version.card ?? {};
    row.append(cell(accuracy(card.test_accuracy_tflite), "text-end"));
    row.append(cell("–", "text-end"), cell("–", "text-end"));
    row.append(cell(t("models.trained_mnist", { digits: formatNumber(card.data?.train_digits ?? 60000) })));
  }

  const actions = cell("", "admin-only text-end");
  if (!isCurrent) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "btn btn-sm btn-outline-secondary rollback text-nowrap";
    button.dataset.model = name;
    button.dataset.version = String(version.version);
    button.textContent = t("models.rollback");
    button.setAttribute("aria-label", t("models.rollback_to", { model: name.toUpperCase(), version: version.version }));
    button.disabled = !isAdmin;
    button.addEventListener("click", () => rollback(name, version.version, button));
    actions.replaceChildren(button);
  }
  row.append(actions);
  return row;
}

function showModels(data) {
  for (const name of MODELS) {
    const model = data.models?.[name] ?? { current: null, versions: [] };
    $(`${name}-current`).textContent = model.current ? `v${model.current}` : "–";
    // Newest first: the version a visitor wonders about is the latest attempt.
    const versions = [...model.versions].sort((a, b) => b.version - a.version);
    const rows = versions.map((version) => versionRow(name, version, model.current));
    if (!rows.length) {
      const empty = document.createElement("tr");
      const td = cell(t("models.no_versions"), "text-body-secondary");
      td.colSpan = 7;
      empty.append(td);
      rows.push(empty);
    }
    $(`${name}-versions`).replaceChildren(...rows);
  }
  if (data.fine_tune) follow(data.fine_tune);
}

async function loadModels() {
  try {
    showModels(await request(config.modelsUrl));
    if (status.dataset.state === "error") setStatus(status, "idle");
  } catch (err) {
    setStatus(status, "error", errorMessage(err));
  }
}

// ---- the fine-tune in progress --------------------------------------------------------

function showJob(job) {
  const box = $("fine-tune");
  box.dataset.state = job.status;
  const progress = $("fine-tune-progress");
  const bar = $("fine-tune-bar");
  const total = Number(job.total) || 0;
  const step = Math.min(Number(job.step) || 0, total);
  const share = total ? Math.round((step / total) * 100) : 0;
  const finished = FINISHED.has(job.status);
  progress.hidden = false;
  progress.setAttribute("aria-valuenow", String(finished ? 100 : share));
  // Width through CSSOM, which the Content-Security-Policy allows (style="" is not).
  bar.style.width = `${finished ? 100 : share}%`;
  bar.classList.toggle("progress-bar-animated", !finished);
  bar.classList.toggle("progress-bar-striped", !finished);
  bar.classList.remove("bg-success", "bg-danger", "bg-warning");
  if (job.status === "promoted") bar.classList.add("bg-success");
  if (job.status === "rejected") bar.classList.add("bg-warning");
  if (job.status === "failed") bar.classList.add("bg-danger");
  bar.textContent = finished ? "" : `${share}%`;

  $("fine-tune-state").textContent = t(`models.job.${job.status}`) + (job.error ? ` ${job.error}` : "");
  const details = [];
  if (total) details.push(t("models.job.step", { step: formatNumber(step), total: formatNumber(total) }));
  if (typeof job.loss === "number" && job.status === "running") details.push(t("models.job.loss", { loss: job.loss.toFixed(4) }));
  $("fine-tune-detail").textContent = details.join(" · ");

  const result = $("fine-tune-result");
  const outcomes = job.result?.models ?? {};
  result.replaceChildren(
    ...Object.entries(outcomes).map(([name, outcome]) => {
      const item = document.createElement("li");
      item.textContent = t("models.job.model_outcome", {
        model: name.toUpperCase(),
        version: outcome.version,
        outcome: t(`models.outcome.${outcome.outcome}`),
        before: accuracy(outcome.holdout?.parent?.mnist),
        after: accuracy(outcome.holdout?.candidate?.mnist),
      });
      return item;
    }),
  );
  result.hidden = !result.children.length;
  startButton.disabled = !isAdmin || !finished;
}

async function poll() {
  pollTimer = null;
  const id = followed;
  try {
    const job = await request(`${config.fineTunesUrl}/${encodeURIComponent(id)}`);
    if (id !== followed) return;
    showJob(job);
    if (FINISHED.has(job.status)) {
      followed = null;
      loadModels(); // a promoted version moves the current marker
      return;
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      followed = null; // expired: nothing left to show
      return;
    }
  }
  pollTimer = setTimeout(poll, POLL_MS);
}

function follow(id) {
  if (followed === id) return;
  followed = id;
  try {
    sessionStorage.setItem(LAST_JOB_KEY, id);
  } catch {
    // Only the reload memory is lost.
  }
  clearTimeout(pollTimer);
  poll();
}

// ---- admin actions ----------------------------------------------------------------------

async function startFineTune() {
  startButton.disabled = true;
  setStatus(adminStatus, "sending", t("models.starting"));
  try {
    const accepted = await adminRequest(config.fineTunesUrl, { method: "POST" });
    setStatus(adminStatus, "done", t("models.started"));
    follow(accepted.id);
  } catch (err) {
    const message = err.status === 409 ? t("models.already_running") : errorMessage(err);
    setStatus(adminStatus, "error", message);
    startButton.disabled = !isAdmin;
  }
}

async function rollback(name, version, button) {
  button.disabled = true;
  setStatus(adminStatus, "sending", t("models.rolling_back"));
  try {
    await adminRequest(`${config.modelsUrl}/${encodeURIComponent(name)}/rollback`, {
      method: "POST",
      body: { version },
    });
    setStatus(adminStatus, "done", t("models.rolled_back", { model: name.toUpperCase(), version }));
    await loadModels();
  } catch (err) {
    setStatus(adminStatus, "error", errorMessage(err));
    button.disabled = !isAdmin;
  }
}

startButton.addEventListener("click", startFineTune);
onAdminChange((hasToken) => {
  isAdmin = hasToken;
  document.body.classList.toggle("is-admin", hasToken);
  startButton.disabled = !hasToken || followed !== null;
  for (const button of document.querySelectorAll("button.rollback")) button.disabled = !hasToken;
});

try {
  const last = sessionStorage.getItem(LAST_JOB_KEY);
  if (last) follow(last);
} catch {
  // No memory of an earlier job; the models list still names a running one.
}
loadModels();
