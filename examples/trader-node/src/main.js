// The UI polls the API (proxied without Basic Auth, so polling never prompts).
import './style.css';

export const RELEASE_LABEL = 'release A';

async function poll() {
  const out = document.getElementById('settings');
  try {
    const res = await fetch('/api/trading/settings');
    out.textContent = JSON.stringify(await res.json(), null, 2);
  } catch (err) {
    out.textContent = `API unreachable: ${err}`;
  }
}

document.getElementById('title').textContent = `Trader (${RELEASE_LABEL})`;
poll();
setInterval(poll, 5000);
