// Small pieces every page script shares: the page's data, finding, making and filling
// elements, the tab's storage, the status line, and the drawing pad's buttons and keys.

import { formatNumber } from "./i18n.js";

export const $ = (id) => document.getElementById(id);

// What the template put on <body> for the scripts: URLs, settings (data-* attributes).
export const config = document.body.dataset;

// The models in display order, [{name, label}], as the server names them (data-models).
export const models = JSON.parse(config.models || "[]");
export const modelLabel = (name) => models.find((model) => model.name === name)?.label ?? name;

// An element with attributes ("class" sets the class list) and children (nodes or text).
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") element.className = value;
    else element.setAttribute(name, value);
  }
  element.append(...children);
  return element;
}

// A copy of the markup in <template id="...">: the page's HTML stays in the templates.
// A challenger's race as the messages name its figures (models.race, stats.race).
export const raceFigures = (race) => ({
  version: race.version,
  pairs: formatNumber(race.pairs),
  champion: formatNumber(race.champion_only),
  challenger: formatNumber(race.challenger_only),
  worse: race.p_worse.toFixed(3),
  better: race.p_better.toFixed(3),
});

export const cloneTemplate = (id) => $(id).content.firstElementChild.cloneNode(true);

// The element of a cloned template marked data-slot="name", to fill in.
export const slot = (root, name) => root.querySelector(`[data-slot="${name}"]`);

// Web storage, which a browser may refuse: then reads give `fallback` and writes are
// dropped, and only the memory across reloads is lost. An empty value removes the key.
function safeStorage(store) {
  return {
    get(key, fallback = null) {
      try {
        return store().getItem(key) ?? fallback;
      } catch {
        return fallback;
      }
    },
    set(key, value) {
      try {
        if (value === null || value === "") store().removeItem(key);
        else store().setItem(key, String(value));
      } catch {
        // Not fatal: see above.
      }
    },
  };
}

// A table's region takes the focus only while it scrolls, so keys can scroll it;
// when the table fits (stacked into cards on a phone, or a screen wide enough) a tab stop
// there would hold nothing to do. The template's tabindex="0" stays for pages without JS.
export function tableRegionsFocusableWhileScrolling() {
  for (const region of document.querySelectorAll(".table-responsive[role=region]")) focusableWhileScrolling(region);
}

function focusableWhileScrolling(region) {
  const update = () => {
    // either way: overflow-x makes overflow-y scroll too, and a pixel of it is a scroller
    const scrolls = region.scrollWidth > region.clientWidth || region.scrollHeight > region.clientHeight;
    if (scrolls) region.tabIndex = 0;
    else region.removeAttribute("tabindex");
  };
  const observer = new ResizeObserver(update);
  observer.observe(region);
  if (region.firstElementChild) observer.observe(region.firstElementChild); // rows filled in
  update();
}

// This tab's memory (sessionStorage): survives a reload, not a new tab.
export const tabStorage = safeStorage(() => sessionStorage);
// This browser's memory (localStorage): a choice remembered across visits.
export const browserStorage = safeStorage(() => localStorage);

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
    element.append(el("span", { class: "spinner-border spinner-border-sm me-2", "aria-hidden": "true" }));
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

// The keys of a page with a pad: Ctrl+Z undoes; unless a control needs the key, Enter
// runs `onEnter`, Backspace or Delete clear (Undo brings the drawing back), and
// `onKey(event)` may take any other key (it returns true when it did).
function bindPadKeys(pad, clear, { onEnter, onKey }) {
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "z") {
      event.preventDefault();
      pad.undo();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || isTextEntry(event.target)) return;
    if (onKey?.(event)) {
      event.preventDefault();
    } else if (event.key === "Enter" && onEnter && !activatesOnEnter(event.target)) {
      event.preventDefault();
      onEnter();
    } else if (event.key === "Backspace" || event.key === "Delete") {
      event.preventDefault();
      clear.click();
    }
  });
}

// Undo / Clear buttons and the keys above for a pad; `onClear` lets a page say the pad
// was cleared (its "change" event has fired by then).
export function bindPadTools(pad, { onClear, onEnter, onKey } = {}) {
  const undo = $("undo");
  const clear = $("clear");
  const sync = () => {
    undo.disabled = !pad.canUndo;
    clear.disabled = pad.isEmpty;
  };
  pad.addEventListener("change", sync);
  undo.addEventListener("click", () => pad.undo());
  clear.addEventListener("click", () => {
    pad.clear();
    onClear?.();
  });
  bindPadKeys(pad, clear, { onEnter, onKey });
  sync();
}
