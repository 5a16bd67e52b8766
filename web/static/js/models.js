// The Models page: every version of each model with the metrics that decided its fate,
// the fine-tune in progress as a progress bar, and the admin actions (start, roll back).

import { ApiError, errorMessage, request } from "./api.js";
import { adminRequest, onAdminChange } from "./admin.js";
import { formatDate, formatNumber, formatPercent, has, lang, t } from "./i18n.js";
import {
  $,
  cloneTemplate,
  config,
  el,
  modelLabel,
  models,
  raceFigures,
  setStatus,
  slot,
  tableRegionsFocusableWhileScrolling,
  tabStorage,
} from "./ui.js";

const OUTCOME_BADGES = {
  initial: "text-bg-secondary",
  promoted: "text-bg-success",
  challenger: "text-bg-info",
  retired: "text-bg-secondary",
  rejected: "text-bg-danger",
};
const FINISHED = new Set(["promoted", "challenger", "rejected", "skipped", "failed"]);
const POLL_MS = 1000;
// The last job this tab followed, so its outcome is still shown after a reload.
const LAST_JOB_KEY = "digits.fine_tune.last";

const status = $("status");
const adminStatus = $("admin-status");
const startButton = $("start-fine-tune");
let isAdmin = false;
let followed = null; // id of the fine-tune being polled
let pollTimer = null;

// Figures with a fixed number of decimals in the page's language ("0.045", "0,045").
const fixedFormats = new Map();
function formatFixed(value, digits) {
  if (!fixedFormats.has(digits)) {
    fixedFormats.set(digits, new Intl.NumberFormat(lang, { minimumFractionDigits: digits, maximumFractionDigits: digits }));
  }
  return fixedFormats.get(digits).format(value);
}

const loss = (value) => (typeof value === "number" ? formatFixed(value, 3) : "–");

// A change as shown in brackets: "+0.2", "−0.013", and "±0.0" for one that rounds to
// nothing at this precision (never "−0.000": a negative zero says a drop that is not there).
function formatChange(change, digits) {
  const steps = Math.round(Math.abs(change) * 10 ** digits);
  const sign = steps === 0 ? "±" : change > 0 ? "+" : "−";
  return sign + formatFixed(steps / 10 ** digits, digits);
}

// The figure columns: the holdout field each shows, how, and how its change from the
// parent version reads ("98.4 % (+0.2)": percentage points for accuracies).
const METRICS = {
  mnist: { field: "mnist", format: formatPercent, scale: 100, digits: 1 },
  loss: { field: "mnist_loss", format: loss, scale: 1, digits: 3 },
  user: { field: "user", format: formatPercent, scale: 100, digits: 1 },
  negatives: { field: "negatives_refused", format: formatPercent, scale: 100, digits: 1 },
  digits_refused: { field: "digits_refused", format: formatPercent, scale: 100, digits: 1 },
};

// Each metric's [candidate, parent] figures; the shipped version has no parent, and its
// model card measured it on the full MNIST test set (and held-out negatives).
function metricFigures(version) {
  if (!version.holdout) {
    // Measured by `evaluate --record` on held-out negatives and the MNIST test set.
    const held = version.card?.not_a_digit ?? {};
    return {
      mnist: [version.card?.test_accuracy_tflite],
      negatives: [held.negatives_refused],
      digits_refused: [held.mnist_digits_refused ?? version.card?.test_digits_refused],
    };
  }
  const { candidate, parent } = version.holdout;
  return Object.fromEntries(
    Object.entries(METRICS).map(([metric, { field }]) => [metric, [candidate?.[field], parent?.[field]]]),
  );
}

function fillMetric(cell, [candidate, parent] = []) {
  const { format, scale, digits } = METRICS[cell.dataset.metric];
  slot(cell, "value").textContent = format(candidate);
  const delta = slot(cell, "delta");
  delta.hidden = typeof candidate !== "number" || typeof parent !== "number";
  if (delta.hidden) return;
  delta.textContent = `(${formatChange((candidate - parent) * scale, digits)})`;
}

// What a version learned from: "12 samples + 3,000 MNIST digits", or MNIST alone.
function trainedOn(version) {
  if (!version.holdout) return t("models.mnist_digits", { count: version.card?.data?.train_digits ?? 60000 });
  const training = version.training ?? {};
  return t("models.trained_on", {
    samples: t("models.samples", { count: training.user_samples ?? 0 }),
    replay: t("models.mnist_digits", { count: training.replay_digits ?? 0 }),
  });
}

// A row of <template id="version-row"> in models.html, filled for one version.
function versionRow(name, version, current) {
  const row = cloneTemplate("version-row");
  const isCurrent = version.version === current;
  row.dataset.version = String(version.version);
  row.classList.toggle("table-active", isCurrent);
  slot(row, "version").textContent = `v${version.version}`;
  slot(row, "current").hidden = !isCurrent;
  // When and from what: the created date, and the parent a candidate was trained from.
  const origin = [formatDate(version.created_at)];
  if (version.parent_version) origin.push(t("models.from", { version: version.parent_version }));
  slot(row, "origin").textContent = origin.join(" · ");
  const kind = version.outcome ?? "initial";
  const outcome = slot(row, "outcome");
  outcome.classList.add(OUTCOME_BADGES[kind] ?? "text-bg-secondary");
  outcome.textContent = t(`models.outcome.${kind}`);
  // A rejected version says which of the gate's rules it broke (gate.gate_failures).
  const failures = slot(row, "failures");
  const broken = kind === "rejected" ? (version.gate_failures ?? []) : [];
  failures.hidden = !broken.length;
  failures.textContent = t("models.failed_rules", {
    rules: broken.map((rule) => (has(`models.rule.${rule}`) ? t(`models.rule.${rule}`) : rule)).join(", "),
  });
  const figures = metricFigures(version);
  for (const cell of row.querySelectorAll("[data-metric]")) fillMetric(cell, figures[cell.dataset.metric]);
  slot(row, "trained").textContent = trainedOn(version);
  const button = slot(row, "rollback");
  if (isCurrent) {
    button.remove();
  } else {
    button.dataset.model = name;
    button.setAttribute("aria-label", t("models.rollback_to", { model: modelLabel(name), version: version.version }));
    button.disabled = !isAdmin;
    button.addEventListener("click", () => rollback(name, version.version, button));
  }
  return row;
}

function showModels(data) {
  for (const { name } of models) {
    const model = data.models?.[name] ?? { current: null, versions: [] };
    $(`${name}-current`).textContent = model.current ? `v${model.current}` : "–";
    $(`${name}-count`).textContent = t("models.version_count", { count: model.versions.length });
    // Newest first: the version a visitor wonders about is the latest attempt.
    const versions = [...model.versions].sort((a, b) => b.version - a.version);
    const rows = versions.map((version) => versionRow(name, version, model.current));
    $(`${name}-versions`).replaceChildren(...(rows.length ? rows : [cloneTemplate("no-versions-row")]));
    showRace(name, model.challenger);
  }
  if (data.fine_tune) follow(data.fine_tune);
}

// The live race of a model's challenger against its champion, on labels people gave.
function showRace(name, race) {
  const box = $(`${name}-race`);
  box.hidden = !race;
  if (!race) return;
  $(`${name}-race-text`).textContent = t("models.race", raceFigures(race));
  for (const button of box.querySelectorAll("button[data-decision]")) {
    button.disabled = !isAdmin;
    button.onclick = () => decide(name, button.dataset.decision, button);
  }
}

async function decide(name, decision, button) {
  button.disabled = true;
  setStatus(adminStatus, "sending", t("models.deciding"));
  try {
    await adminRequest(`${config.modelsUrl}/${encodeURIComponent(name)}/challenger`, {
      method: "POST",
      body: { decision },
    });
    setStatus(adminStatus, "done", t(`models.decided.${decision}`, { model: modelLabel(name) }));
    await loadModels();
  } catch (err) {
    setStatus(adminStatus, "error", errorMessage(err));
    button.disabled = !isAdmin;
  }
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

// The progress bar: how far the job is, and in what colour it ended.
function showProgress(job, share, finished) {
  const progress = $("fine-tune-progress");
  const bar = $("fine-tune-bar");
  progress.hidden = false;
  progress.setAttribute("aria-valuenow", String(finished ? 100 : share));
  // Width through CSSOM, which the Content-Security-Policy allows (style="" is not).
  bar.style.width = `${finished ? 100 : share}%`;
  bar.classList.toggle("progress-bar-animated", !finished);
  bar.classList.toggle("progress-bar-striped", !finished);
  bar.classList.remove("bg-success", "bg-danger", "bg-warning");
  if (job.status === "promoted" || job.status === "challenger") bar.classList.add("bg-success");
  if (job.status === "rejected") bar.classList.add("bg-warning");
  if (job.status === "failed") bar.classList.add("bg-danger");
  bar.textContent = finished ? "" : t("percent", { percent: formatNumber(share) });
}

// What became of each model's candidate, once the job has decided.
function showOutcomes(job) {
  const result = $("fine-tune-result");
  const outcomes = Object.entries(job.result?.models ?? {});
  const line = ([name, outcome]) =>
    outcome.version === undefined
      ? t("models.job.model_skipped", { model: modelLabel(name), outcome: t(`models.outcome.${outcome.outcome}`) })
      : t("models.job.model_outcome", {
      model: modelLabel(name),
      version: outcome.version,
      outcome: t(`models.outcome.${outcome.outcome}`),
      before: formatPercent(outcome.holdout?.parent?.mnist),
      after: formatPercent(outcome.holdout?.candidate?.mnist),
    });
  result.replaceChildren(...outcomes.map((entry) => el("li", {}, line(entry))));
  result.hidden = !outcomes.length;
}

function showJob(job) {
  $("fine-tune").dataset.state = job.status;
  const total = Number(job.total) || 0;
  const step = Math.min(Number(job.step) || 0, total);
  const finished = FINISHED.has(job.status);
  showProgress(job, total ? Math.round((step / total) * 100) : 0, finished);
  $("fine-tune-state").textContent = t(`models.job.${job.status}`) + (job.error ? ` ${job.error}` : "");
  const details = [];
  if (total) details.push(t("models.job.step", { step: formatNumber(step), total: formatNumber(total) }));
  if (typeof job.loss === "number" && job.status === "running") details.push(t("models.job.loss", { loss: formatFixed(job.loss, 4) }));
  $("fine-tune-detail").textContent = details.join(" · ");
  showOutcomes(job);
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
  tabStorage.set(LAST_JOB_KEY, id);
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
    setStatus(adminStatus, "done", t("models.rolled_back", { model: modelLabel(name), version }));
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
  for (const button of document.querySelectorAll("button.rollback, button[data-decision]")) button.disabled = !hasToken;
});

tableRegionsFocusableWhileScrolling();

// Without a memory of an earlier job the models list still names a running one.
const lastJob = tabStorage.get(LAST_JOB_KEY);
if (lastJob) follow(lastJob);
loadModels();
