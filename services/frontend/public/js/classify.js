/* Classify tab: one article, classified as typing pauses (debounced) and on the button or Ctrl+Enter. */

import { ApiError, apiJson, asApiError, clearError, showError } from "./api.js";
import { $, el, isNum, labelIndex, learnLabels, pct } from "./util.js";

const DEBOUNCE_MS = 450;
const AUTO_MIN_CHARS = 12;

const classify = { seq: 0, ctrl: null, timer: null };

export function initClassify() {
  initFeedback();
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
  offerFeedback(p);
}

/* ---------- "wrong category?": feedback on the shown prediction ---------- */

const feedback = { id: null, predicted: null };

/** Feedback buttons for a prediction the log kept (it has a prediction_id); hidden otherwise. */
function offerFeedback(p) {
  const box = $("#c-feedback");
  feedback.id = typeof p.prediction_id === "string" && p.prediction_id ? p.prediction_id : null;
  feedback.predicted = p.label;
  box.hidden = !feedback.id;
  $("#c-feedback-msg").hidden = true;
  $("#c-wrong").open = false;
  $("#c-right").disabled = false;
  $("#c-choices").replaceChildren(...Object.keys(p.scores).filter((name) => name !== p.label).map((name) =>
    el("button", { type: "button", class: "btn small", "data-label": name, text: name })));
}

async function sendFeedback(label) {
  const msg = $("#c-feedback-msg");
  const id = feedback.id;
  if (!id) return;
  msg.hidden = false;
  msg.textContent = "Sending…";
  try {
    const data = await apiJson("/v1/feedback", { method: "POST", json: { prediction_id: id, label } });
    if (id !== feedback.id) return;
    msg.textContent = data.correct
      ? "Thanks: recorded as right."
      : `Thanks: recorded as ${data.label} (the model said ${data.predicted}).`;
    msg.dataset.state = "sent";
    $("#c-wrong").open = false;
  } catch (err) {
    if (id !== feedback.id) return;
    const e = asApiError(err);
    msg.textContent = `Feedback not recorded: ${(e.details && e.details[0]) || e.title}`;
    msg.dataset.state = "failed";
  }
}

function initFeedback() {
  $("#c-right").addEventListener("click", () => sendFeedback(feedback.predicted));
  $("#c-choices").addEventListener("click", (ev) => {
    const button = ev.target.closest("button[data-label]");
    if (button) sendFeedback(button.dataset.label);
  });
}
