/* The tab bar: ARIA tabs with arrow keys, Home and End, and the selected tab in the URL hash. */

const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
let onShow = {};

export function selectTab(name, { focus = false, updateHash = true } = {}) {
  const tab = tabs.find((t) => t.dataset.tab === name) || tabs[0];
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
    document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
  }
  if (focus) tab.focus();
  if (updateHash && location.hash !== `#${tab.dataset.tab}`) history.replaceState(null, "", `#${tab.dataset.tab}`);
  onShow[tab.dataset.tab]?.();
}

/** Wire the tab bar; `shown[name]` runs each time that tab is selected (a tab loads its data lazily). */
export function initTabs(shown = {}) {
  onShow = shown;
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
