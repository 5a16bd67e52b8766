// The Draw page's verdict on a number: whether "Correct" can confirm the reading, what the
// number being typed will count for, and the thank-you for what the server did with it.
// The server (web/feedback.py) counts a number only when it has one digit per digit found;
// its answer says how many drawings it counted (`counted`) and stored (`samples`).

import { t } from "./i18n.js";

const DIGITS_ONLY = /^[0-9]+$/;

// Whether the number read can be sent as it is: the API takes digits only, and a part the
// CNN refused reads "?" (a drawing that is not a number has no text at all).
export const confirmable = (text) => typeof text === "string" && DIGITS_ONLY.test(text);

// What the number typed so far will do, for `found` digits found.
export function countHint(found, typed) {
  const digits = typed.trim();
  if (!DIGITS_ONLY.test(digits)) return t("feedback.number_count", { count: found });
  if (digits.length === found) return t("feedback.number_count_match", { count: found });
  return t("feedback.number_count_mismatch", { count: found, typed: digits.length });
}

// The thank-you for the number `typed`, from the server's answer.
export function numberThanks(answer, found, typed) {
  if (answer.counted === 0) return t("feedback.number_not_counted", { count: found, typed: typed.length });
  return t(answer.samples > 0 ? "feedback.number_used" : "feedback.number_counted");
}
