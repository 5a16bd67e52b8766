// The Samples page: browse the stored samples as a grid of their 28x28 images, filter by
// label and source, page through them, and see how many there are of each. Admins also
// list hidden samples, hide or delete one, download the set (at once or built in the
// background) and give trusted collectors their tokens.

import { errorMessage, request } from "./api.js";
import { adminRequest, onAdminChange } from "./admin.js";
import { formatDate, formatNumber, t } from "./i18n.js";
import { $, cloneTemplate, config, el, setStatus, slot } from "./ui.js";

const pageSize = Number(config.pageSize || 48);
const POLL_MS = 1000;
// Typing a token changes it at every key: ask for the collectors (and a private gallery's
// listing) once the typing stops.
const TOKEN_DELAY_MS = 500;
const grid = $("samples-grid");
const summary = $("samples-summary");
const adminStatus = $("admin-status");
const hiddenBox = $("filter-hidden");
const exportButtons = [$("export-zip"), $("export-npz")];
const backgroundButton = $("export-background");
const progress = $("export-progress");
const collectorsList = $("collectors-list");
let offset = 0;
let loading = null; // AbortController of the page being fetched
let counting = null; // AbortController of the counts being fetched
let isAdmin = false;
let exporting = false; // a background export is being followed
let collectorsTimer = null;
let listingTimer = null;
// The server shows the drawings to admins only (PUBLIC_GALLERY off): the page says so
// (data-public-gallery), so a visitor without the token is not sent for what the API
// refuses; a 401 private_gallery teaches the same. The listing then follows the token.
let galleryPrivate = config.publicGallery === "false";

// The label as a tile shows it: the digit, or ✕ for "not a digit" (label null).
const labelText = (sample) => (sample.label === null || sample.label === undefined ? "✕" : String(sample.label));

// `base` with the chosen label and source: what the grid shows is what an export holds.
function withFilters(base) {
  const url = new URL(base, window.location.href);
  for (const field of [$("filter-label"), $("filter-source")]) {
    if (field.value) url.searchParams.set(field.name, field.value);
  }
  return url;
}

// ---- the grid ---------------------------------------------------------------------------

// One tile of the grid, from <template id="sample-item"> in samples.html.
function sampleItem(sample) {
  const item = cloneTemplate("sample-item");
  const label = labelText(sample);
  item.dataset.id = sample.id;
  item.classList.toggle("is-hidden", Boolean(sample.hidden));
  item.title = [formatDate(sample.created_at), sample.collector, sample.id].filter(Boolean).join(" · ");
  const image = slot(item, "image");
  image.src = sample.image;
  image.alt = sample.label === null || sample.label === undefined ? t("samples.alt_none") : t("samples.alt", { label });
  slot(item, "label").textContent = label;
  const source = slot(item, "source");
  source.classList.add(`source-${sample.source}`);
  source.textContent = t(`samples.source.${sample.source}`);
  // Admin moderation; the buttons stay hidden (CSS .admin-only) without a token.
  const hide = slot(item, "hide");
  const remove = slot(item, "delete");
  const buttons = [hide, remove];
  hide.textContent = sample.hidden ? t("samples.show") : t("samples.hide");
  hide.setAttribute("aria-label", sample.hidden ? t("samples.show_one", { label }) : t("samples.hide_one", { label }));
  hide.addEventListener("click", () => moderate(sample, sample.hidden ? "show" : "hide", buttons));
  remove.textContent = t("samples.delete");
  remove.setAttribute("aria-label", t("samples.delete_one", { label }));
  remove.addEventListener("click", () => moderate(sample, "delete", buttons));
  return item;
}

async function loadPage() {
  loading?.abort();
  if (galleryPrivate && !isAdmin) {
    loading = null;
    showPrivateGallery();
    return;
  }
  const controller = (loading = new AbortController());
  const url = withFilters(config.samplesUrl);
  // With a token the listing is the admin's: a private gallery shows its drawings to admins
  // only, and hidden samples are listed for them alone.
  const hidden = isAdmin && hiddenBox.checked;
  if (hidden) url.searchParams.set("hidden", "1");
  url.searchParams.set("limit", String(pageSize));
  url.searchParams.set("offset", String(offset));
  grid.setAttribute("aria-busy", "true");
  summary.textContent = t("samples.loading");
  try {
    const page = await (isAdmin ? adminRequest : request)(url, { signal: controller.signal });
    // Hiding or deleting the last samples of the last page leaves it empty: go back.
    if (!page.samples.length && page.total > 0 && offset > 0) {
      offset = Math.floor((page.total - 1) / pageSize) * pageSize;
      return loadPage();
    }
    grid.replaceChildren(...page.samples.map(sampleItem));
    if (page.total === 0) {
      summary.textContent = t("samples.none");
    } else {
      summary.textContent = t("samples.showing", {
        first: formatNumber(page.offset + 1),
        last: formatNumber(page.offset + page.samples.length),
        count: page.total,
      });
    }
    $("samples-prev").disabled = page.offset === 0;
    $("samples-next").disabled = page.offset + page.samples.length >= page.total;
  } catch (err) {
    if (controller.signal.aborted) return;
    summary.textContent = errorMessage(err);
    if (err.code === "private_gallery") showPrivateGallery();
  } finally {
    if (loading === controller) {
      loading = null;
      grid.removeAttribute("aria-busy");
    }
  }
}

// No drawings for this visitor: say why, and what opens them. A token that was sent and
// refused is what to fix, rather than a missing one.
function showPrivateGallery() {
  galleryPrivate = true;
  grid.replaceChildren();
  $("samples-prev").disabled = true;
  $("samples-next").disabled = true;
  summary.textContent = isAdmin ? t("error.unauthorized") : t("error.private_gallery");
  grid.removeAttribute("aria-busy");
}

// ---- the counts -------------------------------------------------------------------------

// One figure of the table: a label's samples (or all labels') from a source (or all).
function countOf(counts, label, source) {
  if (label === "all") return source === "all" ? counts.total : counts.per_source?.[source];
  return source === "all" ? counts.per_label?.[label] : counts.per_label_and_source?.[label]?.[source];
}

function showCounts(counts) {
  for (const row of $("counts-table").querySelectorAll("tr[data-label]")) {
    for (const cell of row.querySelectorAll("td[data-source]")) {
      cell.textContent = formatNumber(countOf(counts, row.dataset.label, cell.dataset.source) ?? 0);
    }
  }
  $("counts-hidden").textContent = formatNumber(counts.hidden ?? 0);
  const collectors = Object.entries(counts.per_collector ?? {});
  $("counts-collectors").hidden = !collectors.length;
  $("counts-collectors-list").replaceChildren(
    ...collectors.map(([name, count]) =>
      el("li", { class: "d-flex justify-content-between gap-2" }, el("span", { class: "text-break" }, name), formatNumber(count)),
    ),
  );
}

// The counts, and for an admin the collectors with them: one answer, so the samples of a
// collector read the same in both lists even while samples arrive.
async function loadCounts() {
  counting?.abort();
  const controller = (counting = new AbortController());
  const error = $("counts-error");
  const admin = isAdmin;
  try {
    if (admin) {
      const answer = await adminRequest(config.collectorsUrl, { signal: controller.signal });
      showCollectors(answer.collectors);
      showCounts(answer.counts);
    } else {
      showCounts(await request(config.countsUrl, { signal: controller.signal }));
    }
    error.hidden = true;
  } catch (err) {
    if (controller.signal.aborted) return;
    error.textContent = errorMessage(err);
    error.hidden = false;
    if (admin) {
      collectorsList.replaceChildren();
      setStatus(adminStatus, "error", errorMessage(err));
    }
  } finally {
    if (counting === controller) counting = null;
  }
}

// The grid and the counts change together (a new sample, a hidden one): fetch both.
const load = () => Promise.all([loadPage(), loadCounts()]);

// ---- moderation -------------------------------------------------------------------------

// Hide a sample, show a hidden one again, or delete one for good (after a confirm).
async function moderate(sample, action, buttons) {
  if (action === "delete" && !window.confirm(t("samples.confirm_delete", { label: labelText(sample) }))) return;
  for (const button of buttons) button.disabled = true;
  setStatus(adminStatus, "sending", t("status.sending"));
  const url = `${config.samplesUrl}/${encodeURIComponent(sample.id)}`;
  try {
    if (action === "delete") {
      await adminRequest(url, { method: "DELETE" });
      setStatus(adminStatus, "done", t("samples.deleted_one"));
    } else {
      await adminRequest(url, { method: "PATCH", body: { hidden: action === "hide" } });
      setStatus(adminStatus, "done", action === "hide" ? t("samples.hidden_one") : t("samples.shown_one"));
    }
    await load();
  } catch (err) {
    setStatus(adminStatus, "error", errorMessage(err));
    for (const button of buttons) button.disabled = false;
  }
}

// ---- export -----------------------------------------------------------------------------

// Hand bytes to the browser as a download through a short-lived Blob URL.
function saveBlob(blob, filename) {
  const link = el("a", { href: URL.createObjectURL(blob), download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  setStatus(adminStatus, "done", t("samples.exported", { size: formatNumber(Math.ceil(blob.size / 1024)) }));
}

// The export needs the admin header, which a plain link cannot send: fetch it, then save.
async function download(format, button) {
  button.disabled = true;
  setStatus(adminStatus, "sending", t("samples.exporting"));
  try {
    const url = withFilters(config.exportUrl);
    url.searchParams.set("format", format);
    saveBlob(await adminRequest(url, { as: "blob" }), `digits-samples.${format}`);
  } catch (err) {
    setStatus(adminStatus, "error", errorMessage(err));
  } finally {
    button.disabled = !isAdmin;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A job's progress: indeterminate until the worker knows how many samples there are.
function showExportProgress(job) {
  progress.hidden = false;
  if (job.status === "running" && job.total) {
    progress.max = job.total;
    progress.value = job.done ?? 0;
    setStatus(adminStatus, "running", t("samples.export_running", {
      done: formatNumber(job.done ?? 0),
      total: formatNumber(job.total),
    }));
  } else {
    progress.removeAttribute("value");
    setStatus(adminStatus, "queued", t("samples.export_queued"));
  }
}

// Poll the job every second until the worker has written the archive, then download it.
// A passing network problem or restart is waited out; a failed job says why.
async function followExport(statusUrl, id, format) {
  for (;;) {
    let job;
    try {
      job = await adminRequest(statusUrl);
    } catch (err) {
      if (!err.retryable) throw err;
      setStatus(adminStatus, "retrying", t("status.retrying"));
      await sleep(POLL_MS);
      continue;
    }
    if (job.status === "done") {
      setStatus(adminStatus, "sending", t("samples.export_downloading"));
      saveBlob(await adminRequest(job.archive_url, { as: "blob" }), `digits-samples-${id.slice(0, 8)}.${format}`);
      return;
    }
    if (job.status !== "queued" && job.status !== "running") {
      setStatus(adminStatus, "failed", t("samples.export_failed", { message: job.error ?? job.status }));
      return;
    }
    showExportProgress(job);
    await sleep(POLL_MS);
  }
}

// For sets too big to stream in one request: the samples worker writes the archive to
// the store, and the page downloads it once it is there.
async function exportInBackground() {
  const format = $("export-background-format").value;
  exporting = true;
  backgroundButton.disabled = true;
  setStatus(adminStatus, "sending", t("samples.export_queued"));
  try {
    const url = withFilters(config.exportsUrl);
    url.searchParams.set("format", format);
    const job = await adminRequest(url, { method: "POST" });
    await followExport(job.status_url, job.id, format);
  } catch (err) {
    setStatus(adminStatus, "error", errorMessage(err));
  } finally {
    exporting = false;
    progress.hidden = true;
    backgroundButton.disabled = !isAdmin;
  }
}

// ---- collectors -------------------------------------------------------------------------

// One collector from <template id="collector-item">: name, samples, revoke or "revoked".
function collectorItem(collector) {
  const item = cloneTemplate("collector-item");
  const { name } = collector;
  item.dataset.name = name;
  slot(item, "name").textContent = name;
  slot(item, "samples").textContent = t("models.samples", { count: collector.samples ?? 0 });
  const button = slot(item, "revoke");
  if (collector.revoked_at) {
    const badge = slot(item, "revoked");
    badge.hidden = false;
    badge.textContent = t("samples.collector_revoked");
    badge.title = formatDate(collector.revoked_at);
    button.remove();
  } else {
    button.textContent = t("samples.collector_revoke");
    button.setAttribute("aria-label", t("samples.collector_revoke_one", { name }));
    button.addEventListener("click", () => revokeCollector(name, button));
  }
  return item;
}

function showCollectors(collectors) {
  const items = collectors.map(collectorItem);
  collectorsList.replaceChildren(
    ...(items.length ? items : [el("li", { class: "list-group-item px-0 text-body-secondary" }, t("samples.no_collectors"))]),
  );
}

async function createCollector(event) {
  event.preventDefault();
  const field = $("collector-name");
  const button = $("collector-create");
  button.disabled = true;
  setStatus(adminStatus, "sending", t("samples.collector_creating"));
  try {
    const issued = await adminRequest(config.collectorsUrl, { method: "POST", body: { name: field.value.trim() } });
    const { name } = issued.collector;
    // The server keeps only the token's hash: this is the one chance to copy it.
    $("collector-issued-name").textContent = t("samples.collector_token_of", { name });
    $("collector-issued-token").textContent = issued.token;
    $("collector-issued").hidden = false;
    field.value = "";
    setStatus(adminStatus, "done", t("samples.collector_created", { name }));
    await loadCounts();
  } catch (err) {
    setStatus(adminStatus, "error", errorMessage(err));
  } finally {
    button.disabled = false;
  }
}

async function revokeCollector(name, button) {
  if (!window.confirm(t("samples.confirm_revoke", { name }))) return;
  button.disabled = true;
  setStatus(adminStatus, "sending", t("status.sending"));
  try {
    await adminRequest(`${config.collectorsUrl}/${encodeURIComponent(name)}`, { method: "DELETE" });
    setStatus(adminStatus, "done", t("samples.collector_revoked_done", { name }));
    await loadCounts();
  } catch (err) {
    setStatus(adminStatus, "error", errorMessage(err));
    button.disabled = false;
  }
}

// ---- wiring -----------------------------------------------------------------------------

$("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  offset = 0;
  load();
});
for (const field of [$("filter-label"), $("filter-source"), hiddenBox]) {
  field.addEventListener("change", () => {
    offset = 0;
    load();
  });
}
$("samples-prev").addEventListener("click", () => {
  offset = Math.max(0, offset - pageSize);
  loadPage();
});
$("samples-next").addEventListener("click", () => {
  offset += pageSize;
  loadPage();
});
for (const button of exportButtons) {
  button.addEventListener("click", () => download(button.dataset.format, button));
}
backgroundButton.addEventListener("click", exportInBackground);
$("collector-form").addEventListener("submit", createCollector);

onAdminChange((hasToken) => {
  isAdmin = hasToken;
  document.body.classList.toggle("is-admin", hasToken);
  for (const button of exportButtons) button.disabled = !hasToken;
  backgroundButton.disabled = !hasToken || exporting;
  hiddenBox.disabled = !hasToken;
  // A private gallery opens with the token and closes without it.
  clearTimeout(listingTimer);
  if (galleryPrivate) {
    listingTimer = setTimeout(() => {
      offset = 0;
      loadPage();
    }, TOKEN_DELAY_MS);
  }
  clearTimeout(collectorsTimer);
  if (hasToken) {
    collectorsTimer = setTimeout(loadCounts, TOKEN_DELAY_MS);
  } else {
    collectorsList.replaceChildren();
    $("collector-issued").hidden = true;
    // Without the token the hidden listing would be refused: back to the visible one.
    if (hiddenBox.checked) {
      hiddenBox.checked = false;
      offset = 0;
      loadPage();
    }
  }
});

load();
