// The Models page's training card: the latest training job, whoever started it (new
// samples or an admin), with its true status and progress; and the Start button, disabled
// with the reason whenever nothing can train.

import { ApiError, errorMessage, request } from "./api.js";
import { adminRequest } from "./admin.js";
import { formatDate, formatNumber, formatPercent, lang, t } from "./i18n.js";
import { $, config, el, modelLabel, setStatus } from "./ui.js";

const FINISHED = new Set(["promoted", "challenger", "rejected", "skipped", "failed"]);
// How a finished job's bar ends; a skipped job trained nothing, so it shows no bar at all.
const BAR_CLASSES = { promoted: "bg-success", challenger: "bg-success", rejected: "bg-warning", failed: "bg-danger" };
const POLL_MS = 1000;

const startButton = $("start-fine-tune");
const reasonLine = $("start-reason");
const adminStatus = $("admin-status");
let isAdmin = false;
let blocked = null; // why the server says no fine-tune can start now ("busy", "all_racing")
let followed = null; // id of the unfinished job being polled
let pollTimer = null;
let onFinished = () => {};

const lossFormat = new Intl.NumberFormat(lang, { minimumFractionDigits: 4, maximumFractionDigits: 4 });

// The Start button and, under it, why it is off (when an admin could otherwise press it).
function showStartable() {
  const reason = followed ? "busy" : blocked;
  startButton.disabled = !isAdmin || reason !== null;
  reasonLine.hidden = !reason;
  reasonLine.textContent = reason ? t(`models.cannot.${reason}`) : "";
}

function showProgress(job, share, finished) {
  const progress = $("fine-tune-progress");
  const bar = $("fine-tune-bar");
  progress.hidden = job.status === "skipped";
  // A failed job stops where it failed; a decided one trained to the end.
  const width = finished && job.status !== "failed" ? 100 : share;
  progress.setAttribute("aria-valuenow", String(width));
  // Width through CSSOM, which the Content-Security-Policy allows (style="" is not).
  bar.style.width = `${width}%`;
  bar.classList.toggle("progress-bar-animated", !finished);
  bar.classList.toggle("progress-bar-striped", !finished);
  bar.classList.remove(...new Set(Object.values(BAR_CLASSES)));
  if (finished && BAR_CLASSES[job.status]) bar.classList.add(BAR_CLASSES[job.status]);
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

// Who started the job and when: new samples (automatically) or an admin; and its kind.
function showOrigin(job) {
  const parts = [];
  if (job.reason === "samples" || job.reason === "admin") {
    const time = typeof job.created_at === "number" ? formatDate(new Date(job.created_at * 1000).toISOString()) : "–";
    parts.push(t(`models.job.by.${job.reason}`, { time }));
  }
  if (job.kind === "retrain") parts.push(t("models.job.retrain"));
  $("fine-tune-origin").textContent = parts.join(" ");
}

function showJob(job) {
  $("fine-tune").dataset.state = job.status;
  const total = Number(job.total) || 0;
  const step = Math.min(Number(job.step) || 0, total);
  const finished = FINISHED.has(job.status);
  showProgress(job, total ? Math.round((step / total) * 100) : 0, finished);
  $("fine-tune-state").textContent = t(`models.job.${job.status}`) + (job.error ? ` ${job.error}` : "");
  showOrigin(job);
  const details = [];
  if (total && job.status !== "skipped") {
    details.push(t("models.job.step", { step: formatNumber(step), total: formatNumber(total) }));
  }
  if (typeof job.loss === "number" && job.status === "running") {
    details.push(t("models.job.loss", { loss: lossFormat.format(job.loss) }));
  }
  $("fine-tune-detail").textContent = details.join(" · ");
  showOutcomes(job);
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
      showStartable();
      onFinished(); // the listing again: a promoted version moves the current marker
      return;
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      followed = null; // expired: nothing left to show
      showStartable();
      return;
    }
  }
  pollTimer = setTimeout(poll, POLL_MS);
}

function follow(id) {
  if (followed === id) return;
  followed = id;
  showStartable();
  clearTimeout(pollTimer);
  poll();
}

// From GET /api/models: the latest job (or null) and why none can start (or null).
export function showTraining(job, reason) {
  blocked = reason ?? null;
  if (job) {
    showJob(job);
    if (!FINISHED.has(job.status)) follow(job.id);
  }
  showStartable();
}

async function startFineTune() {
  startButton.disabled = true;
  setStatus(adminStatus, "sending", t("models.starting"));
  try {
    const accepted = await adminRequest(config.fineTunesUrl, { method: "POST" });
    // Queued, not yet done: the card above tells what becomes of it.
    setStatus(adminStatus, "info", t("models.started"));
    follow(accepted.id);
  } catch (err) {
    setStatus(adminStatus, "error", errorMessage(err));
    if (err.status === 409) onFinished(); // the listing says why: a job, or every model racing
    showStartable();
  }
}

// `refresh` reloads the listing (after a job ends, or a refused start).
export function initTraining(refresh) {
  onFinished = refresh;
  startButton.addEventListener("click", startFineTune);
}

export function setTrainingAdmin(hasToken) {
  isAdmin = hasToken;
  showStartable();
}
