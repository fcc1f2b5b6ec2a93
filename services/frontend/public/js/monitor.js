/* Monitor tab: live accuracy from readers' feedback, label mix against training, drift, the shadow challenger.
 * Everything comes from GET /v1/monitoring; the tab refreshes itself while it is open. */

import { api, apiJson, asApiError, clearError, showError } from "./api.js";
import { lineChart, onWidthChange, pairedBars } from "./charts.js";
import { $, el, fixed, isNum, labelIndex, learnLabels, pct, plural, state } from "./util.js";

const REFRESH_MS = 15000;
const DRIFT_ALERT = 0.2; // AgnewsDataDrift's threshold (helm/agnews/files/prometheus/agnews-rules.yaml)

export const monitor = { data: null, timer: null, loading: null };

export function initMonitor() {
  $("#mon-refresh").addEventListener("click", () => loadMonitor());
  $("#mon-promote").addEventListener("click", promoteShadow);
  onWidthChange($("#panel-monitor"), () => {
    if (monitor.data) renderCharts(monitor.data);
  });
}

/** Load now, then again every 15 s while the tab stays open. */
export async function loadMonitor() {
  clearTimeout(monitor.timer);
  if (!monitor.loading) {
    monitor.loading = (async () => {
      try {
        const data = await apiJson("/v1/monitoring");
        clearError($("#monitor-error"));
        monitor.data = data;
        render(data);
      } catch (err) {
        showError($("#monitor-error"), err);
      } finally {
        monitor.loading = null;
      }
    })();
  }
  await monitor.loading;
  monitor.timer = setTimeout(() => {
    if (!$("#panel-monitor").hidden && !document.hidden) loadMonitor();
  }, REFRESH_MS);
}

function render(data) {
  learnLabels(Object.keys(data.label_mix_live || {}));
  const live = (data.live_accuracy || []).find((r) => r.model_version === data.champion);
  const drift = data.drift ? data.drift.label_mix : null;
  const lengthDrift = data.drift ? data.drift.input_length : null;
  const unknownDrift = data.drift ? data.drift.unknown_words : null;
  const metric = (name, value, id) => el("div", { class: "metric" }, el("dt", { text: name }), el("dd", { id, text: value }));
  $("#mon-now").replaceChildren(
    metric("Champion", data.champion || "none", "mon-champion"),
    metric("Live accuracy", live && isNum(live.accuracy) ? pct(live.accuracy) : "no feedback yet", "mon-live-accuracy"),
    metric("Feedback in window", live ? live.n.toLocaleString() : "0", "mon-feedback"),
    metric("Label-mix drift", isNum(drift) ? fixed(drift, 3) : "n/a", "mon-drift-now"),
    metric("Length drift", isNum(lengthDrift) ? fixed(lengthDrift, 3) : "n/a", "mon-length-drift"),
    metric("Vocabulary drift", isNum(unknownDrift) ? fixed(unknownDrift, 3) : "n/a", "mon-unknown-drift"));
  $("#mon-versions tbody").replaceChildren(...(data.live_accuracy || []).map((r) => el("tr", { "data-version": r.model_version },
    el("td", {}, el("code", { text: r.model_version }),
      r.model_version === data.champion ? " (champion)" : data.shadow && r.model_version === data.shadow.version ? " (shadow)" : ""),
    el("td", { text: r.n.toLocaleString() }),
    el("td", { text: r.correct.toLocaleString() }),
    el("td", { text: isNum(r.accuracy) ? pct(r.accuracy) : "n/a" }))));
  renderShadow(data);
  renderCharts(data);
  $("#mon-updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

function renderCharts(data) {
  const names = state.labels.length ? state.labels : Object.keys(data.label_mix_live || {});
  pairedBars($("#mon-mix"), names, data.label_mix_live, data.label_mix_training || {}, labelIndex);
  $("#mon-mix-desc").textContent = data.label_mix_training
    ? "Share of each predicted category in the last hour (solid) against the training data (faint)."
    : "Share of each predicted category in the last hour; the champion has no data card to compare with.";
  const history = Array.isArray(data.history) ? data.history : [];
  const accuracy = history.filter((h) => isNum(h.accuracy)).map((h) => ({
    t: new Date(h.t), v: h.accuracy, label: `${new Date(h.t).toLocaleTimeString()}: ${pct(h.accuracy)} of ${plural(h.feedback, "feedback", "feedback")}`,
  }));
  lineChart($("#mon-accuracy"), accuracy, { yMax: 1, format: (v) => pct(v, 0), empty: "No feedback yet." });
  $("#mon-accuracy-desc").textContent = accuracy.length ? `Live accuracy in ${plural(accuracy.length, "bucket", "buckets")}.` : "No feedback yet.";
  const drift = history.filter((h) => isNum(h.drift_label_mix)).map((h) => ({
    t: new Date(h.t), v: h.drift_label_mix, label: `${new Date(h.t).toLocaleTimeString()}: ${fixed(h.drift_label_mix, 3)} bits`,
  }));
  lineChart($("#mon-drift"), drift, { yMax: Math.max(0.5, ...drift.map((p) => p.v)), format: (v) => fixed(v, 2), threshold: DRIFT_ALERT, empty: "No traffic yet." });
  $("#mon-drift-desc").textContent = drift.length ? `Drift in ${plural(drift.length, "bucket", "buckets")}; the alert fires above ${DRIFT_ALERT}.` : "No traffic yet.";
}

function renderShadow(data) {
  const s = data.shadow;
  const text = $("#mon-shadow-text");
  const button = $("#mon-promote");
  if (!s) {
    text.textContent = "No version is in shadow. Put one in shadow from the Models tab.";
    button.hidden = true;
    return;
  }
  const mine = (data.live_accuracy || []).find((r) => r.model_version === s.version);
  const champ = (data.live_accuracy || []).find((r) => r.model_version === data.champion);
  text.replaceChildren(el("code", { id: "mon-shadow-version", text: s.version }),
    ` scores ${pct(s.share, 0)} of logged traffic: ${plural(s.scored, "prediction", "predictions")} so far, `,
    el("strong", { id: "mon-agreement", text: isNum(s.agreement) ? pct(s.agreement) : "n/a" }),
    " agree with the champion. Live accuracy: shadow ",
    el("strong", { text: mine && isNum(mine.accuracy) ? pct(mine.accuracy) : "n/a" }),
    ", champion ", el("strong", { text: champ && isNum(champ.accuracy) ? pct(champ.accuracy) : "n/a" }), ".");
  button.hidden = false;
  button.dataset.version = s.version;
}

async function promoteShadow() {
  const button = $("#mon-promote");
  const version = button.dataset.version;
  const errorBox = $("#mon-shadow-error");
  clearError(errorBox);
  button.disabled = true;
  try {
    const data = await apiJson(`/v1/models/${encodeURIComponent(version)}/promote`, { method: "POST" });
    // The new champion needs no shadow of itself; a failure here only leaves an idle shadow file.
    await api(`/v1/models/${encodeURIComponent(version)}/shadow`, { method: "DELETE" }).catch(() => null);
    $("#mon-shadow-text").textContent = `Promoted: the champion is now ${data.champion || version}.`;
    button.hidden = true;
    await loadMonitor();
    $("#mon-shadow-text").textContent = `Promoted: the champion is now ${data.champion || version}.`;
  } catch (err) {
    const e = asApiError(err);
    showError(errorBox, e.status === 401 ? Object.assign(e, { hint: "Type the admin key in Models > Admin first." }) : e);
  } finally {
    button.disabled = false;
  }
}
