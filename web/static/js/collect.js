// The Collect page: pick a label, draw, save straight into the training samples.

import { errorMessage, postJSON } from "./api.js";
import { DrawingPad } from "./canvas.js";
import { formatNumber, t } from "./i18n.js";
import { $, bindPadTools, config, setStatus, tabStorage } from "./ui.js";

const samplesUrl = config.samplesUrl;
// "This session" is the browser tab: sessionStorage survives a reload but not a new tab.
const COUNT_KEY = "digits.collect.saved";

const pad = new DrawingPad($("canvas"));
const status = $("status");
const save = $("save");
const counter = $("saved-count");

// Kept in the tab's storage across reloads; where that is refused, the page counts alone.
let savedCount = Number(tabStorage.get(COUNT_KEY)) || 0;

function showCount() {
  counter.textContent = formatNumber(savedCount);
  tabStorage.set(COUNT_KEY, savedCount);
}

showCount();

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
    savedCount += 1;
    showCount();
    pad.clear();
    setStatus(status, "saved", t("collect.saved", { label }));
  } catch (err) {
    setStatus(status, "error", errorMessage(err));
  } finally {
    save.disabled = false;
  }
}

// The digit keys choose the label, so a whole round needs no mouse but for drawing.
function chooseLabel(event) {
  if (!/^[0-9]$/.test(event.key)) return false;
  $(`label-${event.key}`).checked = true;
  setStatus(status, "info", t("collect.label", { label: event.key }));
  return true;
}

save.addEventListener("click", saveSample);
bindPadTools(pad, { onClear: () => setStatus(status, "idle"), onEnter: saveSample, onKey: chooseLabel });
