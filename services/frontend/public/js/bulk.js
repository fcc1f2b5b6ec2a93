/* Bulk tab: upload a file as a batch job, follow it, then a per-class chart, a paged table and a CSV download. */

import { ApiError, api, apiJson, clearError, pollJob, setProgress, showError } from "./api.js";
import { onWidthChange } from "./charts.js";
import { $, TERMINAL, el, labelIndex, learnLabels, pct, plural, svg } from "./util.js";

const bulk = { ctrl: null, jobId: null, rows: [], csv: "", labels: [], sortKey: "id", sortDir: 1, filter: "", page: 0, pageSize: 25 };

export function initBulk() {
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
  onWidthChange($(".chart-card"), () => {
    if (bulk.counts) renderChart(bulk.counts);
  });
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
