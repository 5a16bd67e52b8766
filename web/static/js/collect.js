// The Collect page: pick a label, draw, save straight into the training samples.

import { errorMessage, postJSON } from "./api.js";
import { DrawingPad } from "./canvas.js";
import { t } from "./i18n.js";
import { activatesOnEnter, bindPadTools, isTextEntry, setStatus } from "./ui.js";

const $ = (id) => document.getElementById(id);
const samplesUrl = document.body.dataset.samplesUrl;
// "This session" is the browser tab: sessionStorage survives a reload but not a new tab.
const COUNT_KEY = "digits.collect.saved";

const pad = new DrawingPad($("canvas"));
const status = $("status");
const save = $("save");
const counter = $("saved-count");
bindPadTools(pad, { onClear: () => setStatus(status, "idle") });

function readCount() {
  try {
    return Number(sessionStorage.getItem(COUNT_KEY)) || 0;
  } catch {
    return 0; // storage can be disabled; the counter then starts at zero
  }
}

function writeCount(count) {
  counter.textContent = String(count);
  try {
    sessionStorage.setItem(COUNT_KEY, String(count));
  } catch {
    // Not fatal: the page still shows the count until it is reloaded.
  }
}

writeCount(readCount());

const selectedLabel = () => document.querySelector('input[name="label"]:checked')?.value ?? null;

async function saveSample() {
  if (save.disabled) return; // one save at a time, whatever triggered it
  const label = selectedLabel();
  if (label === null) {
    setStatus(status, "warning", t("collect.pick_label"));
    $("label-0").focus();
    return;
  }
  save.disabled = true;
  setStatus(status, "sending", t("collect.saving"));
  try {
    await postJSON(samplesUrl, { image: pad.toDataURL(), label: Number(label) });
    writeCount(readCount() + 1);
    pad.clear();
    setStatus(status, "saved", t("collect.saved", { label }));
  } catch (err) {
    setStatus(status, "error", errorMessage(err));
  } finally {
    save.disabled = false;
  }
}

save.addEventListener("click", saveSample);

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || isTextEntry(event.target)) return;
  if (/^[0-9]$/.test(event.key)) {
    const radio = $(`label-${event.key}`);
    radio.checked = true;
    setStatus(status, "info", t("collect.label", { label: event.key }));
    event.preventDefault();
    return;
  }
  if (event.key === "Enter" && !activatesOnEnter(event.target)) {
    event.preventDefault();
    saveSample();
  } else if (event.key === "Backspace" || event.key === "Delete") {
    event.preventDefault();
    $("clear").click();
  }
});
