/* The service status line in the header: GET /v1/status (the public readiness; /readyz is internal), and the champion once the Models tab knows it. */

import { api, asApiError } from "./api.js";
import { $, state } from "./util.js";

const statusBox = $("#service-status");

export async function refreshStatus() {
  const text = $(".status-text", statusBox);
  try {
    await api("/v1/status");
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
