/* Models tab: the registry's versions with their test scores, and the admin actions (train, promote, roll back). */

import { ApiError, api, apiJson, asApiError, clearError, pollJob, setProgress, showError } from "./api.js";
import { refreshStatus } from "./status.js";
import { $, API, TERMINAL, el, fixed, isNum, pct, plural, state, when } from "./util.js";

export const models = { loaded: false, loading: null, jobs: new Map(), shadow: null };
const SHADOW_SHARE = 0.25;

export function initModels() {
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
    const button = ev.target.closest("button[data-promote], button[data-shadow], button[data-unshadow]");
    if (!button) return;
    if (button.dataset.promote) promote(button.dataset.promote, button);
    else if (button.dataset.shadow) setShadow(button.dataset.shadow, button, true);
    else setShadow(button.dataset.unshadow, button, false);
  });
}

export async function loadModels() {
  if (models.loading) return models.loading;
  const list = $("#models-list");
  const errorBox = $("#models-error");
  list.setAttribute("aria-busy", "true");
  models.loading = (async () => {
    try {
      const [data, shadow] = await Promise.all([apiJson("/v1/models"), apiJson("/v1/models/shadow").catch(() => null)]);
      models.shadow = shadow && typeof shadow.version === "string" ? shadow.version : null;
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
    actions.append(m.version === models.shadow
      ? el("button", { type: "button", class: "btn small", "data-unshadow": m.version, text: "Stop shadow" })
      : el("button", { type: "button", class: "btn small", "data-shadow": m.version, text: `Shadow ${SHADOW_SHARE * 100}% of traffic` }));
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

/** Run one admin action from a card's button: errors in the admin box, the list reloaded after success. */
async function adminAction(button, action) {
  const errorBox = $("#admin-error");
  clearError(errorBox);
  button.disabled = true;
  try {
    adminNotice(await action());
    await loadModels();
  } catch (err) {
    showError(errorBox, err);
    errorBox.scrollIntoView({ block: "nearest" });
  } finally {
    button.disabled = false;
  }
}

function promote(version, button) {
  return adminAction(button, async () => {
    const data = await apiJson(`/v1/models/${encodeURIComponent(version)}/promote`, { method: "POST" });
    return `Promoted: the champion is now ${data.champion || version}.`;
  });
}

/** Put a version in shadow (it scores a share of live traffic beside the champion), or stop that. */
function setShadow(version, button, on) {
  return adminAction(button, async () => {
    const path = `/v1/models/${encodeURIComponent(version)}/shadow`;
    if (on) await apiJson(path, { method: "POST", json: { share: SHADOW_SHARE } });
    else await api(path, { method: "DELETE" });
    return on ? `${version} is in shadow: see the Monitor tab.` : `${version} is no longer in shadow.`;
  });
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
  if ($("#t-feedback").checked) payload.with_feedback = true;
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
