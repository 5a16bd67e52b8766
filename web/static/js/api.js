// Talking to the JSON API (DESIGN.md, "HTTP API"): every error is
// {"error": {"code", "message"}}; codes we know are shown in the page's language.

import { has, t } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status; // 0 for a network failure
    this.code = code;
  }

  // Worth asking again: the network, rate limits and an unavailable dependency pass.
  get retryable() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export class TimeoutError extends Error {}

// Statuses whose meaning does not depend on the code (a body from a proxy or router may
// not even be JSON, and the server may name its 503s by the dependency that is down).
const STATUS_CODES = {
  404: "not_found",
  413: "body_too_large",
  429: "too_many_requests",
  502: "service_unavailable",
  503: "service_unavailable",
  504: "service_unavailable",
};

// A message for the person, from an ApiError or an {code, message} object of a failed job:
// a translation of the code if we have one, then of the status, then the server's words.
export function errorMessage(error) {
  for (const code of [error?.code, STATUS_CODES[error?.status]]) {
    if (code && has(`error.${code}`)) return t(`error.${code}`);
  }
  if (error?.status === 0) return t("error.network");
  if (error?.message) return error.message;
  return t("error.generic", { status: error?.status ?? "?" });
}

// fetch + JSON, throwing ApiError for anything but 2xx. `timeoutMs` bounds one request
// so a stalled connection cannot eat the whole polling budget; `headers` adds to ours
// (admin calls send Authorization); `as: "blob"` answers with the body as a Blob.
export async function request(url, { method = "GET", body, signal, timeoutMs, headers = {}, as = "json" } = {}) {
  const controller = new AbortController();
  const abort = () => controller.abort();
  signal?.addEventListener("abort", abort, { once: true });
  const timer = timeoutMs ? setTimeout(abort, timeoutMs) : null;
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: {
        Accept: as === "json" ? "application/json" : "*/*",
        ...(body ? { "Content-Type": "application/json" } : {}),
        ...headers,
      },
      body: body ? JSON.stringify(body) : undefined,
      credentials: "same-origin",
      signal: controller.signal,
    });
  } catch (err) {
    if (signal?.aborted) throw err; // the caller gave up; not a network problem
    throw new ApiError(0, "network", "");
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", abort);
  }
  if (as === "blob" && response.ok) return response.blob();
  // Errors from a proxy or an unknown route may be HTML, not JSON: keep going without it.
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, data?.error?.code, data?.error?.message);
  }
  return data;
}

export const postJSON = (url, body, options = {}) => request(url, { ...options, method: "POST", body });

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

const finished = (job) => job?.status === "done" || job?.status === "failed";

// Poll a job until it is done or failed. The server holds each GET up to `wait` seconds,
// so there is no fixed interval; network trouble backs off (0.5 s, 1 s, 2 s, 4 s).
// Throws TimeoutError after `timeoutMs`, ApiError for a 4xx such as 404 (expired id).
export async function pollJob(statusUrl, { wait = 2, timeoutMs = 20000, signal, onUpdate, onRetry } = {}) {
  const url = new URL(statusUrl, window.location.href);
  url.searchParams.set("wait", String(wait));
  const deadline = performance.now() + timeoutMs;
  let backoff = 500;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) throw new TimeoutError();
    const started = performance.now();
    try {
      const job = await request(url, { signal, timeoutMs: Math.min(left, (wait + 5) * 1000) });
      backoff = 500;
      onUpdate?.(job);
      if (finished(job)) return job;
      // A server that answers at once instead of waiting must not be hammered.
      const early = 500 - (performance.now() - started);
      if (early > 0) await sleep(early, signal);
    } catch (err) {
      if (signal?.aborted || !(err instanceof ApiError) || !err.retryable) throw err;
      onRetry?.(err);
      await sleep(Math.max(0, Math.min(backoff, deadline - performance.now())), signal);
      backoff = Math.min(backoff * 2, 4000);
    }
  }
}

// Post a job asking the server to hold the answer up to `wait` seconds (RFC 7240
// `Prefer: wait`): a quick job comes back finished in one round trip (200); a slow one
// is a 202 whose status_url we then poll. `onAccepted` hears of the 202 before polling.
export async function submitJob(url, body, { wait = 2, timeoutMs, signal, onAccepted, onUpdate, onRetry } = {}) {
  const answer = await postJSON(url, body, { signal, headers: { Prefer: `wait=${wait}` } });
  if (finished(answer)) return answer;
  onAccepted?.(answer);
  return pollJob(answer.status_url, { wait, timeoutMs, signal, onUpdate, onRetry });
}
