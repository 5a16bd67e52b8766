// The Draw page: send the drawing, follow the job until both models answer, show the
// answers, and take the person's verdict on them.

import { ApiError, TimeoutError, errorMessage, postJSON, submitJob } from "./api.js";
import { DrawingPad } from "./canvas.js";
import { formatList, formatPercent, percent, t } from "./i18n.js";
import { $, bindPadTools, config, el, models, setStatus, tabStorage } from "./ui.js";

const predictionsUrl = config.predictionsUrl;
// How long the server may hold the POST (Prefer: wait) and then each poll, in seconds.
const pollWait = Number(config.pollWait || 2);
const pollTimeout = Number(config.pollTimeout || 20);

const pad = new DrawingPad($("canvas"));
const status = $("status");
const result = $("result");
let job = null; // AbortController of the recognition in flight; a new one supersedes it
let predictionId = null;

function forgetResult() {
  job?.abort();
  job = null;
  predictionId = null;
  result.hidden = true;
  $("result-empty").hidden = false;
}

// ---- recognizing ----------------------------------------------------------------------

async function recognize() {
  forgetResult();
  const controller = (job = new AbortController());
  const { signal } = controller;
  let polling = false; // a 404 while polling means the job expired, not a missing route
  setStatus(status, "sending", t("status.sending"));
  try {
    const final = await submitJob(predictionsUrl, { image: pad.toDataURL() }, {
      wait: pollWait,
      timeoutMs: pollTimeout * 1000,
      signal,
      onAccepted: () => {
        setStatus(status, "queued", t("status.queued"));
        polling = true;
      },
      onUpdate: (update) => {
        if (update.status === "queued" || update.status === "running") {
          setStatus(status, update.status, t(`status.${update.status}`));
        }
      },
      onRetry: () => setStatus(status, "retrying", t("status.retrying")),
    });
    if (final.status === "done") {
      predictionId = final.id;
      showResult(final.result);
      setStatus(status, "done", t("status.done", { answers: answersText(final.result) }));
    } else {
      setStatus(status, "failed", t("status.failed", { message: errorMessage(final.error) }));
    }
  } catch (err) {
    if (signal.aborted) return; // superseded or cleared: nothing to report
    if (err instanceof TimeoutError) {
      setStatus(status, "timeout", t("status.timeout", { count: pollTimeout }));
    } else if (err instanceof ApiError && err.status === 404 && polling) {
      setStatus(status, "failed", t("status.expired"));
    } else {
      setStatus(status, "error", errorMessage(err));
    }
  } finally {
    if (job === controller) job = null;
  }
}

// "FNN says 1 and CNN says 7", in the page's language and the models' display order.
function answersText(answers) {
  return formatList(models.map(({ name, label }) => t("status.answer", { model: label, digit: answers[name].digit })));
}

$("recognize").addEventListener("click", recognize);
bindPadTools(pad, {
  onClear: () => {
    forgetResult();
    setStatus(status, "idle");
  },
  onEnter: recognize,
});

// ---- recognizing automatically --------------------------------------------------------
// Optional: a short moment after a stroke ends, unless another stroke starts first.

const AUTO_DELAY_MS = 700;
const autoSwitch = $("auto-recognize");
let autoTimer = null;
autoSwitch.checked = tabStorage.get("digits.auto") === "1";
autoSwitch.addEventListener("change", () => tabStorage.set("digits.auto", autoSwitch.checked ? "1" : "0"));
$("canvas").addEventListener("pointerdown", () => clearTimeout(autoTimer));
pad.addEventListener("change", () => {
  clearTimeout(autoTimer);
  if (autoSwitch.checked && !pad.isEmpty) autoTimer = setTimeout(recognize, AUTO_DELAY_MS);
});

// ---- showing the answers ----------------------------------------------------------------

function showModel(name, answer) {
  const probabilities = answer.probabilities;
  const ranked = probabilities.map((p, digit) => [digit, p]).sort((a, b) => b[1] - a[1]);
  $(`${name}-digit`).textContent = String(answer.digit);
  $(`${name}-version`).textContent = String(answer.version);

  const top3 = ranked
    .slice(0, 3)
    .map(([digit, p]) => el("li", {}, el("span", { class: "fw-semibold me-2" }, String(digit)), formatPercent(p)));
  $(`${name}-top3`).replaceChildren(...top3);

  for (const bar of $(`${name}-bars`).children) {
    const digit = Number(bar.dataset.digit);
    const p = probabilities[digit] ?? 0;
    // Heights go through CSSOM, which the Content-Security-Policy allows (style="" is not).
    bar.querySelector(".bar-fill").style.height = `${Math.max(0, Math.min(1, p)) * 100}%`;
    bar.querySelector(".bar-text").textContent = t("bar", { digit, percent: percent(p) });
    bar.classList.toggle("is-top", digit === answer.digit);
  }
}

function showResult(answers) {
  for (const { name } of models) showModel(name, answers[name]);
  const preview = $("preview");
  if (typeof answers.preview === "string" && answers.preview.startsWith("data:image/png;base64,")) {
    preview.src = answers.preview;
    preview.hidden = false;
  } else {
    preview.hidden = true;
  }
  const digits = models.map(({ name }) => answers[name].digit);
  const agree = new Set(digits).size === 1;
  $("disagree").hidden = agree;
  $("disagree").textContent = agree ? "" : t("disagree");
  resetFeedback(agree ? digits[0] : null);
  $("result-empty").hidden = true;
  result.hidden = false;
}

// ---- feedback ---------------------------------------------------------------------------

const feedbackStatus = $("feedback-status");
const digitPicker = $("feedback-digits");
const wrong = $("feedback-wrong");
const correct = $("feedback-correct");
const feedbackControls = () => [
  ...document.querySelectorAll("#feedback button"),
  $("feedback-consent"),
];

// `agreed` is the digit both models read, or null when they disagree: then "Correct"
// would be ambiguous, so the picker opens straight away instead.
function resetFeedback(agreed) {
  for (const control of feedbackControls()) control.disabled = false;
  correct.hidden = agreed === null;
  wrong.hidden = agreed === null;
  correct.dataset.label = agreed ?? "";
  digitPicker.hidden = agreed !== null;
  wrong.setAttribute("aria-expanded", String(agreed === null));
  $("feedback-pick").textContent = agreed === null ? t("feedback.disagree") : $("feedback-pick").dataset.text;
  setStatus(feedbackStatus, "idle");
}
$("feedback-pick").dataset.text = $("feedback-pick").textContent;

async function sendFeedback(label) {
  if (predictionId === null) return;
  const consent = $("feedback-consent").checked;
  const controls = feedbackControls();
  for (const control of controls) control.disabled = true;
  setStatus(feedbackStatus, "sending", t("feedback.sending"));
  try {
    await postJSON(`${predictionsUrl}/${encodeURIComponent(predictionId)}/feedback`, { label, consent });
    setStatus(feedbackStatus, "done", t(consent ? "feedback.used" : "feedback.not_stored"));
  } catch (err) {
    setStatus(feedbackStatus, "error", errorMessage(err));
    for (const control of controls) control.disabled = false;
  }
}

correct.addEventListener("click", () => sendFeedback(Number(correct.dataset.label)));
$("feedback-none").addEventListener("click", () => sendFeedback(null));
wrong.addEventListener("click", () => {
  digitPicker.hidden = !digitPicker.hidden;
  wrong.setAttribute("aria-expanded", String(!digitPicker.hidden));
  if (!digitPicker.hidden) $("feedback-digit-0").focus();
});
for (const button of digitPicker.querySelectorAll("button[data-label]")) {
  button.addEventListener("click", () => sendFeedback(Number(button.dataset.label)));
}
