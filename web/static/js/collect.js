// The Collect page: pick a label, draw, save straight into the training samples. A
// trusted collector may enter the token an admin gave them: their samples are then theirs.

import { errorMessage, postJSON } from "./api.js";
import { DrawingPad } from "./canvas.js";
import { formatNumber, t } from "./i18n.js";
import { $, bindPadTools, browserStorage, config, setStatus, tabStorage } from "./ui.js";

const samplesUrl = config.samplesUrl;
// "This session" is the browser tab: sessionStorage survives a reload but not a new tab.
const COUNT_KEY = "digits.collect.saved";
// A collector comes back over days, so their token outlives the tab (localStorage).
const TOKEN_KEY = "digits.collector.token";
const TOKEN_HEADER = "X-Collector-Token";

const pad = new DrawingPad($("canvas"));
const status = $("status");
const save = $("save");
const counter = $("saved-count");
const tokenField = $("collector-token");
const tokenForget = $("collector-forget");
const tokenState = $("collector-state");
const forgetLast = $("forget-last");
const forgetLastLink = $("forget-last-link");

// Kept in the tab's storage across reloads; where that is refused, the page counts alone.
let savedCount = Number(tabStorage.get(COUNT_KEY)) || 0;

function showCount() {
  counter.textContent = formatNumber(savedCount);
  tabStorage.set(COUNT_KEY, savedCount);
}

showCount();

const collectorToken = () => tokenField.value.trim();

function showToken() {
  const token = collectorToken();
  tokenForget.disabled = !token;
  tokenState.textContent = token ? t("collect.collector_kept") : t("collect.collector_none");
}

tokenField.value = browserStorage.get(TOKEN_KEY, "");
// A kept token is shown unfolded, so nobody saves under a name without seeing it.
$("collector").open = Boolean(collectorToken());
showToken();
tokenField.addEventListener("input", () => {
  browserStorage.set(TOKEN_KEY, collectorToken());
  showToken();
});
tokenForget.addEventListener("click", () => {
  tokenField.value = "";
  browserStorage.set(TOKEN_KEY, "");
  showToken();
  tokenField.focus();
});

// The delete link of the drawing just saved: /forget#<id>.<secret>, the secret in the
// fragment so it never reaches a server log. The API shows the secret only this once.
function showForgetLink(answer) {
  forgetLast.hidden = !answer?.delete_token;
  if (forgetLast.hidden) return;
  forgetLastLink.href = `${config.forgetUrl}#${answer.id}.${answer.delete_token}`;
}

const selectedLabel = () => document.querySelector('input[name="label"]:checked')?.value ?? null;
const labelBadge = $("pad-label");
const labelWarning = $("label-warning"); // "choose a digit first", beside the digits

// The chosen digit is said on the Save button and in the pad's corner, and forgotten after
// each save: the next drawing is never filed under a label chosen for the one before.
function showLabel() {
  const label = selectedLabel();
  save.textContent = label === null ? t("collect.save_pick") : t("collect.save_as", { label });
  labelBadge.textContent = label ?? "";
  labelBadge.hidden = label === null;
  if (label !== null) labelWarning.hidden = true;
}

// Unchecked, and not left with the focus either: a focus ring would still single it out.
function forgetLabel() {
  for (const radio of document.querySelectorAll('input[name="label"]')) radio.checked = false;
  if (document.activeElement?.name === "label") $("labels").focus({ preventScroll: true });
  showLabel();
}

async function saveSample() {
  if (save.disabled) return; // one save at a time, whatever triggered it
  const label = selectedLabel();
  if (label === null) {
    labelWarning.hidden = false;
    // The digits and the warning under them come into view together (a focus scroll alone
    // may stop with the warning just out of view).
    $("label-0").focus({ preventScroll: true });
    $("label-picker").scrollIntoView({ block: "nearest" });
    return;
  }
  save.disabled = true;
  setStatus(status, "sending", t("collect.saving"));
  try {
    const token = collectorToken();
    const headers = token ? { [TOKEN_HEADER]: token } : {};
    const answer = await postJSON(samplesUrl, { image: pad.toDataURL(), label: Number(label) }, { headers });
    savedCount += 1;
    showCount();
    pad.clear({ undoable: false });
    forgetLabel();
    // The server names the collector it credited: proof the token was taken.
    const saved = answer?.collector
      ? t("collect.saved_as", { label, collector: answer.collector })
      : t("collect.saved", { label });
    setStatus(status, "saved", saved);
    showForgetLink(answer);
  } catch (err) {
    setStatus(status, "error", errorMessage(err));
    if (err.code === "invalid_collector_token") {
      $("collector").open = true; // where the refused token can be fixed or forgotten
      tokenField.focus();
    }
  } finally {
    save.disabled = false;
  }
}

// The digit keys choose the label, so a whole round needs no mouse but for drawing.
function chooseLabel(event) {
  if (!/^[0-9]$/.test(event.key)) return false;
  $(`label-${event.key}`).checked = true;
  showLabel();
  setStatus(status, "info", t("collect.label", { label: event.key }));
  return true;
}

save.addEventListener("click", saveSample);
$("labels").addEventListener("change", showLabel);
showLabel();
bindPadTools(pad, { onClear: () => setStatus(status, "idle"), onEnter: saveSample, onKey: chooseLabel });
