// The Samples page: browse the stored samples as a grid of their 28x28 images, filter by
// label and source, page through them; admins download the whole set.

import { errorMessage, request } from "./api.js";
import { adminRequest, onAdminChange } from "./admin.js";
import { formatDate, formatNumber, t } from "./i18n.js";
import { $, cloneTemplate, config, el, setStatus, slot } from "./ui.js";

const pageSize = Number(config.pageSize || 48);
const grid = $("samples-grid");
const summary = $("samples-summary");
const adminStatus = $("admin-status");
const exportButtons = [$("export-zip"), $("export-npz")];
let offset = 0;
let loading = null; // AbortController of the page being fetched

// One tile of the grid, from <template id="sample-item"> in samples.html.
function sampleItem(sample) {
  const item = cloneTemplate("sample-item");
  const label = String(sample.label ?? "–");
  item.dataset.id = sample.id;
  item.title = `${formatDate(sample.created_at)} · ${sample.id}`;
  const image = slot(item, "image");
  image.src = sample.image;
  image.alt = t("samples.alt", { label });
  slot(item, "label").textContent = label;
  const source = slot(item, "source");
  source.classList.add(`source-${sample.source}`);
  source.textContent = t(`samples.source.${sample.source}`);
  return item;
}

async function load() {
  loading?.abort();
  const controller = (loading = new AbortController());
  const url = new URL(config.samplesUrl, window.location.href);
  const label = $("filter-label").value;
  const source = $("filter-source").value;
  if (label) url.searchParams.set("label", label);
  if (source) url.searchParams.set("source", source);
  url.searchParams.set("limit", String(pageSize));
  url.searchParams.set("offset", String(offset));
  grid.setAttribute("aria-busy", "true");
  summary.textContent = t("samples.loading");
  try {
    const page = await request(url, { signal: controller.signal });
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
  } finally {
    if (loading === controller) {
      loading = null;
      grid.removeAttribute("aria-busy");
    }
  }
}

$("filters").addEventListener("submit", (event) => {
  event.preventDefault();
  offset = 0;
  load();
});
for (const id of ["filter-label", "filter-source"]) {
  $(id).addEventListener("change", () => {
    offset = 0;
    load();
  });
}
$("samples-prev").addEventListener("click", () => {
  offset = Math.max(0, offset - pageSize);
  load();
});
$("samples-next").addEventListener("click", () => {
  offset += pageSize;
  load();
});

// The export needs the admin header, which a plain link cannot send: fetch it, then hand
// the bytes to the browser as a download through a short-lived Blob URL.
async function download(format, button) {
  button.disabled = true;
  setStatus(adminStatus, "sending", t("samples.exporting"));
  try {
    const url = new URL(config.exportUrl, window.location.href);
    url.searchParams.set("format", format);
    const blob = await adminRequest(url, { as: "blob" });
    const link = el("a", { href: URL.createObjectURL(blob), download: `digits-samples.${format}` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    setStatus(adminStatus, "done", t("samples.exported", { size: formatNumber(Math.ceil(blob.size / 1024)) }));
  } catch (err) {
    setStatus(adminStatus, "error", errorMessage(err));
  } finally {
    button.disabled = false;
  }
}

for (const button of exportButtons) {
  button.addEventListener("click", () => download(button.dataset.format, button));
}
onAdminChange((hasToken) => {
  for (const button of exportButtons) button.disabled = !hasToken;
});

load();
