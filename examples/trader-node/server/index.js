// Backend: the UI's API on PORT (127.0.0.1 only), holding backend.<side>.lock, so it is a
// singleton: tradeops restarts it stop-then-start (restart strategy stop_start).
//   GET /api/trading/settings  {ok, pending_cancel_age_min, side, sha}: the health check
//   GET /api/...               other API paths (nginx proxies /api/ without Basic Auth)
//   GET /                      what /__proxy/ reaches
import fs from 'node:fs';
import http from 'node:http';
import { acquire } from './locks.js';

const side = (process.env.TRADE_SIDE || 'SHORT').toUpperCase();
const port = Number(process.env.PORT || 3081);
// The release's sha: from tradeops' environment, else the REVISION file it writes.
const sha = process.env.TRADEOPS_SHA || (fs.existsSync('REVISION') ? fs.readFileSync('REVISION', 'utf8').trim() : '');
// Health fails while this is set (the tests' bad release flips it).
const healthy = process.env.TRADER_FAIL_HEALTH !== '1';

acquire('backend', side);

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/api/trading/settings') {
    send(res, healthy ? 200 : 503, { ok: healthy, pending_cancel_age_min: 0, side, sha });
  } else if (url.pathname === '/api/health') {
    send(res, healthy ? 200 : 503, { ok: healthy, sha, pid: process.pid });
  } else if (url.pathname.startsWith('/api/')) {
    send(res, 200, { ok: true, path: url.pathname, side });
  } else if (url.pathname === '/') {
    send(res, 200, { proxy: true, side });
  } else {
    send(res, 404, { ok: false, error: 'not found' });
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`backend ${side} listening on 127.0.0.1:${port} (sha ${sha.slice(0, 12) || '-'})`);
});
