// Translated script messages: the server puts the js.* strings of web/i18n.py, in the
// page's language, as JSON on <body data-messages>, so there is one catalogue.

const messages = JSON.parse(document.body.dataset.messages || "{}");
export const lang = document.body.dataset.lang || "en";

// Fill {name} placeholders the way Python's str.format does for the same strings.
export function t(key, params = {}) {
  const text = messages[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

export function has(key) {
  return key in messages;
}

const percentFormat = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });

// A probability (0..1) as a localized percentage without the % sign. Near the ends it
// says "<0.1" / ">99.9" rather than round a real chance to a flat 0 or 100.
export function percent(probability) {
  const value = probability * 100;
  if (value > 0 && value < 0.05) return `<${percentFormat.format(0.1)}`;
  if (value < 100 && value >= 99.95) return `>${percentFormat.format(99.9)}`;
  return percentFormat.format(value);
}

const numberFormat = new Intl.NumberFormat(lang);
export const formatNumber = (value) => numberFormat.format(value);

const dateFormat = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
const dayFormat = new Intl.DateTimeFormat(lang, { month: "short", day: "numeric", timeZone: "UTC" });

// An ISO time from the API in the reader's language and time zone; "–" if unreadable.
export function formatDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "–" : dateFormat.format(date);
}

// A calendar day "YYYY-MM-DD" (UTC, as the stats count them) in the reader's language.
export function formatDay(day) {
  const date = new Date(`${day}T00:00:00Z`);
  return Number.isNaN(date.getTime()) ? String(day) : dayFormat.format(date);
}
