// The admin token field shared by the Models and Samples pages.
//
// The token lives in sessionStorage: it survives a reload but not the tab, and it is
// sent only as "Authorization: Bearer <token>" on the calls that need it.

import { request } from "./api.js";
import { t } from "./i18n.js";
import { $, tabStorage } from "./ui.js";

const TOKEN_KEY = "digits.admin.token";
const field = $("admin-token");
const forget = $("admin-forget");
const state = $("admin-state");

// With storage refused the field itself is the memory.
export const adminToken = () => tabStorage.get(TOKEN_KEY) ?? field?.value.trim() ?? "";
const store = (token) => tabStorage.set(TOKEN_KEY, token);

const listeners = new Set();

function changed() {
  const token = adminToken();
  forget.disabled = !token;
  state.textContent = token ? t("admin.token_kept") : t("admin.token_none");
  for (const listener of listeners) listener(Boolean(token));
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
  forget.addEventListener("click", () => {
    field.value = "";
    store("");
    changed();
    field.focus();
  });
  changed();
}
