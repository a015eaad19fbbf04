// What every service shares: where data/ is, a JSONL logger into data/logs/, and a
// heartbeat file per service in data/system/ that the dashboard reads.
import fs from 'node:fs';
import path from 'node:path';

export const SERVICE = process.env.SERVICE_NAME || path.basename(process.argv[1], '.js');
export const MODE = process.env.EXECUTION_MODE || 'DRY_RUN';
export const DATA_DIR = process.env.SCALPER_DATA_DIR || path.resolve('data');
export const MODES = ['LIVE', 'DRY_RUN', 'SIM'];

for (const sub of ['logs', 'system', 'profiles']) {
  fs.mkdirSync(path.join(DATA_DIR, sub), { recursive: true });
}

function logFile(day) {
  return path.join(DATA_DIR, 'logs', `${SERVICE}-${day}.jsonl`);
}

export function log(level, msg, fields = {}) {
  const now = new Date();
  const line = JSON.stringify({ ts: now.toISOString(), level, service: SERVICE, msg, ...fields });
  fs.appendFileSync(logFile(now.toISOString().slice(0, 10)), `${line}\n`);
  // The journal gets the same line (tradeops' logs.yml reads it).
  console.log(line);
}

export function heartbeat(extra = {}) {
  const body = JSON.stringify({ service: SERVICE, pid: process.pid, mode: MODE, at: Date.now(), ...extra });
  const file = path.join(DATA_DIR, 'system', `heartbeat-${SERVICE}.json`);
  fs.writeFileSync(`${file}.tmp`, body);
  fs.renameSync(`${file}.tmp`, file);
}

export function readJson(file, fallback = null) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return fallback;
  }
}

// Run `tick` every `ms`, heartbeat each time, stop cleanly on SIGTERM/SIGINT.
export function every(ms, tick) {
  if (!MODES.includes(MODE)) {
    log('error', `EXECUTION_MODE must be one of ${MODES.join(', ')}`, { mode: MODE });
    process.exit(2);
  }
  log('info', 'started', { pid: process.pid, mode: MODE });
  const run = () => {
    try {
      tick();
      heartbeat();
    } catch (err) {
      log('error', 'tick failed', { error: String(err) });
    }
  };
  run();
  const timer = setInterval(run, ms);
  for (const sig of ['SIGTERM', 'SIGINT']) {
    process.on(sig, () => {
      clearInterval(timer);
      log('info', 'stopping', { signal: sig });
      process.exit(0);
    });
  }
}
