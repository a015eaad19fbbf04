// Worker: housekeeping. Deletes JSONL logs older than LOG_RETENTION_DAYS and writes a
// profile snapshot to data/profiles/ every minute.
import fs from 'node:fs';
import path from 'node:path';
import { DATA_DIR, every, log } from './common.js';

const keepDays = Number(process.env.LOG_RETENTION_DAYS || '7');
const logs = path.join(DATA_DIR, 'logs');
let lastSnapshot = 0;

every(5000, () => {
  const cutoff = Date.now() - keepDays * 86400 * 1000;
  for (const name of fs.readdirSync(logs)) {
    const file = path.join(logs, name);
    if (name.endsWith('.jsonl') && fs.statSync(file).mtimeMs < cutoff) {
      fs.unlinkSync(file);
      log('info', 'log removed by retention', { file: name, keepDays });
    }
  }
  if (Date.now() - lastSnapshot > 60000) {
    lastSnapshot = Date.now();
    const profile = path.join(DATA_DIR, 'profiles', 'default.json');
    fs.writeFileSync(profile, JSON.stringify({ profile: 'default', updated: new Date().toISOString() }));
  }
});
