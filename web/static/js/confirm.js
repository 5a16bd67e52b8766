// Asking before an admin action that changes what production serves (promote, retire,
// roll back): the native <dialog id="confirm-dialog"> of the page, modal, so the focus
// stays in it and Escape cancels; the safe choice, Cancel, has the focus first.

import { t } from "./i18n.js";
import { $ } from "./ui.js";

const dialog = $("confirm-dialog");

// Resolves true when the person confirms `ok` after reading `title` and `text`.
export function confirmAction({ title, text, ok }) {
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-ok").textContent = ok;
  $("confirm-cancel").textContent = t("models.confirm.cancel");
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}
