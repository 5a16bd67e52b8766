// The Stats page: accuracy from feedback over time and per version, a confusion-matrix
// heat map, samples per digit, queue depth and workers. Charts are Chart.js (vendored,
// loaded before this module as window.Chart); the heat map is a real table.

import { errorMessage, request } from "./api.js";
import { formatDate, formatDay, formatNumber, formatPercent, percent, t } from "./i18n.js";
import { raceWords } from "./race_text.js";
import { drawWorkers, workersPending } from "./stats_workers.js";
import {
  $,
  config,
  el,
  modelLabel,
  models,
  raceFigures,
  setStatus,
  tableRegionsFocusableWhileScrolling,
} from "./ui.js";

const { Chart } = window;
// Names as the server declares them (shared/names.py), rendered onto <body> by the template.
const MODELS = models.map((model) => model.name);
const QUEUES = JSON.parse(config.queues || "[]");
const status = $("status");
const refreshSeconds = Number(config.refresh || 15);
const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
const charts = {};
let latest = null;

// Colours come from Bootstrap's variables, so both themes read well; the models' series
// take theirs in display order.
const SERIES_COLORS = ["--bs-info", "--bs-primary", "--bs-danger", "--bs-secondary"];

function palette() {
  const css = getComputedStyle(document.body);
  const read = (name) => css.getPropertyValue(name).trim();
  return {
    text: read("--bs-secondary-color"),
    grid: read("--bs-border-color-translucent"),
    bar: read("--bs-success"),
    queue: read("--bs-warning"),
    ...Object.fromEntries(MODELS.map((name, i) => [name, read(SERIES_COLORS[i % SERIES_COLORS.length])])),
  };
}

const accuracyLabel = (context) => `${context.dataset.label}: ${formatPercent(context.parsed.y)}`;

// The lowest accuracy shown, a round 10 % below the worst value: near 100 % a full
// 0-100 axis would flatten every difference worth seeing.
function accuracyFloor(values) {
  const known = values.filter((v) => typeof v === "number");
  if (!known.length) return 0;
  return Math.max(0, Math.floor(Math.min(...known) * 10) / 10 - 0.1);
}

function baseOptions(colors, { percentAxis = false, horizontal = false, min = 0, suggestedMax } = {}) {
  const valueAxis = {
    beginAtZero: true,
    grid: { color: colors.grid },
    ticks: { color: colors.text, precision: 0 },
  };
  if (percentAxis) {
    Object.assign(valueAxis, {
      beginAtZero: false,
      min,
      max: 1,
      ticks: { color: colors.text, callback: (v) => t("percent", { percent: formatNumber(Math.round(v * 100)) }) },
    });
  }
  if (suggestedMax !== undefined) valueAxis.suggestedMax = suggestedMax;
  const categoryAxis = { grid: { display: false }, ticks: { color: colors.text } };
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: reducedMotion.matches ? false : { duration: 400 },
    indexAxis: horizontal ? "y" : "x",
    scales: horizontal ? { x: valueAxis, y: categoryAxis } : { x: categoryAxis, y: valueAxis },
    // Points on the 100 % line must not be cut in half by the chart area.
    layout: { padding: { top: 6 } },
    plugins: {
      legend: { labels: { color: colors.text, boxWidth: 12 } },
      tooltip: percentAxis ? { callbacks: { label: accuracyLabel } } : {},
    },
  };
}

// The chart's figures as the table after it: a row per label, a column per data set.
function showFigures(id, { labels, datasets }, format, isEmpty) {
  const box = $(`${id}-data`);
  box.hidden = isEmpty;
  const head = box.querySelector("thead tr");
  head.replaceChildren(head.firstElementChild, ...datasets.map((d) => el("th", { scope: "col", class: "text-end" }, d.label)));
  const rows = labels.map((label, i) =>
    el(
      "tr",
      {},
      el("th", { scope: "row" }, label),
      ...datasets.map((d) => el("td", { class: "text-end" }, typeof d.data[i] === "number" ? format(d.data[i]) : "–")),
    ),
  );
  box.querySelector("tbody").replaceChildren(...rows);
}

// Draw or update one chart and its table of figures (shown with `format`); an empty data
// set shows the "no data" note instead.
function render(id, type, data, options, isEmpty, format = formatNumber) {
  $(`${id}-empty`).hidden = !isEmpty;
  $(id).hidden = isEmpty;
  showFigures(id, data, format, isEmpty);
  if (charts[id]) {
    charts[id].data = data;
    charts[id].options = options;
    charts[id].update();
  } else {
    charts[id] = new Chart($(id), { type, data, options });
  }
}

function drawAccuracyByDay(stats, colors) {
  const days = [...new Set(MODELS.flatMap((m) => stats.models[m].by_day.map((row) => row.day)))].sort();
  const datasets = MODELS.map((name) => {
    const byDay = new Map(stats.models[name].by_day.map((row) => [row.day, row.accuracy]));
    return {
      label: modelLabel(name),
      data: days.map((day) => byDay.get(day) ?? null),
      borderColor: colors[name],
      backgroundColor: colors[name],
      cubicInterpolationMode: "monotone", // no bulge above 100 % between points
      spanGaps: true,
      pointRadius: 4,
      clip: false,
    };
  });
  const min = accuracyFloor(datasets.flatMap((d) => d.data));
  const options = baseOptions(colors, { percentAxis: true, min });
  render("chart-by-day", "line", { labels: days.map(formatDay), datasets }, options, days.length === 0, formatPercent);
}

// Each live race: the champion's and the challenger's accuracy per day on the same labels.
function drawRaceByDay(stats, colors) {
  const live = Object.entries(stats.challengers?.live ?? {});
  const days = [...new Set(live.flatMap(([, race]) => race.by_day.map((row) => row.day)))].sort();
  const datasets = live.flatMap(([name, race]) => {
    const byDay = new Map(race.by_day.map((row) => [row.day, row]));
    return ["champion", "challenger"].map((side) => ({
      label: t(`stats.race_line.${side}`, { model: modelLabel(name), version: race.version }),
      data: days.map((day) => byDay.get(day)?.[side] ?? null),
      borderColor: colors[name],
      backgroundColor: colors[name],
      borderDash: side === "challenger" ? [6, 4] : [],
      spanGaps: true,
      pointRadius: 4,
      clip: false,
    }));
  });
  const min = accuracyFloor(datasets.flatMap((d) => d.data));
  const options = baseOptions(colors, { percentAxis: true, min });
  render("chart-races", "line", { labels: days.map(formatDay), datasets }, options, days.length === 0, formatPercent);
}

function drawAccuracyByVersion(stats, colors) {
  const versions = [
    ...new Set(MODELS.flatMap((m) => stats.models[m].by_version.map((row) => row.version))),
  ].sort((a, b) => a - b);
  const datasets = MODELS.map((name) => {
    const byVersion = new Map(stats.models[name].by_version.map((row) => [row.version, row]));
    return {
      label: modelLabel(name),
      data: versions.map((v) => byVersion.get(v)?.accuracy ?? null),
      backgroundColor: colors[name],
      borderRadius: 4,
    };
  });
  const options = baseOptions(colors, { percentAxis: true, min: accuracyFloor(datasets.flatMap((d) => d.data)) });
  const labels = versions.map((v) => t("stats.version_label", { version: v }));
  render("chart-by-version", "bar", { labels, datasets }, options, versions.length === 0, formatPercent);
}

function drawSamples(stats, colors) {
  const digits = [...Array(10).keys()];
  const counts = digits.map((d) => stats.samples_per_digit?.[String(d)] ?? 0);
  const data = {
    labels: digits.map(String),
    datasets: [{ label: t("stats.samples_label"), data: counts, backgroundColor: colors.bar, borderRadius: 4 }],
  };
  const options = baseOptions(colors);
  options.plugins.legend.display = false;
  render("chart-samples", "bar", data, options, false);
}

function drawQueues(stats, colors) {
  const data = {
    labels: QUEUES.map((q) => t(`stats.queue.${q}`)),
    datasets: [
      {
        label: t("stats.queue_label"),
        data: QUEUES.map((q) => stats.queues?.[q] ?? 0),
        backgroundColor: colors.queue,
        borderRadius: 4,
      },
    ],
  };
  const options = baseOptions(colors, { horizontal: true, suggestedMax: 5 });
  options.plugins.legend.display = false;
  render("chart-queues", "bar", data, options, false);
}

// The heat map: each cell's shade is its share of its row (how often a true digit was
// read as each answer), set as a CSS custom property through CSSOM.
function drawConfusion(stats) {
  const name = document.querySelector('input[name="confusion-model"]:checked')?.value ?? MODELS.at(-1);
  const matrix = stats.models[name].confusion_matrix;
  $("confusion-caption").textContent = t("stats.confusion_of", { model: modelLabel(name) });
  for (const td of $("confusion").querySelectorAll("td")) {
    const row = matrix[Number(td.dataset.row)] ?? [];
    const count = row[Number(td.dataset.col)] ?? 0;
    const total = row.reduce((sum, n) => sum + n, 0);
    const share = total ? count / total : 0;
    td.textContent = formatNumber(count);
    td.style.setProperty("--heat", share.toFixed(3));
    td.classList.toggle("is-zero", count === 0);
    td.classList.toggle("is-strong", share >= 0.5);
    td.title = t("stats.confusion_cell", {
      label: cellLabel(td.dataset.row),
      predicted: cellLabel(td.dataset.col),
      count,
      percent: percent(share),
    });
  }
}

// Row or column 10 of a confusion matrix is "not a digit".
const cellLabel = (index) => (Number(index) === 10 ? t("stats.not_digit") : index);

// Per model and version: answers, refusals, and how often people disagreed with them.
function drawRefusals(stats) {
  const rows = MODELS.flatMap((name) =>
    stats.models[name].by_version.map((row) =>
      el(
        "tr",
        {},
        el("th", { scope: "row" }, `${modelLabel(name)} · ${t("stats.version_label", { version: row.version })}`),
        ...[row.total, row.refused ?? 0, row.refused_disputed ?? 0, row.missed ?? 0].map((n) =>
          el("td", { class: "text-end" }, formatNumber(n)),
        ),
      ),
    ),
  );
  if (!rows.length) {
    rows.push(el("tr", {}, el("td", { colspan: "5", class: "text-body-secondary" }, t("stats.no_refusals"))));
  }
  $("refusals-body").replaceChildren(...rows);
}

function drawFigures(stats) {
  $("stat-feedback").textContent = formatNumber(stats.feedback_events);
  $("stat-not-digit").textContent = formatNumber(stats.not_a_digit);
  $("stat-fine-tune").textContent = stats.active_fine_tune ? t("stats.fine_tune_running") : t("stats.fine_tune_idle");
  drawWorkers(stats);
}

// The challengers: each live race against its champion, then the past decisions.
function drawRaces(stats) {
  const races = stats.challengers ?? { live: {}, history: [] };
  const live = Object.entries(races.live).map(([name, race]) =>
    el("li", {}, t("stats.race", { model: modelLabel(name), ...raceWords(race) })),
  );
  $("races-live").replaceChildren(...(live.length ? live : [el("li", {}, t("stats.no_race"))]));
  $("races-history").replaceChildren(
    ...races.history.map((d) =>
      el(
        "li",
        {},
        t("stats.decision", {
          model: modelLabel(d.model),
          ...raceFigures(d),
          decision: t(`stats.decision.${d.decision}`),
          by: d.by,
          time: formatDate(d.decided_at),
        }),
      ),
    ),
  );
}

function draw(stats) {
  const colors = palette();
  drawFigures(stats);
  drawAccuracyByDay(stats, colors);
  drawAccuracyByVersion(stats, colors);
  drawConfusion(stats);
  drawRefusals(stats);
  drawRaces(stats);
  drawRaceByDay(stats, colors);
  drawSamples(stats, colors);
  drawQueues(stats, colors);
}

async function refresh() {
  try {
    latest = await request(config.statsUrl, { timeoutMs: 10000 });
    draw(latest);
    $("stats-updated").textContent = t("stats.updated", { time: formatDate(new Date().toISOString()) });
    if (status.dataset.state !== "idle") setStatus(status, "idle");
  } catch (err) {
    setStatus(status, "error", errorMessage(err));
  } finally {
    // While the first ping runs, ask again in a second rather than wait a whole period.
    const seconds = workersPending(latest) ? 1 : refreshSeconds;
    if (refreshSeconds > 0 || workersPending(latest)) setTimeout(refresh, seconds * 1000);
  }
}

for (const radio of document.querySelectorAll('input[name="confusion-model"]')) {
  radio.addEventListener("change", () => latest && drawConfusion(latest));
}
tableRegionsFocusableWhileScrolling();
// theme.js flips data-bs-theme when the system does; redraw with the new colours.
new MutationObserver(() => latest && draw(latest)).observe(document.documentElement, {
  attributes: true,
  attributeFilter: ["data-bs-theme"],
});

refresh();
