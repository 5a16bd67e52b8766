// The Models page: every version of each model with the metrics that decided its fate,
// the latest training job (fine_tune.js), and the admin actions (start, promote or retire
// a challenger, roll back), each asked for before it changes what production serves.

import { errorMessage, request } from "./api.js";
import { adminRequest, onAdminChange } from "./admin.js";
import { confirmAction } from "./confirm.js";
import { initTraining, setTrainingAdmin, showTraining } from "./fine_tune.js";
import { formatDate, formatPercent, has, lang, t } from "./i18n.js";
import { raceWords } from "./race_text.js";
import {
  $,
  cloneTemplate,
  config,
  modelLabel,
  models,
  setStatus,
  slot,
  tableRegionsFocusableWhileScrolling,
} from "./ui.js";

const OUTCOME_BADGES = {
  initial: "text-bg-secondary",
  promoted: "text-bg-success",
  challenger: "text-bg-info",
  retired: "text-bg-secondary",
  rejected: "text-bg-danger",
};
// Outcomes of versions that served (shipped, or promoted): the only ones to roll back to.
const SERVED = new Set(["initial", "promoted"]);

const status = $("status");
const adminStatus = $("admin-status");
let isAdmin = false;

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
  pens: { field: "pens", format: formatPercent, scale: 100, digits: 1 },
  negatives: { field: "negatives_refused", format: formatPercent, scale: 100, digits: 1 },
  digits_refused: { field: "digits_refused", format: formatPercent, scale: 100, digits: 1 },
};

// Each metric's [candidate, parent] figures; the shipped version has no parent, and its
// model card measured it on the full MNIST test set (held-out negatives, real pens).
function metricFigures(version) {
  if (!version.holdout) {
    // Measured by `evaluate --record` on held-out negatives and the MNIST test set.
    const held = version.card?.not_a_digit ?? {};
    return {
      mnist: [version.card?.test_accuracy_tflite],
      // The development family of real pens (`evaluate --record`'s real_pens summary).
      pens: [version.card?.real_pens?.accuracy],
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

// What a version learned from: "12 samples + 3,000 MNIST digits" (+ real-pen digits), or MNIST alone.
function trainedOn(version) {
  if (!version.holdout) return t("models.mnist_digits", { count: version.card?.data?.train_digits ?? 60000 });
  const training = version.training ?? {};
  const replay = [t("models.mnist_digits", { count: training.replay_digits ?? 0 })];
  // Real-pen digits replayed beside MNIST's (a replay set made with UNIPEN).
  if (training.replay_pens) replay.push(t("models.pen_digits", { count: training.replay_pens }));
  return t("models.trained_on", {
    samples: t("models.samples", { count: training.user_samples ?? 0 }),
    replay: replay.join(" + "),
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
  if (isCurrent || !SERVED.has(kind)) {
    button.remove(); // a version that never served is nothing to go back to
  } else {
    button.dataset.model = name;
    button.setAttribute("aria-label", t("models.rollback_to", { model: modelLabel(name), version: version.version }));
    button.disabled = !isAdmin;
    button.addEventListener("click", () => rollback(name, version.version, button, current));
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
    showRace(name, model.challenger, model.current);
  }
  showTraining(data.latest_fine_tune, data.fine_tune_blocked);
}

// The live race of a model's challenger against its champion, on labels people gave.
function showRace(name, race, current) {
  const box = $(`${name}-race`);
  box.hidden = !race;
  if (!race) return;
  $(`${name}-race-text`).textContent = t("models.race", raceWords(race));
  for (const button of box.querySelectorAll("button[data-decision]")) {
    button.disabled = !isAdmin;
    button.onclick = () => decide(name, button.dataset.decision, button, { version: race.version, current });
  }
}

// Ask before `action` ("promoted", "retired", "rollback") changes what `name` serves.
function confirmed(action, name, versions) {
  const params = { model: modelLabel(name), ...versions };
  return confirmAction({
    title: t(`models.confirm.${action}.title`, params),
    text: t(`models.confirm.${action}.text`, params),
    ok: t(`models.confirm.${action}.ok`),
  });
}

async function decide(name, decision, button, versions) {
  if (!(await confirmed(decision, name, versions))) return;
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

// ---- admin actions ----------------------------------------------------------------------

async function rollback(name, version, button, current) {
  if (!(await confirmed("rollback", name, { version, current }))) return;
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

initTraining(loadModels);
onAdminChange((hasToken) => {
  isAdmin = hasToken;
  document.body.classList.toggle("is-admin", hasToken);
  setTrainingAdmin(hasToken);
  for (const button of document.querySelectorAll("button.rollback, button[data-decision]")) button.disabled = !hasToken;
});

tableRegionsFocusableWhileScrolling();
loadModels();
