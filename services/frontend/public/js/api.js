/* The API client: one fetch wrapper (Bearer key, JSON, readable errors), error boxes, job polling.
 * Talks to the gateway through nginx under ./api/ (same origin, so no CORS); the contract is docs/CONTRACTS.md. */

import { $, API, TERMINAL, el, isNum, plural, sleep, state } from "./util.js";

const POLL_MIN_MS = 500;
const POLL_MAX_MS = 2000;
const POLL_MAX_FAILURES = 30;

// Called when an error says the service may be down (the status line re-checks); set by main.js, so this
// module does not depend on the status line.
let troubleHook = () => {};

export function onServiceTrouble(fn) {
  troubleHook = fn;
}

export class ApiError extends Error {
  constructor(status, title, details, hint = "") {
    super(title);
    this.status = status;
    this.title = title;
    this.details = details; // array of readable lines
    this.hint = hint; // what the reader can do about it
  }
}

const STATUS_TITLES = {
  0: "Cannot reach the server",
  400: "The request was not accepted",
  401: "An API key is needed",
  403: "That API key is not allowed to do this",
  404: "Not found",
  409: "Not possible right now",
  413: "Too large",
  415: "Unsupported file type",
  422: "The input was not accepted",
  429: "Too many requests",
  500: "The server hit an error",
  502: "Service unavailable",
  503: "Service unavailable",
  504: "The service took too long to answer",
};

const STATUS_HINTS = {
  401: "Type an API key in Models > Admin, then try again.",
  403: "Check the API key in Models > Admin: it may be wrong or lack admin rights.",
  413: "Send fewer or shorter articles, or split the file.",
  503: "The service is starting or a part of it is down. Try again in a moment.",
};

/** FastAPI details are a string, or for 422 a list of {loc, msg, type}: turn either into readable lines. */
function detailLines(detail) {
  if (detail === null || detail === undefined || detail === "") return [];
  if (typeof detail === "string") return [detail];
  if (Array.isArray(detail)) return detail.flatMap(detailItem);
  if (typeof detail === "object") {
    if (typeof detail.message === "string") return [detail.message];
    if (typeof detail.msg === "string") return detailItem(detail);
    return [JSON.stringify(detail).slice(0, 300)];
  }
  return [String(detail)];
}

function detailItem(item) {
  if (typeof item === "string") return [item];
  if (!item || typeof item !== "object") return [String(item)];
  const where = Array.isArray(item.loc)
    ? item.loc.filter((p) => p !== "body" && p !== "query" && p !== "path").join(" > ")
    : "";
  const msg = typeof item.msg === "string" ? item.msg : JSON.stringify(item).slice(0, 200);
  return [where ? `${where}: ${msg}` : msg];
}

async function errorFromResponse(res) {
  let lines = [];
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text);
    lines = detailLines(body && typeof body === "object" && "detail" in body ? body.detail : body);
  } catch {
    // Not JSON (a proxy's HTML page, say): only keep short plain text.
    const plain = text.trim();
    if (plain && !plain.startsWith("<") && plain.length < 300) lines = [plain];
  }
  let hint = STATUS_HINTS[res.status] || "";
  if (res.status === 429) {
    const after = Number.parseInt(res.headers.get("Retry-After") || "", 10);
    hint = Number.isFinite(after) ? `Try again in ${plural(after, "second", "seconds")}.` : "Wait a little and try again.";
  }
  if (!lines.length) lines = [`The server answered HTTP ${res.status} ${res.statusText || ""}`.trim() + "."];
  const title = STATUS_TITLES[res.status] || `Request failed (HTTP ${res.status})`;
  return new ApiError(res.status, title, lines, hint);
}

function networkError() {
  const offline = navigator.onLine === false;
  return new ApiError(0, STATUS_TITLES[0], [
    offline
      ? "Your device is offline."
      : "The request did not get through: the network or the service is down.",
  ], offline ? "Reconnect and try again." : "Try again in a moment.");
}

export async function api(path, { method = "GET", json, body, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  if (state.key) headers.Authorization = `Bearer ${state.key}`;
  let res;
  try {
    res = await fetch(`${API}${path}`, { method, headers, body, signal, cache: "no-store" });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw networkError();
  }
  if (!res.ok) throw await errorFromResponse(res);
  return res;
}

export async function apiJson(path, options) {
  const res = await api(path, options);
  try {
    return await res.json();
  } catch {
    throw new ApiError(res.status, "Unexpected answer from the server", ["The response was not valid JSON."]);
  }
}

export function asApiError(err) {
  if (err instanceof ApiError) return err;
  return new ApiError(-1, "Something went wrong on this page", [String(err && err.message ? err.message : err)]);
}

export function showError(box, err) {
  const e = asApiError(err);
  const lines = e.details && e.details.length ? e.details : [];
  const body = lines.length > 1 ? el("ul", {}, ...lines.map((l) => el("li", { text: l }))) : el("p", { text: lines[0] || "" });
  const parts = [el("strong", { text: e.status > 0 ? `${e.title} (HTTP ${e.status})` : e.title }), body];
  if (e.hint) parts.push(el("p", { class: "error-hint", text: e.hint }));
  box.replaceChildren(...parts);
  box.dataset.status = String(e.status);
  box.hidden = false;
  if (e.status === 0 || e.status >= 502) troubleHook();
}

export function clearError(box) {
  box.hidden = true;
  box.replaceChildren();
  delete box.dataset.status;
}

/** Poll a job until it ends, quickly at first and backing off (0.5 s to 2 s) while nothing changes. */
export async function pollJob(id, onUpdate, { signal, onTrouble } = {}) {
  let delay = POLL_MIN_MS;
  let last = "";
  let failures = 0;
  for (;;) {
    await sleep(delay, signal);
    let job;
    try {
      job = await apiJson(`/v1/jobs/${encodeURIComponent(id)}`, { signal });
      failures = 0;
    } catch (err) {
      if (err.name === "AbortError") throw err;
      const transient = err instanceof ApiError && (err.status === 0 || err.status === 429 || err.status >= 502);
      failures += 1;
      if (!transient || failures >= POLL_MAX_FAILURES) throw err;
      onTrouble?.(err);
      delay = POLL_MAX_MS;
      continue;
    }
    onUpdate(job);
    if (TERMINAL.has(job.state)) return job;
    const signature = `${job.state}:${job.progress?.fraction}:${job.progress?.message}`;
    delay = signature !== last ? POLL_MIN_MS : Math.min(POLL_MAX_MS, Math.round(delay * 1.5));
    last = signature;
  }
}

/** "about 40 s left", "about 3 min left", "about 2 h left". */
function remaining(seconds) {
  if (seconds < 90) return `about ${Math.max(1, Math.round(seconds))} s left`;
  if (seconds < 5400) return `about ${Math.round(seconds / 60)} min left`;
  return `about ${Math.round(seconds / 3600)} h left`;
}

export function setProgress(bar, label, job) {
  const fraction = isNum(job.progress?.fraction) ? Math.min(1, Math.max(0, job.progress.fraction)) : 0;
  const done = job.state === "succeeded";
  const value = done ? 100 : Math.round(fraction * 100);
  bar.setAttribute("aria-valuenow", String(value));
  bar.setAttribute("aria-valuetext", `${value}%`);
  $(".progress-fill", bar).style.width = `${value}%`;
  bar.classList.toggle("failed", job.state === "failed" || job.state === "cancelled");
  bar.classList.toggle("done", done);
  const words = { queued: "Queued", running: "Running", succeeded: "Done", failed: "Failed", cancelled: "Cancelled" };
  const message = typeof job.progress?.message === "string" && job.progress.message ? `: ${job.progress.message}` : "";
  // progress.eta_s: the worker's estimate of the time left (absent until it has one).
  const eta = job.state === "running" && isNum(job.progress?.eta_s) && job.progress.eta_s >= 0 ? ` · ${remaining(job.progress.eta_s)}` : "";
  label.textContent = `${words[job.state] || job.state || "Waiting"} (${value}%)${message}${eta}`;
}
