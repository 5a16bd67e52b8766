// Small pieces of page behaviour both pages share: the status line and the pad's buttons.

// How each state looks; data-state carries the state itself for tests and styling.
const STATE_CLASSES = {
  idle: "",
  sending: "alert alert-info",
  queued: "alert alert-info",
  running: "alert alert-info",
  retrying: "alert alert-warning",
  done: "alert alert-success",
  saved: "alert alert-success",
  info: "alert alert-secondary",
  warning: "alert alert-warning",
  failed: "alert alert-danger",
  timeout: "alert alert-danger",
  error: "alert alert-danger",
};
const BUSY_STATES = new Set(["sending", "queued", "running", "retrying"]);

const ALL_STATE_CLASSES = [...new Set(Object.values(STATE_CLASSES).join(" ").split(" ").filter(Boolean))];

// Show `text` in a status line in the given state; the element's own classes (layout) stay.
export function setStatus(element, state, text = "") {
  element.dataset.state = state;
  element.classList.remove(...ALL_STATE_CLASSES);
  const classes = (STATE_CLASSES[state] ?? "").split(" ").filter(Boolean);
  if (classes.length) element.classList.add(...classes);
  element.replaceChildren();
  if (BUSY_STATES.has(state)) {
    const spinner = document.createElement("span");
    spinner.className = "spinner-border spinner-border-sm me-2";
    spinner.setAttribute("aria-hidden", "true");
    element.append(spinner);
  }
  element.append(text);
}

// Page shortcuts must not steal keys a focused control uses itself: Enter activates a
// button or link, and text fields need Backspace.
export function activatesOnEnter(target) {
  return target instanceof Element && target.closest("button, a, summary") !== null;
}

export function isTextEntry(target) {
  return (
    target instanceof Element &&
    target.closest("textarea, select, [contenteditable], input:not([type=radio]):not([type=checkbox])") !== null
  );
}

// Undo / Clear buttons and Ctrl+Z for a pad; `onClear` lets a page forget a stale result.
export function bindPadTools(pad, { onClear } = {}) {
  const undo = document.getElementById("undo");
  const clear = document.getElementById("clear");
  const sync = () => {
    undo.disabled = pad.isEmpty;
    clear.disabled = pad.isEmpty;
  };
  pad.addEventListener("change", sync);
  undo.addEventListener("click", () => pad.undo());
  clear.addEventListener("click", () => {
    pad.clear();
    onClear?.();
  });
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "z") {
      event.preventDefault();
      pad.undo();
    }
  });
  sync();
}
