// Translated script messages: the server puts the js.* messages of the page's catalogue
// (web/translations/<lang>.json) as JSON on <body data-messages>, so there is one source.
//
// A message is a string with {name} placeholders, or, where it shows a count, an object
// of CLDR plural categories ({"one": ..., "few": ..., "many": ..., "other": ...}) from
// which Intl.PluralRules picks the form for params.count, as Babel does on the server.

const messages = JSON.parse(document.body.dataset.messages || "{}");
export const lang = document.body.dataset.lang || "en";

const numberFormat = new Intl.NumberFormat(lang);
export const formatNumber = (value) => numberFormat.format(value);

const pluralRules = new Intl.PluralRules(lang);

// The plural category of a number in the page's language: "one", "few", "many", "other".
export const pluralCategory = (count) => pluralRules.select(count);

// The message for `key` with its {placeholders} filled the way Python's str.format fills
// the same strings. A plural message needs params.count: a number that picks the form
// and is shown in the page's number format.
export function t(key, params = {}) {
  let text = messages[key] ?? key;
  if (typeof text === "object") {
    text = text[pluralCategory(params.count)] ?? text.other;
    params = { ...params, count: formatNumber(params.count) };
  }
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

// A probability with its % sign where the language puts it ("98.4%", "98,4 %"); "–" if
// there is none.
export const formatPercent = (probability) =>
  typeof probability === "number" ? t("percent", { percent: percent(probability) }) : "–";

const listFormat = new Intl.ListFormat(lang, { type: "conjunction" });
// Items joined as the language joins a list: "a, b and c".
export const formatList = (items) => listFormat.format(items);

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
