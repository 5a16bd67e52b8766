// The admin token field shared by the Models and Samples pages.
//
// The token lives in sessionStorage: it survives a reload but not the tab, and it is
// sent only as "Authorization: Bearer <token>" on the calls that need it. A token is
// checked with the server once entered (Enter, or leaving the field) and when a page
// opens with one kept, and the line under the field says whether it was accepted: not at
// every key, since each wrong token counts towards ADMIN_FAILURE_LIMIT.

import { errorMessage, request } from "./api.js";
import { t } from "./i18n.js";
import { $, tabStorage } from "./ui.js";

const TOKEN_KEY = "digits.admin.token";
const field = $("admin-token");
const forget = $("admin-forget");
const state = $("admin-state");
const checkUrl = $("admin-panel")?.dataset.checkUrl;
let checked = null; // the token whose check was asked for last

// With storage refused the field itself is the memory.
export const adminToken = () => tabStorage.get(TOKEN_KEY) ?? field?.value.trim() ?? "";
const store = (token) => tabStorage.set(TOKEN_KEY, token);

const listeners = new Set();

// The line under the field: its text, and a class for how it reads (ok, refused).
function say(text, verdict = "") {
  state.textContent = text;
  state.dataset.verdict = verdict;
  state.classList.toggle("text-success-emphasis", verdict === "accepted");
  state.classList.toggle("text-danger-emphasis", verdict === "refused");
}

function changed() {
  const token = adminToken();
  forget.disabled = !token;
  checked = null;
  say(token ? t("admin.token_kept") : t("admin.token_none"));
  for (const listener of listeners) listener(Boolean(token));
}

// Ask the server whether it takes the token (GET /api/admin/token: 204 or 401).
async function check() {
  const token = adminToken();
  if (!token || !checkUrl || token === checked) return;
  checked = token;
  say(t("admin.checking"), "checking");
  try {
    await adminRequest(checkUrl);
    if (checked === token) say(t("admin.token_accepted"), "accepted");
  } catch (err) {
    if (checked !== token) return; // another token was entered meanwhile
    if (err.status === 401) say(t("admin.token_refused"), "refused");
    else say(t("admin.token_unchecked", { reason: errorMessage(err) }), "unchecked");
    if (err.status !== 401) checked = null; // worth asking again later
  }
}

// Call `listener(hasToken)` now and whenever the token changes.
export function onAdminChange(listener) {
  listeners.add(listener);
  listener(Boolean(adminToken()));
}

// An API call with the admin header (a refused token is a 401 "unauthorized").
export function adminRequest(url, options = {}) {
  return request(url, { ...options, headers: { Authorization: `Bearer ${adminToken()}` } });
}

if (field) {
  field.value = adminToken();
  field.addEventListener("input", () => {
    store(field.value.trim());
    changed();
  });
  // Leaving the field by pressing a button (Start, say) must not move that button between
  // press and release: the line under the field changes only once the press is over.
  let pressing = false;
  document.addEventListener("pointerdown", () => { pressing = true; }, true);
  document.addEventListener("pointerup", () => { pressing = false; }, true);
  field.addEventListener("change", () => {
    if (!pressing) check();
    else document.addEventListener("pointerup", () => setTimeout(check), { once: true });
  });
  field.addEventListener("keydown", (event) => {
    if (event.key === "Enter") check();
  });
  forget.addEventListener("click", () => {
    field.value = "";
    store("");
    changed();
    field.focus();
  });
  changed();
  check();
}
