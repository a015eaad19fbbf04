// The SPA lists the backend's strategies (nginx proxies /api to it).
export const BUILD_LABEL = 'delta spa 1';

document.title = `Delta (${BUILD_LABEL})`;
const list = document.getElementById('strategies');
fetch('/api/strategies')
  .then((res) => res.json())
  .then((items) => {
    list.innerHTML = items.map((s) => `<li>${s.name} (${s.legs} legs)</li>`).join('');
  })
  .catch((err) => { list.textContent = `API unreachable: ${err}`; });
