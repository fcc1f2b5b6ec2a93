/* Small DOM and formatting helpers, and the page state every tab shares (API key, labels, champion). */

export const API = "api";
export const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

export const $ = (sel, root = document) => root.querySelector(sel);
export const state = {
  key: "",
  labels: [], // class names in model output order, learnt from the first response that carries them
  champion: null,
};

/* ---------- small helpers ---------- */

export function el(tag, attrs = {}, ...children) {
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

export function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

export const isNum = (x) => typeof x === "number" && Number.isFinite(x);
export const pct = (x, digits = 1) => (isNum(x) ? `${(x * 100).toFixed(digits)}%` : "n/a");
export const fixed = (x, digits = 3) => (isNum(x) ? x.toFixed(digits) : "n/a");
export const plural = (n, one, many) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

export function labelIndex(name) {
  if (!state.labels.includes(name) && typeof name === "string" && name) state.labels.push(name);
  return state.labels.indexOf(name) % 4;
}

export function learnLabels(names) {
  if (Array.isArray(names) && names.length && names.every((n) => typeof n === "string")) {
    state.labels = names.slice();
  }
}

export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(t);
      reject(new DOMException("aborted", "AbortError"));
    }, { once: true });
  });
}
