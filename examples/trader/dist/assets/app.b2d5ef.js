// tradeops sample UI: polls the API health endpoint and shows the running release.
(() => {
  "use strict";

  const POLL_MS = 5000;
  const field = (name) => document.querySelector(`[data-field="${name}"]`);

  function render(ok, body) {
    document.body.dataset.state = ok ? "ok" : "down";
    field("status").textContent = ok ? "healthy" : "unhealthy";
    field("sha").textContent = body.sha || "?";
    field("mode").textContent = body.mode || "?";
    field("side").textContent = body.side || "?";
    field("error").textContent = ok ? "" : body.error || "";
    field("checked").textContent = new Date().toLocaleTimeString();
  }

  async function poll() {
    try {
      const response = await fetch("/api/health", {
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      const body = await response.json();
      render(response.ok && body.ok === true, body);
    } catch (error) {
      render(false, { error: String(error) });
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();
