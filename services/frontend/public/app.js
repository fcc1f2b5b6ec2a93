/* agnews newsroom page: plain JavaScript, no framework, no build step.
 * Talks to the gateway through nginx under ./api/ (same origin, so no CORS); the REST contract is
 * docs/CONTRACTS.md. Class names come from API responses, never from a list here. */
"use strict";

(() => {
  const API = "api";
  const POLL_MIN_MS = 500;
  const POLL_MAX_MS = 2000;
  const POLL_MAX_FAILURES = 30;
  const DEBOUNCE_MS = 450;
  const AUTO_MIN_CHARS = 12;
  const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

  const $ = (sel, root = document) => root.querySelector(sel);
  const state = {
    key: "",
    labels: [], // class names in model output order, learnt from the first response that carries them
    champion: null,
  };

  /* ---------- small helpers ---------- */

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function svg(tag, attrs = {}) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
    return node;
  }

  const isNum = (x) => typeof x === "number" && Number.isFinite(x);
  const pct = (x, digits = 1) => (isNum(x) ? `${(x * 100).toFixed(digits)}%` : "n/a");
  const fixed = (x, digits = 3) => (isNum(x) ? x.toFixed(digits) : "n/a");
  const plural = (n, one, many) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
  }

  function labelIndex(name) {
    if (!state.labels.includes(name) && typeof name === "string" && name) state.labels.push(name);
    return state.labels.indexOf(name) % 4;
  }

  function learnLabels(names) {
    if (Array.isArray(names) && names.length && names.every((n) => typeof n === "string")) {
      state.labels = names.slice();
    }
  }

  function sleep(ms, signal) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => {
        clearTimeout(t);
        reject(new DOMException("aborted", "AbortError"));
      }, { once: true });
    });
  }

  /* ---------- API and errors ---------- */

  class ApiError extends Error {
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

  async function api(path, { method = "GET", json, body, signal } = {}) {
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

  async function apiJson(path, options) {
    const res = await api(path, options);
    try {
      return await res.json();
    } catch {
      throw new ApiError(res.status, "Unexpected answer from the server", ["The response was not valid JSON."]);
    }
  }

  function asApiError(err) {
    if (err instanceof ApiError) return err;
    return new ApiError(-1, "Something went wrong on this page", [String(err && err.message ? err.message : err)]);
  }

  function showError(box, err) {
    const e = asApiError(err);
    const lines = e.details && e.details.length ? e.details : [];
    const body = lines.length > 1 ? el("ul", {}, ...lines.map((l) => el("li", { text: l }))) : el("p", { text: lines[0] || "" });
    const parts = [el("strong", { text: e.status > 0 ? `${e.title} (HTTP ${e.status})` : e.title }), body];
    if (e.hint) parts.push(el("p", { class: "error-hint", text: e.hint }));
    box.replaceChildren(...parts);
    box.dataset.status = String(e.status);
    box.hidden = false;
    if (e.status === 0 || e.status >= 502) refreshStatus();
  }

  function clearError(box) {
    box.hidden = true;
    box.replaceChildren();
    delete box.dataset.status;
  }

  /** Poll a job until it ends, quickly at first and backing off (0.5 s to 2 s) while nothing changes. */
  async function pollJob(id, onUpdate, { signal, onTrouble } = {}) {
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

  function setProgress(bar, label, job) {
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
    label.textContent = `${words[job.state] || job.state || "Waiting"} (${value}%)${message}`;
  }

  /* ---------- service status ---------- */

  const statusBox = $("#service-status");

  async function refreshStatus() {
    const text = $(".status-text", statusBox);
    try {
      await api("/v1/status");  // the public readiness (/readyz is internal)
      statusBox.dataset.state = "ready";
      text.textContent = state.champion ? `Ready · champion ${state.champion}` : "Ready";
      text.title = text.textContent;
    } catch (err) {
      const e = asApiError(err);
      statusBox.dataset.state = "down";
      const why = ((e.details && e.details[0]) || e.title).replace(/^not ready:\s*/i, "");
      text.textContent = e.status === 0 ? "Service unreachable" : `Not ready: ${why}`;
      text.title = text.textContent;
    }
  }

  /* ---------- tabs ---------- */

  const tabs = Array.from(document.querySelectorAll('[role="tab"]'));

  function selectTab(name, { focus = false, updateHash = true } = {}) {
    const tab = tabs.find((t) => t.dataset.tab === name) || tabs[0];
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    }
    if (focus) tab.focus();
    if (updateHash && location.hash !== `#${tab.dataset.tab}`) history.replaceState(null, "", `#${tab.dataset.tab}`);
    if (tab.dataset.tab === "models" && !models.loaded) loadModels();
  }

  function initTabs() {
    for (const t of tabs) {
      t.addEventListener("click", () => selectTab(t.dataset.tab));
      t.addEventListener("keydown", (ev) => {
        const i = tabs.indexOf(t);
        const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
        if (next === undefined) return;
        ev.preventDefault();
        selectTab(tabs[(next + tabs.length) % tabs.length].dataset.tab, { focus: true });
      });
    }
    window.addEventListener("hashchange", () => selectTab(location.hash.slice(1), { updateHash: false }));
    selectTab(location.hash.slice(1) || "classify", { updateHash: false });
  }

  /* ---------- Classify ---------- */

  const classify = { seq: 0, ctrl: null, timer: null };

  function initClassify() {
    const form = $("#classify-form");
    const title = $("#c-title");
    const text = $("#c-text");
    const schedule = () => {
      clearTimeout(classify.timer);
      const length = (title.value + text.value).trim().length;
      if (length >= AUTO_MIN_CHARS) classify.timer = setTimeout(() => runClassify(false), DEBOUNCE_MS);
    };
    title.addEventListener("input", schedule);
    text.addEventListener("input", schedule);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      clearTimeout(classify.timer);
      runClassify(true);
    });
    form.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        form.requestSubmit();
      }
    });
    $("#c-clear").addEventListener("click", () => {
      clearTimeout(classify.timer);
      classify.ctrl?.abort();
      title.value = "";
      text.value = "";
      clearError($("#classify-error"));
      $("#classify-result").hidden = true;
      $("#classify-empty").hidden = false;
      text.focus();
    });
  }

  async function runClassify(explicit) {
    const errorBox = $("#classify-error");
    const title = $("#c-title").value.trim();
    const text = $("#c-text").value.trim();
    if (!title && !text) {
      if (explicit) showError(errorBox, new ApiError(-1, "Nothing to classify", ["Type or paste an article first."]));
      return;
    }
    classify.ctrl?.abort();
    const ctrl = new AbortController();
    classify.ctrl = ctrl;
    const seq = ++classify.seq;
    const button = $("#c-submit");
    const result = $("#classify-result");
    result.setAttribute("aria-busy", "true");
    button.textContent = "Classifying…";
    const payload = title ? { articles: [{ title, description: text }] } : { texts: [text] };
    const started = performance.now();
    try {
      const data = await apiJson("/v1/classify", { method: "POST", json: payload, signal: ctrl.signal });
      if (seq !== classify.seq) return;
      renderPrediction(data, performance.now() - started);
      clearError(errorBox);
    } catch (err) {
      if (err.name === "AbortError" || seq !== classify.seq) return;
      showError(errorBox, err);
      // A result for other text under an error would mislead: show only the error.
      $("#classify-result").hidden = true;
      $("#classify-empty").hidden = true;
    } finally {
      // On a phone the result sits below the form: bring it into view after a button press.
      if (explicit && seq === classify.seq) $(".result-card").scrollIntoView({ block: "nearest" });
      if (seq === classify.seq) {
        result.removeAttribute("aria-busy");
        button.textContent = "Classify";
      }
    }
  }

  function renderPrediction(data, ms) {
    const p = data && Array.isArray(data.predictions) ? data.predictions[0] : null;
    if (!p || typeof p.label !== "string" || !p.scores || typeof p.scores !== "object") {
      throw new ApiError(-1, "Unexpected answer from the server", ["The response carried no prediction."]);
    }
    learnLabels(Object.keys(p.scores));
    const idx = labelIndex(p.label);
    const label = $("#c-label");
    label.textContent = p.label;
    label.className = `verdict-label text-${idx}`;
    $("#c-confidence").textContent = isNum(p.scores[p.label]) ? `(${pct(p.scores[p.label])} likely)` : "";
    const bars = Object.entries(p.scores).map(([name, score], i) => {
      const fill = el("span", { class: `bar-fill fill-${i % 4}` });
      fill.style.width = isNum(score) ? `${Math.max(0, Math.min(1, score)) * 100}%` : "0";
      return el("li", { class: name === p.label ? "bar top" : "bar", "data-label": name },
        el("span", { class: "bar-name", text: name }),
        el("span", { class: "bar-track", "aria-hidden": "true" }, fill),
        el("span", { class: "bar-value", text: pct(score) }));
    });
    $("#c-bars").replaceChildren(...bars);
    $("#c-version").textContent = data.model_version || "unknown";
    $("#c-latency").textContent = isNum(ms) ? `· answered in ${Math.round(ms)} ms` : "";
    $("#classify-empty").hidden = true;
    $("#classify-result").hidden = false;
  }

  /* ---------- Bulk ---------- */

  const bulk = { ctrl: null, jobId: null, rows: [], csv: "", labels: [], sortKey: "id", sortDir: 1, filter: "", page: 0, pageSize: 25 };

  function initBulk() {
    const form = $("#bulk-form");
    const input = $("#b-file");
    const drop = $("#b-drop");
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      startBulk(input.files && input.files[0]);
    });
    for (const name of ["dragenter", "dragover"]) {
      drop.addEventListener(name, (ev) => {
        ev.preventDefault();
        drop.classList.add("dragging");
      });
    }
    for (const name of ["dragleave", "drop"]) drop.addEventListener(name, () => drop.classList.remove("dragging"));
    drop.addEventListener("drop", (ev) => {
      ev.preventDefault();
      if (ev.dataTransfer?.files?.length) {
        input.files = ev.dataTransfer.files;
        startBulk(input.files[0]);
      }
    });
    $("#b-cancel").addEventListener("click", cancelBulk);
    $("#b-filter").addEventListener("change", (ev) => {
      bulk.filter = ev.target.value;
      bulk.page = 0;
      renderTable();
    });
    $("#b-page-size").addEventListener("change", (ev) => {
      bulk.pageSize = Number.parseInt(ev.target.value, 10) || 50;
      bulk.page = 0;
      renderTable();
    });
    $("#b-prev").addEventListener("click", () => { bulk.page -= 1; renderTable(); });
    $("#b-next").addEventListener("click", () => { bulk.page += 1; renderTable(); });
    for (const button of document.querySelectorAll("#b-table th button")) {
      button.addEventListener("click", () => {
        const key = button.dataset.sort;
        bulk.sortDir = bulk.sortKey === key ? -bulk.sortDir : key === "confidence" ? -1 : 1;
        bulk.sortKey = key;
        renderTable();
      });
    }
    $("#b-download").addEventListener("click", downloadCsv);
    let lastWidth = 0;
    new ResizeObserver((entries) => {
      const w = Math.round(entries[0].contentRect.width);
      if (bulk.counts && Math.abs(w - lastWidth) > 8) renderChart(bulk.counts);
      lastWidth = w;
    }).observe($(".chart-card"));
  }

  async function startBulk(file) {
    const errorBox = $("#bulk-error");
    clearError(errorBox);
    if (!file) {
      showError(errorBox, new ApiError(-1, "No file chosen", ["Choose a CSV, JSONL or TXT file first."]));
      $("#b-file").focus();
      return;
    }
    bulk.ctrl?.abort();
    const ctrl = new AbortController();
    bulk.ctrl = ctrl;
    $("#bulk-results").hidden = true;
    const submit = $("#b-submit");
    submit.disabled = true;
    submit.textContent = "Uploading…";
    const box = $("#bulk-job");
    const bar = $("#b-progress");
    const label = $("#b-progress-label");
    try {
      const form = new FormData();
      form.append("file", file, file.name);
      const job = await apiJson("/v1/batch-jobs", { method: "POST", body: form, signal: ctrl.signal });
      bulk.jobId = job.id;
      $("#b-job-id").textContent = job.id;
      $("#b-cancel").hidden = false;
      box.hidden = false;
      setProgress(bar, label, job);
      submit.textContent = "Upload and classify";
      submit.disabled = false;
      const final = TERMINAL.has(job.state) ? job : await pollJob(job.id, (j) => setProgress(bar, label, j), {
        signal: ctrl.signal,
        onTrouble: (e) => { label.textContent = `${e.title}; still trying…`; },
      });
      setProgress(bar, label, final);
      $("#b-cancel").hidden = true;
      if (final.state === "failed") {
        throw new ApiError(-1, "The batch job failed", [final.error || "The worker gave no reason."]);
      }
      if (final.state === "cancelled") {
        throw new ApiError(-1, "The batch job was cancelled", ["Upload the file again to restart it."]);
      }
      await loadBulkResult(final, ctrl.signal);
    } catch (err) {
      if (err.name === "AbortError") return;
      showError(errorBox, err);
    } finally {
      if (bulk.ctrl === ctrl) {
        submit.textContent = "Upload and classify";
        submit.disabled = false;
      }
    }
  }

  async function cancelBulk() {
    if (!bulk.jobId) return;
    try {
      await api(`/v1/jobs/${encodeURIComponent(bulk.jobId)}`, { method: "DELETE" });
      $("#b-progress-label").textContent = "Cancelling…";
    } catch (err) {
      showError($("#bulk-error"), err);
    }
  }

  async function loadBulkResult(job, signal) {
    const url = job.result && typeof job.result.result_url === "string" ? job.result.result_url : `/v1/jobs/${encodeURIComponent(job.id)}/result`;
    const res = await api(url.replace(/^\/api(?=\/)/, ""), { signal });
    bulk.csv = await res.text();
    const table = parseCsv(bulk.csv);
    const header = table.shift() || [];
    const col = (name) => header.indexOf(name);
    const scoreCols = header.map((h, i) => [h, i]).filter(([h]) => h.startsWith("p_"));
    learnLabels(scoreCols.map(([h]) => h.slice(2)));
    bulk.labels = scoreCols.map(([h]) => h.slice(2));
    const iId = col("id"), iText = col("text"), iLabel = col("label");
    bulk.rows = table
      .filter((r) => r.length > 1 || (r.length === 1 && r[0] !== ""))
      .map((r, n) => {
        const label = r[iLabel] ?? "";
        const scores = Object.fromEntries(scoreCols.map(([h, i]) => [h.slice(2), Number.parseFloat(r[i])]));
        return { id: iId >= 0 && r[iId] !== "" ? r[iId] : String(n + 1), order: n, text: r[iText] ?? "", label, confidence: scores[label] };
      });
    const counts = job.result && job.result.counts && typeof job.result.counts === "object" ? { ...job.result.counts } : {};
    if (!Object.keys(counts).length) for (const r of bulk.rows) counts[r.label] = (counts[r.label] || 0) + 1;
    for (const name of bulk.labels) counts[name] = counts[name] || 0;
    bulk.counts = counts;
    bulk.sortKey = "id";
    bulk.sortDir = 1;
    bulk.filter = "";
    bulk.page = 0;

    const version = job.result?.model_version ? ` with model ${job.result.model_version}` : "";
    $("#b-summary").textContent = `${plural(bulk.rows.length, "article", "articles")} classified${version}.`;
    $("#bulk-results").dataset.rows = String(bulk.rows.length);
    const filter = $("#b-filter");
    filter.replaceChildren(el("option", { value: "", text: "All categories" }),
      ...Object.keys(counts).map((name) => el("option", { value: name, text: `${name} (${counts[name]})` })));
    renderChart(counts);
    renderTable();
    $("#bulk-results").hidden = false;
  }

  function renderChart(counts) {
    const chart = $("#b-chart");
    const entries = Object.entries(counts);
    const max = Math.max(1, ...entries.map(([, n]) => n));
    // Drawn at the container's pixel width (redrawn on resize) so text keeps its size on a phone.
    const width = Math.max(240, Math.round(chart.parentElement.clientWidth - 34) || 400);
    const rowH = 34, labelW = 86, countW = 52;
    const barW = width - labelW - countW;
    chart.setAttribute("viewBox", `0 0 ${width} ${entries.length * rowH}`);
    chart.setAttribute("width", String(width));
    chart.setAttribute("height", String(entries.length * rowH));
    const nodes = [];
    entries.forEach(([name, n], i) => {
      const y = i * rowH;
      const idx = labelIndex(name);
      const g = svg("g", { "data-label": name, "data-count": n });
      const t = svg("title");
      t.textContent = `${name}: ${n}`;
      const text = svg("text", { x: 0, y: y + 21 });
      text.textContent = name;
      const count = svg("text", { x: width, y: y + 21, "text-anchor": "end" });
      count.textContent = String(n);
      g.append(t, text,
        svg("rect", { class: "chart-track", x: labelW, y: y + 8, width: barW, height: 18, rx: 4 }),
        svg("rect", { class: `fill-${idx}`, x: labelW, y: y + 8, width: Math.max(n ? 2 : 0, (n / max) * barW), height: 18, rx: 4 }),
        count);
      nodes.push(g);
    });
    chart.replaceChildren(...nodes);
    $("#b-chart-desc").textContent = `Articles per category: ${entries.map(([name, n]) => `${name} ${n}`).join(", ")}.`;
  }

  function renderTable() {
    const rows = bulk.filter ? bulk.rows.filter((r) => r.label === bulk.filter) : bulk.rows.slice();
    const { sortKey, sortDir } = bulk;
    rows.sort((a, b) => {
      const x = a[sortKey], y = b[sortKey];
      const c = typeof x === "number" && typeof y === "number"
        ? (x - y || 0)
        : String(x).localeCompare(String(y), undefined, { numeric: true, sensitivity: "base" });
      return c * sortDir || a.order - b.order;
    });
    const pages = Math.max(1, Math.ceil(rows.length / bulk.pageSize));
    bulk.page = Math.min(Math.max(0, bulk.page), pages - 1);
    const start = bulk.page * bulk.pageSize;
    const slice = rows.slice(start, start + bulk.pageSize);
    $("#b-table tbody").replaceChildren(...slice.map((r) => el("tr", { "data-label": r.label },
      el("td", { class: "num", text: String(r.id) }),
      el("td", {}, el("span", { class: "article", title: r.text, text: r.text })),
      el("td", {}, el("span", { class: `label-chip text-${labelIndex(r.label)}`, text: r.label })),
      el("td", { class: "num", text: pct(r.confidence) }))));
    for (const th of document.querySelectorAll("#b-table th")) {
      const key = $("button", th).dataset.sort;
      th.setAttribute("aria-sort", key === sortKey ? (sortDir > 0 ? "ascending" : "descending") : "none");
    }
    const shown = rows.length ? `Rows ${start + 1}–${start + slice.length} of ${rows.length}` : "No rows";
    $("#b-count").textContent = bulk.filter ? `${shown} (${bulk.filter})` : shown;
    $("#b-page").textContent = `Page ${bulk.page + 1} of ${pages}`;
    $("#b-prev").disabled = bulk.page === 0;
    $("#b-next").disabled = bulk.page >= pages - 1;
  }

  function downloadCsv() {
    const blob = new Blob([bulk.csv], { type: "text/csv;charset=utf-8" });
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: `agnews-batch-${bulk.jobId || "results"}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  /** RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF, an optional BOM. */
  function parseCsv(text) {
    const rows = [];
    let row = [], field = "", i = 0, quoted = false;
    if (text.charCodeAt(0) === 0xfeff) i = 1;
    for (; i < text.length; i++) {
      const ch = text[i];
      if (quoted) {
        if (ch === '"') {
          if (text[i + 1] === '"') { field += '"'; i++; } else quoted = false;
        } else field += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === ",") { row.push(field); field = ""; }
      else if (ch === "\n" || ch === "\r") {
        if (ch === "\r" && text[i + 1] === "\n") i++;
        row.push(field); rows.push(row); row = []; field = "";
      } else field += ch;
    }
    if (field !== "" || row.length) { row.push(field); rows.push(row); }
    return rows;
  }

  /* ---------- Models and admin ---------- */

  const models = { loaded: false, loading: null, jobs: new Map() };

  function initModels() {
    const key = $("#m-key");
    key.addEventListener("input", () => { state.key = key.value.trim(); });
    $("#key-form").addEventListener("submit", (ev) => ev.preventDefault());
    $("#m-refresh").addEventListener("click", () => loadModels());
    $("#train-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      startTraining();
    });
    $("#m-rollback").addEventListener("click", rollback);
    $("#models-list").addEventListener("click", (ev) => {
      const button = ev.target.closest("button[data-promote]");
      if (button) promote(button.dataset.promote, button);
    });
  }

  async function loadModels() {
    if (models.loading) return models.loading;
    const list = $("#models-list");
    const errorBox = $("#models-error");
    list.setAttribute("aria-busy", "true");
    models.loading = (async () => {
      try {
        const data = await apiJson("/v1/models");
        clearError(errorBox);
        models.loaded = true;
        renderModels(data);
      } catch (err) {
        showError(errorBox, err);
      } finally {
        list.setAttribute("aria-busy", "false");
        models.loading = null;
      }
    })();
    loadTrainingJobs();
    return models.loading;
  }

  function renderModels(data) {
    const all = Array.isArray(data && data.models) ? data.models.slice() : [];
    state.champion = typeof data.champion === "string" ? data.champion : null;
    all.sort((a, b) => String(b.version).localeCompare(String(a.version)));
    const line = $("#m-champion-line");
    line.replaceChildren(state.champion
      ? el("span", {}, "Champion: ", el("code", { id: "m-champion", text: state.champion }), ` · ${plural(all.length, "version", "versions")} in the registry.`)
      : el("span", { text: all.length ? "No champion yet: promote a version." : "No models yet: start a training run below (needs an API key)." }));
    $("#models-list").replaceChildren(...all.map(modelCard));
    refreshStatus();
  }

  function modelCard(m) {
    const champion = m.version === state.champion || m.is_champion === true;
    const metrics = m.metrics && typeof m.metrics === "object" ? m.metrics : {};
    const head = el("div", { class: "model-head" },
      el("h2", {}, el("code", { text: m.version })),
      champion ? el("span", { class: "badge champion", text: "Champion" }) : null);
    const facts = el("p", { class: "muted" }, [m.kind, m.preset && m.preset !== m.kind ? `preset ${m.preset}` : null, when(m.created_at)]
      .filter(Boolean).join(" · "));
    const dl = el("dl", { class: "metrics" },
      el("div", { class: "metric" }, el("dt", { text: "Accuracy" }), el("dd", { text: pct(metrics.accuracy) })),
      el("div", { class: "metric" }, el("dt", { text: "Macro-F1" }), el("dd", { text: pct(metrics.macro_f1) })));
    const details = el("details", {}, el("summary", { text: "Per-class scores and confusion matrix" }),
      el("div", { class: "table-wrap" }, perClassTable(metrics.per_class)));
    const img = el("img", {
      class: "cm-img",
      src: `${API}/v1/models/${encodeURIComponent(m.version)}/confusion-matrix.png`,
      alt: `Confusion matrix of ${m.version} on the test split`,
      loading: "lazy",
      width: 480,
      height: 400,
    });
    img.addEventListener("error", () => img.replaceWith(el("div", { class: "table-wrap" }, confusionTable(metrics.confusion_matrix, metrics.per_class))));
    details.append(img);
    const actions = el("div", { class: "actions" });
    if (!champion) {
      actions.append(el("button", { type: "button", class: "btn small", "data-promote": m.version, text: "Promote to champion" }));
    }
    return el("article", { class: champion ? "card model-card champion" : "card model-card", "data-version": m.version },
      head, facts, dl, details, actions);
  }

  function perClassTable(perClass) {
    if (!perClass || typeof perClass !== "object" || !Object.keys(perClass).length) {
      return el("p", { class: "muted", text: "No per-class scores recorded." });
    }
    return el("table", { class: "per-class" },
      el("caption", { class: "sr-only", text: "Per-class precision, recall, F1 and support" }),
      el("thead", {}, el("tr", {}, ...["Class", "Precision", "Recall", "F1", "Support"].map((h) => el("th", { scope: "col", class: h === "Support" ? "col-support" : null, text: h })))),
      el("tbody", {}, ...Object.entries(perClass).map(([name, s]) => el("tr", {},
        el("th", { scope: "row", text: name }),
        el("td", { text: fixed(s?.precision, 2) }),
        el("td", { text: fixed(s?.recall, 2) }),
        el("td", { text: fixed(s?.f1, 2) }),
        el("td", { class: "col-support", text: isNum(s?.support) ? s.support.toLocaleString() : "n/a" })))));
  }

  function confusionTable(matrix, perClass) {
    if (!Array.isArray(matrix) || !matrix.length) return el("p", { class: "muted", text: "No confusion matrix recorded." });
    const names = perClass && typeof perClass === "object" ? Object.keys(perClass) : state.labels;
    const name = (i) => names[i] || `class ${i}`;
    return el("table", { class: "per-class" },
      el("caption", { class: "muted", text: "Confusion matrix (rows: true class, columns: predicted)" }),
      el("thead", {}, el("tr", {}, el("td"), ...matrix.map((_, j) => el("th", { scope: "col", text: name(j) })))),
      el("tbody", {}, ...matrix.map((row, i) => el("tr", {}, el("th", { scope: "row", text: name(i) }),
        ...(Array.isArray(row) ? row : []).map((v) => el("td", { text: isNum(v) ? v.toLocaleString() : "n/a" }))))));
  }

  function adminNotice(text) {
    const box = $("#admin-msg");
    box.textContent = text;
    box.hidden = false;
  }

  async function promote(version, button) {
    const errorBox = $("#admin-error");
    clearError(errorBox);
    button.disabled = true;
    try {
      const data = await apiJson(`/v1/models/${encodeURIComponent(version)}/promote`, { method: "POST" });
      adminNotice(`Promoted: the champion is now ${data.champion || version}.`);
      await loadModels();
    } catch (err) {
      showError(errorBox, err);
      errorBox.scrollIntoView({ block: "nearest" });
    } finally {
      button.disabled = false;
    }
  }

  async function rollback() {
    const errorBox = $("#admin-error");
    const button = $("#m-rollback");
    clearError(errorBox);
    button.disabled = true;
    try {
      const data = await apiJson("/v1/models/rollback", { method: "POST" });
      adminNotice(`Rolled back: the champion is now ${data.champion || "the previous version"}.`);
      await loadModels();
    } catch (err) {
      showError(errorBox, err);
    } finally {
      button.disabled = false;
    }
  }

  async function startTraining() {
    const errorBox = $("#admin-error");
    clearError(errorBox);
    const budget = Number.parseInt($("#t-budget").value, 10);
    const samples = Number.parseInt($("#t-samples").value, 10);
    if (!Number.isFinite(budget) || budget < 1) {
      showError(errorBox, new ApiError(-1, "Check the time budget", ["Give a whole number of minutes, 1 or more."]));
      $("#t-budget").focus();
      return;
    }
    const payload = { preset: $("#t-preset").value, time_budget_min: budget };
    if (Number.isFinite(samples) && samples > 0) payload.max_train_samples = samples;
    const button = $("#t-submit");
    button.disabled = true;
    try {
      const job = await apiJson("/v1/training-jobs", { method: "POST", json: payload });
      adminNotice(`Training run ${job.id} started.`);
      trackTrainingJob(job);
    } catch (err) {
      showError(errorBox, err);
    } finally {
      button.disabled = false;
    }
  }

  async function loadTrainingJobs() {
    try {
      const data = await apiJson("/v1/jobs?type=training&limit=20");
      const jobs = (Array.isArray(data && data.jobs) ? data.jobs : []).filter((j) => j && j.type === "training");
      jobs.sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
      for (const job of jobs.slice(0, 5).reverse()) if (!models.jobs.has(job.id)) trackTrainingJob(job);
    } catch {
      // The list is a convenience; a failure here already shows on the models list itself.
    }
  }

  function trackTrainingJob(job) {
    const bar = el("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 },
      el("div", { class: "progress-fill" }));
    const label = el("p", { class: "progress-label" });
    const stateText = el("span", { class: "job-state" });
    const outcome = el("p", { class: "muted", hidden: true });
    const item = el("li", { class: "job", "data-job": job.id },
      el("div", { class: "job-head" }, el("span", {}, "Run ", el("code", { text: job.id }), ` · ${job.params?.preset || "preset ?"}`), stateText),
      bar, label, outcome);
    const labelId = `job-${job.id}-label`;
    label.id = labelId;
    bar.setAttribute("aria-labelledby", labelId);
    $("#train-jobs").prepend(item);
    $("#train-jobs-empty").hidden = true;
    models.jobs.set(job.id, item);

    const update = (j) => {
      setProgress(bar, label, j);
      stateText.textContent = j.state;
      stateText.className = `job-state ${j.state}`;
      item.dataset.state = j.state;
    };
    update(job);
    const finish = (j) => {
      update(j);
      if (j.state === "succeeded" && j.result && typeof j.result === "object") {
        const r = j.result;
        outcome.textContent = [r.version ? `Registered ${r.version}` : "Finished", isNum(r.accuracy) ? `accuracy ${pct(r.accuracy)}` : null,
          isNum(r.macro_f1) ? `macro-F1 ${pct(r.macro_f1)}` : null, r.promoted === true ? "promoted to champion" : r.promoted === false ? "not promoted" : null]
          .filter(Boolean).join(" · ");
        outcome.hidden = false;
        loadModels();
      } else if (j.state === "failed") {
        outcome.textContent = `Failed: ${j.error || "the worker gave no reason"}`;
        outcome.hidden = false;
      }
    };
    if (TERMINAL.has(job.state)) {
      finish(job);
      return;
    }
    pollJob(job.id, update, { onTrouble: (e) => { label.textContent = `${e.title}; still trying…`; } })
      .then(finish)
      .catch((err) => {
        const e = asApiError(err);
        label.textContent = `Lost track of this run: ${e.title}`;
      });
  }

  /* ---------- start ---------- */

  initClassify();
  initBulk();
  initModels();
  initTabs();
  refreshStatus();
  setInterval(() => { if (!document.hidden) refreshStatus(); }, 30000);
  window.addEventListener("online", refreshStatus);
  window.addEventListener("offline", refreshStatus);
})();
