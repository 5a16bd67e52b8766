// The Forget page: the person who sent a drawing deletes it with the link they were given
// once, /forget#<sample id>.<secret>. The secret rides in the fragment, which the browser
// never sends to the server (so no access log holds it), and is wiped from the address
// bar as soon as it is read, so a copied URL or a screenshot does not share it.

import { errorMessage, request } from "./api.js";
import { t } from "./i18n.js";
import { $, config, setStatus, tabStorage } from "./ui.js";

const DELETE_HEADER = "X-Delete-Token";
// The worker stores a drawing a moment after it was sent; until then the API answers 409,
// so a person who clicked at once is not turned away: ask again a few times.
const RETRY_MS = 2000;
const RETRIES = 5;
// The link, kept for this tab only: a reload or the language switch (?lang=, which drops
// the fragment) must not lose it once the address bar no longer shows it.
const LINK_KEY = "digits.forget.link";

const status = $("forget-status");
const button = $("forget-delete");

// {id, token} from "<id>.<token>" (a sample id is 32 hex digits, the token URL-safe
// base64), or null for a missing or cut-off link.
function parseLink(text) {
  const match = /^([0-9a-f]{32})\.([A-Za-z0-9_-]+)$/.exec(text);
  return match ? { id: match[1], token: match[2] } : null;
}

// The link from the address bar, else from this tab's memory; the fragment is cleared.
function readLink() {
  const fragment = window.location.hash.slice(1);
  if (!fragment) return parseLink(tabStorage.get(LINK_KEY, ""));
  history.replaceState(null, "", window.location.pathname + window.location.search);
  const link = parseLink(fragment);
  tabStorage.set(LINK_KEY, link ? fragment : "");
  return link;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Done with this link either way (deleted, or refused): nothing left to keep.
function finish(state, text) {
  tabStorage.set(LINK_KEY, "");
  setStatus(status, state, text);
}

// The DELETE, asked again while the drawing is still on its way to the store.
async function sendDelete(link) {
  const url = `${config.samplesUrl}/${encodeURIComponent(link.id)}`;
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await request(url, { method: "DELETE", headers: { [DELETE_HEADER]: link.token }, timeoutMs: 10000 });
    } catch (err) {
      if (err.status !== 409 || attempt >= RETRIES) throw err;
      setStatus(status, "retrying", t("forget.waiting"));
      await sleep(RETRY_MS);
    }
  }
}

async function deleteDrawing(link) {
  button.disabled = true;
  setStatus(status, "sending", t("forget.deleting"));
  try {
    await sendDelete(link);
    finish("done", t("forget.deleted"));
  } catch (err) {
    if (err.code === "wrong_delete_token") {
      finish("error", errorMessage(err)); // asking again cannot help
    } else if (err.status === 409) {
      // Still not stored after the retries, or deleted already: the API cannot tell which.
      setStatus(status, "warning", t("forget.not_stored"));
      button.disabled = false;
    } else {
      setStatus(status, "error", errorMessage(err));
      button.disabled = false;
    }
  }
}

// The drawing the link deletes, so the person sees what goes (the id alone says nothing).
// Asked again while the worker is still storing it; without it the id stays the only sign.
async function showDrawing(shown) {
  const image = $("forget-image");
  image.hidden = true;
  if (!shown) return;
  const url = `${config.samplesUrl}/${encodeURIComponent(shown.id)}/image`;
  for (let attempt = 0; attempt <= RETRIES; attempt += 1) {
    try {
      const answer = await request(url, { headers: { [DELETE_HEADER]: shown.token }, timeoutMs: 10000 });
      if (link !== shown) return; // another link was opened meanwhile
      image.src = answer.image;
      image.alt = t("forget.image_alt");
      image.hidden = false;
      return;
    } catch (err) {
      if (err.status !== 404 || link !== shown) return;
      await sleep(RETRY_MS);
    }
  }
}

let link = null;

function showLink() {
  link = readLink();
  $("forget-id").textContent = link?.id ?? "–";
  showDrawing(link);
  button.disabled = !link;
  if (link) setStatus(status, "idle");
  else setStatus(status, "warning", t("forget.no_link"));
}

// Only on a press: a link preview or prefetch that runs the page deletes nothing.
button.addEventListener("click", () => deleteDrawing(link));
// Another link opened in this tab changes only the fragment: the page is not reloaded.
window.addEventListener("hashchange", showLink);
showLink();
