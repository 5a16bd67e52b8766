// The Draw page: send the drawing, follow the job until both models answer, show the
// answers, and take the person's verdict on them.

import { ApiError, TimeoutError, errorMessage, pollJob, postJSON } from "./api.js";
import { DrawingPad } from "./canvas.js";
import { percent, t } from "./i18n.js";
import { activatesOnEnter, bindPadTools, isTextEntry, setStatus } from "./ui.js";

const MODELS = ["fnn", "cnn"];
const $ = (id) => document.getElementById(id);
const config = document.body.dataset;
const predictionsUrl = config.predictionsUrl;
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

bindPadTools(pad, {
  onClear: () => {
    forgetResult();
    setStatus(status, "idle");
  },
});

// ---- recognizing ----------------------------------------------------------------------

async function recognize() {
  forgetResult();
  const controller = (job = new AbortController());
  const { signal } = controller;
  let polling = false; // a 404 while polling means the job expired, not a missing route
  setStatus(status, "sending", t("status.sending"));
  try {
    const accepted = await postJSON(predictionsUrl, { image: pad.toDataURL() }, { signal });
    setStatus(status, "queued", t("status.queued"));
    polling = true;
    const final = await pollJob(accepted.status_url, {
      wait: pollWait,
      timeoutMs: pollTimeout * 1000,
      signal,
      onUpdate: (update) => {
        if (update.status === "queued" || update.status === "running") {
          setStatus(status, update.status, t(`status.${update.status}`));
        }
      },
      onRetry: () => setStatus(status, "retrying", t("status.retrying")),
    });
    if (final.status === "done") {
      predictionId = accepted.id;
      showResult(final.result);
      setStatus(status, "done", t("status.done", { fnn: final.result.fnn.digit, cnn: final.result.cnn.digit }));
    } else {
      setStatus(status, "failed", t("status.failed", { message: errorMessage(final.error) }));
    }
  } catch (err) {
    if (signal.aborted) return; // superseded or cleared: nothing to report
    if (err instanceof TimeoutError) {
      setStatus(status, "timeout", t("status.timeout", { seconds: pollTimeout }));
    } else if (err instanceof ApiError && err.status === 404 && polling) {
      setStatus(status, "failed", t("status.expired"));
    } else {
      setStatus(status, "error", errorMessage(err));
    }
  } finally {
    if (job === controller) job = null;
  }
}

$("recognize").addEventListener("click", recognize);

// ---- recognizing automatically --------------------------------------------------------
// Optional: a short moment after a stroke ends, unless another stroke starts first.

const AUTO_DELAY_MS = 700;
const autoSwitch = $("auto-recognize");
let autoTimer = null;
autoSwitch.checked = sessionStorage.getItem("digits.auto") === "1";
autoSwitch.addEventListener("change", () => {
  sessionStorage.setItem("digits.auto", autoSwitch.checked ? "1" : "0");
});
$("canvas").addEventListener("pointerdown", () => clearTimeout(autoTimer));
pad.addEventListener("change", () => {
  clearTimeout(autoTimer);
  if (autoSwitch.checked && !pad.isEmpty) autoTimer = setTimeout(recognize, AUTO_DELAY_MS);
});

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || isTextEntry(event.target)) return;
  if (event.key === "Enter" && !activatesOnEnter(event.target)) {
    event.preventDefault();
    recognize();
  } else if (event.key === "Backspace" || event.key === "Delete") {
    event.preventDefault();
    $("clear").click();
  }
});

// ---- showing the answers ----------------------------------------------------------------

function showModel(name, answer) {
  const probabilities = answer.probabilities;
  const ranked = probabilities.map((p, digit) => [digit, p]).sort((a, b) => b[1] - a[1]);
  $(`${name}-digit`).textContent = String(answer.digit);
  $(`${name}-version`).textContent = String(answer.version);

  const top3 = ranked.slice(0, 3).map(([digit, p]) => {
    const item = document.createElement("li");
    const label = document.createElement("span");
    label.className = "fw-semibold me-2";
    label.textContent = String(digit);
    item.append(label, t("percent", { percent: percent(p) }));
    return item;
  });
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
  for (const name of MODELS) showModel(name, answers[name]);
  const preview = $("preview");
  if (typeof answers.preview === "string" && answers.preview.startsWith("data:image/png;base64,")) {
    preview.src = answers.preview;
    preview.hidden = false;
  } else {
    preview.hidden = true;
  }
  const agree = answers.fnn.digit === answers.cnn.digit;
  $("disagree").hidden = agree;
  $("disagree").textContent = agree ? "" : t("disagree");
  resetFeedback(agree ? answers.cnn.digit : null);
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
