// Web dashboard: the services' heartbeats as a page (/) and as JSON (/health/services: 503
// unless every other service beat within HEARTBEAT_MAX_AGE_SEC, default 10 s); /health is
// the dashboard's own.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { DATA_DIR, MODE, heartbeat, log, readJson } from './common.js';

const SERVICES = ['market-data', 'strategy', 'execution', 'worker'];
const maxAge = Number(process.env.HEARTBEAT_MAX_AGE_SEC || '10') * 1000;
const port = Number(process.env.DASHBOARD_PORT || process.env.PORT || '8080');
const host = process.env.DASHBOARD_HOST || '127.0.0.1';

function state() {
  const now = Date.now();
  const services = {};
  for (const name of SERVICES) {
    const hb = readJson(path.join(DATA_DIR, 'system', `heartbeat-${name}.json`));
    services[name] = hb ? { pid: hb.pid, age_sec: Math.round((now - hb.at) / 100) / 10 } : null;
  }
  const ok = Object.values(services).every((s) => s && s.age_sec * 1000 <= maxAge);
  return { ok, mode: MODE, sha: process.env.TRADEOPS_SHA || null, services };
}

function send(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  // The dashboard itself (a deploy's health gate: it starts before the other services do).
  if (url.pathname === '/health') {
    send(res, 200, { ok: true, mode: MODE, sha: process.env.TRADEOPS_SHA || null, port });
    return;
  }
  // Every service's heartbeat fresh (what an operator or a watchdog asks).
  if (url.pathname === '/health/services') {
    const body = state();
    send(res, body.ok ? 200 : 503, body);
    return;
  }
  if (url.pathname === '/') {
    const s = state();
    const rows = Object.entries(s.services)
      .map(([n, v]) => `<tr><td>${n}</td><td>${v ? v.pid : '-'}</td><td>${v ? v.age_sec : '-'}</td></tr>`)
      .join('');
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>scalper</title><h1>scalper ${MODE}</h1>`
      + `<table><tr><th>service</th><th>pid</th><th>heartbeat age (s)</th></tr>${rows}</table>`);
    return;
  }
  send(res, 404, { ok: false, error: 'not found' });
});

server.listen(port, host, () => {
  heartbeat({ port });
  log('info', 'listening', { host, port });
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
fs.mkdirSync(path.join(DATA_DIR, 'system'), { recursive: true });
