// The Draw page: send the drawing (a digit or a number), follow the job until both
// models answer, show the answers and the digits found, and take the person's verdict.

import { ApiError, TimeoutError, errorMessage, postJSON, submitJob } from "./api.js";
import { DrawingPad } from "./canvas.js";
import { formatList, formatPercent, percent, t } from "./i18n.js";
import { confirmable, countHint, numberThanks } from "./number_feedback.js";
import { $, bindPadTools, browserStorage, config, el, models, setStatus } from "./ui.js";

const predictionsUrl = config.predictionsUrl;
// How long the server may hold the POST (Prefer: wait) and then each poll, in seconds.
const pollWait = Number(config.pollWait || 2);
const pollTimeout = Number(config.pollTimeout || 20);
// The API's bound on the strokes sent beside the image (web/strokes.py).
const MAX_STROKE_POINTS = 10000;
const SVG = "http://www.w3.org/2000/svg";

const pad = new DrawingPad($("canvas"));
const status = $("status");
const result = $("result");
const strip = $("answer-strip"); // the answers in one line under the pad, on a phone
const staleNote = $("result-stale");
const retry = $("retry"); // shown when recognition could not be done; the drawing stays
let job = null; // AbortController of the recognition in flight; a new one supersedes it
let predictionId = null;
let number = null; // the digits read on the canvas: {text, digits, not_a_number}

function forgetResult() {
  job?.abort();
  job = null;
  predictionId = null;
  number = null;
  retry.hidden = true;
  markStale(false);
  result.hidden = true;
  strip.hidden = true;
  $("result-empty").hidden = false;
  $("pad-boxes").replaceChildren();
}

// The drawing changed after its answer, or a new answer is on its way: the old one stays
// in view, dimmed, and can no longer be confirmed for a picture it was not given.
function markStale(stale, { loading = false } = {}) {
  for (const element of [result, strip, $("pad-boxes")]) element.classList.toggle("is-stale", stale);
  result.setAttribute("aria-busy", String(loading));
  staleNote.hidden = !stale || loading || result.hidden;
  if (!stale || predictionId === null) return;
  predictionId = null;
  for (const control of feedbackControls()) control.disabled = true;
}

// The image, and the strokes when they are within the API's bounds (they are optional).
function drawing() {
  const body = { image: pad.toDataURL() };
  const strokes = pad.strokes;
  if (strokes.reduce((n, stroke) => n + stroke.length, 0) <= MAX_STROKE_POINTS) body.strokes = strokes;
  return body;
}

// ---- recognizing ----------------------------------------------------------------------

// A queued job the server says no predict worker will take now (its `unavailable`).
class Unavailable extends Error {
  constructor(detail) {
    super(detail.message);
    this.detail = detail;
  }
}

async function recognize() {
  clearTimeout(autoTimer); // asked for now: the pending automatic one would only repeat it
  job?.abort();
  if (!result.hidden) markStale(true, { loading: true });
  const controller = (job = new AbortController());
  const { signal } = controller;
  retry.hidden = true;
  let polling = false; // a 404 while polling means the job expired, not a missing route
  setStatus(status, "sending", t("status.sending"));
  try {
    const size = pad.size; // the exported image's pixels: the boxes come back in them
    const revision = pad.revision; // the drawing sent: its strokes are what digits name
    const final = await submitJob(predictionsUrl, drawing(), {
      wait: pollWait,
      timeoutMs: pollTimeout * 1000,
      signal,
      onAccepted: () => {
        setStatus(status, "queued", t("status.queued"));
        polling = true;
      },
      onUpdate: (update) => {
        if (update.unavailable) throw new Unavailable(update.unavailable); // ends the polling
        if (update.status === "queued" || update.status === "running") {
          setStatus(status, update.status, t(`status.${update.status}`));
        }
      },
      onRetry: () => setStatus(status, "retrying", t("status.retrying")),
    });
    if (final.status === "done") {
      predictionId = final.id;
      showResult(final.result, size);
      colourDigits(revision); // after the PNG was exported: colour is for the eye only
      if (notANumber()) {
        // Said plainly, and not as a success: the answer is that there is no number to read.
        setStatus(status, "info", t("status.not_a_number"));
      } else {
        const done = isNumber()
          ? t("status.number", { number: number.text })
          : t("status.done", { answers: answersText(final.result) });
        setStatus(status, "done", done);
      }
    } else {
      setStatus(status, "failed", t("status.failed", { message: errorMessage(final.error) }));
      retry.hidden = final.error?.code !== "timed_out";
    }
  } catch (err) {
    if (signal.aborted) return; // superseded or cleared: nothing to report
    if (err instanceof Unavailable) {
      setStatus(status, "failed", errorMessage(err.detail));
    } else if (err instanceof TimeoutError) {
      setStatus(status, "timeout", t("status.timeout", { count: pollTimeout }));
    } else if (err instanceof ApiError && err.status === 404 && polling) {
      setStatus(status, "failed", t("status.expired"));
    } else {
      setStatus(status, "error", errorMessage(err));
    }
    retry.hidden = !(err instanceof Unavailable || err instanceof TimeoutError || err?.retryable);
  } finally {
    if (job === controller) {
      job = null;
      // No new answer came: the old one, if any, stays marked out of date.
      if (predictionId === null && !result.hidden) markStale(true);
    }
  }
}

// "FNN says 1 and CNN says 7", in the page's language and the models' display order.
function answersText(answers) {
  return formatList(
    models.map(({ name, label }) => {
      const { digit } = answers[name];
      return digit === null ? t("status.answer_none", { model: label }) : t("status.answer", { model: label, digit });
    }),
  );
}

// A digit of the number as both models read it together (the API's `digit`): "?" for none.
function numberDigit(digit) {
  return digit === null || digit === undefined ? "?" : String(digit);
}

// What a model read, for a box or a preview: its digit and how sure, or "?" when it refused.
function reading(answer) {
  const refused = answer.digit === null;
  return {
    text: refused ? "?" : String(answer.digit),
    p: refused ? answer.not_digit : answer.probabilities[answer.digit],
    refused,
  };
}

$("recognize").addEventListener("click", recognize);
retry.addEventListener("click", recognize);
bindPadTools(pad, {
  // The answer is already forgotten: the pad's change handler below does it whenever the
  // pad ends up empty, by Clear or by Undo.
  onClear: () => setStatus(status, "info", t("status.cleared")),
  onEnter: recognize,
});

// ---- recognizing automatically --------------------------------------------------------
// On unless switched off (remembered in this browser): a short pause after the pen lifts,
// unless another stroke starts first. Answers take under 100 ms, so the pause is the wait.

const AUTO_DELAY_MS = 300;
const AUTO_KEY = "digits.auto";
const autoSwitch = $("auto-recognize");
let autoTimer = null;
autoSwitch.checked = browserStorage.get(AUTO_KEY, "1") !== "0";
autoSwitch.addEventListener("change", () => browserStorage.set(AUTO_KEY, autoSwitch.checked ? "1" : "0"));
$("canvas").addEventListener("pointerdown", () => {
  clearTimeout(autoTimer);
  if (!result.hidden) markStale(true);
});
pad.addEventListener("change", () => {
  clearTimeout(autoTimer);
  if (pad.isEmpty) {
    // Undone down to nothing: as with Clear, the answer goes with the drawing it was about
    // (its boxes would frame an empty pad), and one still on its way is not wanted.
    forgetResult();
    return;
  }
  if (!result.hidden) markStale(true);
  if (autoSwitch.checked) autoTimer = setTimeout(recognize, AUTO_DELAY_MS);
});

// ---- showing the answers ----------------------------------------------------------------

function showModel(name, answer) {
  const probabilities = answer.probabilities;
  const ranked = probabilities.map((p, digit) => [digit, p]).sort((a, b) => b[1] - a[1]);
  const refused = answer.digit === null; // the model says it is not a digit
  const top = $(`${name}-digit`);
  top.textContent = refused ? t("answer.not_digit") : String(answer.digit);
  top.classList.toggle("is-refused", refused);
  $(`${name}-not-digit`).textContent = t("not_digit_p", { percent: percent(answer.not_digit ?? 0) });
  $(`${name}-not-digit`).classList.toggle("fw-semibold", refused);
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

// The digits found: boxes over the drawing, the reading, each digit's 28x28 preview.
function showNumber(found, size) {
  number = found ?? null;
  const digits = number?.digits ?? [];
  const boxes = $("pad-boxes");
  boxes.setAttribute("viewBox", `0 0 ${size.width} ${size.height}`);
  const fontSize = Math.round(size.height / 10);
  boxes.replaceChildren(
    ...digits.flatMap(({ box: [x0, y0, x1, y1], cnn, digit }) => {
      const rect = document.createElementNS(SVG, "rect");
      for (const [k, v] of Object.entries({ x: x0, y: y0, width: x1 - x0, height: y1 - y0, rx: 4 })) {
        rect.setAttribute(k, String(v));
      }
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", String(x0));
      label.setAttribute("y", String(Math.max(fontSize, y0 - 4)));
      label.setAttribute("font-size", String(fontSize));
      // The number's digit (both models' reading). The CNN's chance goes beside it only
      // when the CNN read that digit itself: a refused part's chance is of "not a digit".
      const { text, p } = reading(cnn);
      const own = numberDigit(digit);
      label.textContent = own === text && own !== "?" ? `${own} · ${formatPercent(p)}` : own;
      return [rect, label];
    }),
  );
  placeLabels(boxes, fontSize, size);
  // A number is shown digit by digit; the whole canvas read as one digit only for one.
  $("number").hidden = digits.length < 2;
  $("whole-reading").hidden = digits.length > 1;
  $("whole-preview").hidden = digits.length > 1;
  $("number-text").textContent = notANumber() ? t("answer.not_a_number") : (number?.text ?? "");
  $("number-text").classList.toggle("is-refused", notANumber());
  for (const { name } of models) {
    $(`${name}-number`).textContent = digits.map((d) => reading(d[name]).text).join("");
  }
  $("number-digits").replaceChildren(
    ...digits.map(({ preview, cnn, digit }, i) => {
      const { text, p, refused } = reading(cnn);
      const own = numberDigit(digit);
      let alt = t("digit_reading_both", { index: i + 1, digit: own });
      if (own === "?" && refused) alt = t("digit_reading_none", { index: i + 1, percent: percent(p) });
      else if (own === text) alt = t("digit_reading", { index: i + 1, digit: text, percent: percent(p) });
      const img = el("img", { src: preview, width: "28", height: "28", alt });
      return el("li", { class: "text-center" }, img, el("div", { class: "small", "aria-hidden": "true" }, own));
    }),
  );
}

// Each digit's strokes in a colour of its own, when the answer was read from the strokes
// and the drawing is still the one sent (a stroke begun since puts the ink back).
function colourDigits(revision) {
  const digits = number?.digits ?? [];
  if (pad.revision !== revision || digits.length === 0) return;
  if (digits.every(({ strokes }) => Array.isArray(strokes))) pad.colourDigits(digits.map((d) => d.strokes));
}

// Digits cut along a slant have overlapping boxes: a label that would run into the one
// before it goes under its box, if there is room there, else stays above. A label longer
// than the room right of its box's left edge is moved left to end inside the pad.
function placeLabels(boxes, fontSize, { width: padWidth, height }) {
  let above = -Infinity;
  let below = -Infinity;
  for (const label of boxes.querySelectorAll("text")) {
    let x, width;
    try {
      ({ x, width } = label.getBBox());
    } catch {
      return; // not rendered (Firefox throws): the labels stay above their boxes
    }
    if (x + width > padWidth) {
      x = Math.max(0, padWidth - width);
      label.setAttribute("x", String(x));
    }
    const rect = label.previousElementSibling;
    const under = Number(rect.getAttribute("y")) + Number(rect.getAttribute("height")) + fontSize;
    if (x < above && x >= below && under <= height) {
      label.setAttribute("y", String(under));
      below = x + width;
    } else {
      above = x + width;
    }
  }
}

// One line under the pad: each model's digit (or number) and how sure it is.
function showStrip(answers) {
  for (const { name } of models) {
    const digitText = $(`${name}-strip-digit`);
    const pText = $(`${name}-strip-p`);
    if (notANumber()) {
      digitText.textContent = t("answer.not_a_number");
      pText.textContent = "";
    } else if (isNumber()) {
      digitText.textContent = number.digits.map((d) => reading(d[name]).text).join("");
      pText.textContent = "";
    } else {
      const { text, p, refused } = reading(answers[name]);
      digitText.textContent = refused ? t("answer.not_digit") : text;
      pText.textContent = formatPercent(p);
    }
    digitText.classList.toggle("is-refused", notANumber() || (!isNumber() && answers[name].digit === null));
  }
  strip.hidden = false;
}

function showResult(answers, size) {
  markStale(false);
  showNumber(answers.number, size);
  showStrip(answers);
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
  if (notANumber()) {
    // As for a drawing that is not a digit: "Correct" says so; "Wrong" asks what it was.
    resetFeedback({ label: null }, isNumber() ? "number" : "digits");
  } else if (isNumber()) {
    // A reading with a "?" cannot be confirmed as it is: "Wrong…" asks for the number.
    resetFeedback(confirmable(number.text) ? { number: number.text } : NOTHING_TO_CONFIRM, "number");
  } else {
    resetFeedback(agree ? { label: digits[0] } : null, "digits");
  }
  $("result-empty").hidden = true;
  result.hidden = false;
}

// ---- feedback ---------------------------------------------------------------------------

const feedbackStatus = $("feedback-status");
const digitPicker = $("feedback-digits");
const numberForm = $("feedback-number");
const numberInput = $("feedback-number-input");
const wrong = $("feedback-wrong");
const correct = $("feedback-correct");
const numberCount = $("feedback-number-count");
const foundDigits = () => number?.digits?.length ?? 0;
const feedbackControls = () => [
  ...document.querySelectorAll("#feedback button"),
  $("feedback-consent"),
  numberInput,
];

// Several digits on the canvas: the verdict is on the whole number.
const isNumber = () => (number?.digits?.length ?? 0) > 1;
// The drawing does not read as a number at all (the API's number.not_a_number).
const notANumber = () => number?.not_a_number === true;

let confirmed = null; // the verdict "Correct" sends
let asking = "digits"; // what "Wrong" asks for: "digits" (the picker) or "number" (the field)

// `confirm` is what "Correct" sends: {label} (the digit both models answered, or null: not
// a digit, or not a number) or {number} (the number read); null when the models disagree
// on one digit: then "Correct" would be ambiguous, so the picker opens straight away;
// NOTHING_TO_CONFIRM when no one-click answer could work: only "Wrong" is offered.
// `ask` is what "Wrong" asks for: "digits" or "number".
const NOTHING_TO_CONFIRM = Symbol("nothing to confirm");
function resetFeedback(confirm, ask) {
  for (const control of feedbackControls()) control.disabled = false;
  confirmed = confirm === NOTHING_TO_CONFIRM ? null : confirm;
  asking = ask;
  correct.hidden = confirmed === null;
  wrong.hidden = confirm === null;
  digitPicker.hidden = confirm !== null;
  numberForm.hidden = true;
  numberInput.value = "";
  numberCount.textContent = ask === "number" ? countHint(foundDigits(), "") : "";
  wrong.setAttribute("aria-controls", ask === "number" ? "feedback-number" : "feedback-digits");
  wrong.setAttribute("aria-expanded", String(confirm === null));
  $("feedback-pick").textContent = confirm === null ? t("feedback.disagree") : $("feedback-pick").dataset.text;
  setStatus(feedbackStatus, "idle");
  showForgetLinks([]);
}

// A delete link per drawing stored with consent (one per digit of a number, in order):
// /forget#<id>.<secret>, the secret in the fragment so it never reaches a server log.
// The API shows each secret only this once.
function showForgetLinks(deletions) {
  const links = deletions.map(({ id, delete_token: token }, i) => {
    const text = deletions.length > 1 ? t("forget.link_digit", { index: i + 1 }) : t("forget.link");
    const href = `${config.forgetUrl}#${id}.${token}`;
    return el("li", { class: "list-inline-item" }, el("a", { href, target: "_blank", rel: "noopener" }, text));
  });
  $("feedback-forget-links").replaceChildren(...links);
  $("feedback-forget").hidden = links.length === 0;
}
$("feedback-pick").dataset.text = $("feedback-pick").textContent;

// `verdict` is {label} (one digit, or null: not a digit) or {number} (the right number).
async function sendFeedback(verdict) {
  if (predictionId === null) return;
  const consent = $("feedback-consent").checked;
  const controls = feedbackControls();
  for (const control of controls) control.disabled = true;
  setStatus(feedbackStatus, "sending", t("feedback.sending"));
  const found = foundDigits();
  try {
    const answer = await postJSON(`${predictionsUrl}/${encodeURIComponent(predictionId)}/feedback`, {
      ...verdict,
      consent,
    });
    let message = t(consent ? "feedback.used" : "feedback.not_stored");
    if (consent && verdict.label === null) message = t("feedback.used_not_digit");
    if ("number" in verdict) message = numberThanks(answer, found, verdict.number);
    setStatus(feedbackStatus, "done", message);
    showForgetLinks(answer.deletions ?? []);
    // The buttons just went disabled: keep the keyboard's place here, not on <body>.
    feedbackStatus.focus();
  } catch (err) {
    setStatus(feedbackStatus, "error", errorMessage(err));
    for (const control of controls) control.disabled = false;
  }
}

correct.addEventListener("click", () => {
  if (confirmed !== null) sendFeedback(confirmed);
});
$("feedback-none").addEventListener("click", () => sendFeedback({ label: null }));
wrong.addEventListener("click", () => {
  const panel = asking === "number" ? numberForm : digitPicker;
  panel.hidden = !panel.hidden;
  wrong.setAttribute("aria-expanded", String(!panel.hidden));
  if (!panel.hidden) (asking === "number" ? numberInput : $("feedback-digit-0")).focus();
});
// Escape folds the list of digits (or the number field) back and returns to "Wrong".
document.addEventListener("keydown", (event) => {
  const panel = asking === "number" ? numberForm : digitPicker;
  if (event.key !== "Escape" || panel.hidden || wrong.hidden) return;
  event.preventDefault();
  panel.hidden = true;
  wrong.setAttribute("aria-expanded", "false");
  wrong.focus();
});
for (const button of digitPicker.querySelectorAll("button[data-label]")) {
  button.addEventListener("click", () => sendFeedback({ label: Number(button.dataset.label) }));
}
numberInput.addEventListener("input", () => {
  numberCount.textContent = countHint(foundDigits(), numberInput.value);
});
numberForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = numberInput.value.trim();
  if (!/^[0-9]{1,6}$/.test(text)) {
    setStatus(feedbackStatus, "error", t("feedback.number_invalid"));
    numberInput.focus();
    return;
  }
  sendFeedback({ number: text });
});
