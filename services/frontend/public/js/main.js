/* agnews newsroom page: plain JavaScript modules, no framework, no build step.
 * One module per tab, a shared API client (api.js) and helpers (util.js). Class names come from API
 * responses, never from a list here. */

import { onServiceTrouble } from "./api.js";
import { initBulk } from "./bulk.js";
import { initClassify } from "./classify.js";
import { initModels, loadModels, models } from "./models.js";
import { initMonitor, loadMonitor } from "./monitor.js";
import { refreshStatus } from "./status.js";
import { initTabs } from "./tabs.js";

onServiceTrouble(refreshStatus);
initClassify();
initBulk();
initModels();
initMonitor();
initTabs({
  monitor: () => loadMonitor(),
  models: () => {
    if (!models.loaded) loadModels();
  },
});
refreshStatus();
setInterval(() => {
  if (!document.hidden) refreshStatus();
}, 30000);
window.addEventListener("online", refreshStatus);
window.addEventListener("offline", refreshStatus);
