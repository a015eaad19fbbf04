// Process locks: at most one running instance per (process name, trade side), in the
// seed systems' format:  <lock dir>/<name>.<side>.lock  holding
//   {"pid": 1234, "started": "<ISO time>", "tradeSide": "SHORT", "processName": "worker"}
// A second instance exits (code 3) naming the holder's pid; a lock whose pid is dead is
// removed at start; the lock is released on SIGINT, SIGTERM and uncaught errors.
//   node server/locks.js check   list holders and whether they are alive
//   node server/locks.js clear   remove every lock file (emergency reset: stops nothing)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const EXIT_LOCKED = 3;

export function lockDir() {
  return process.env.TRADER_LOCK_DIR || path.resolve('runtime/locks');
}

export function pidAlive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

function readLock(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

// Take the lock or exit: O_EXCL creation, so two starters cannot both win; a stale lock
// (dead pid or unreadable) is removed once and creation retried.
export function acquire(processName, tradeSide) {
  const dir = lockDir();
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${processName}.${tradeSide.toLowerCase()}.lock`);
  const body = JSON.stringify({
    pid: process.pid, started: new Date().toISOString(), tradeSide: tradeSide.toUpperCase(), processName,
  });
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      fs.writeFileSync(file, body, { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const holder = readLock(file);
      if (holder && pidAlive(holder.pid) && holder.pid !== process.pid) {
        console.error(`${processName} (${tradeSide}) is already running as pid ${holder.pid}; exiting`);
        process.exit(EXIT_LOCKED);
      }
      console.error(`removing stale lock ${file} (pid ${holder ? holder.pid : '?'} is not running)`);
      fs.rmSync(file, { force: true });
      if (attempt === 1) throw new Error(`could not take ${file}`);
    }
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    const holder = readLock(file);
    if (holder && holder.pid === process.pid) fs.rmSync(file, { force: true });
  };
  process.on('exit', release);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => { release(); process.exit(0); });
  }
  process.on('uncaughtException', (err) => { console.error(err); release(); process.exit(1); });
  return { file, release };
}

export function check() {
  const dir = lockDir();
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.lock')).sort() : [];
  return files.map((name) => {
    const holder = readLock(path.join(dir, name)) || {};
    return { lock: name, pid: holder.pid ?? null, alive: pidAlive(holder.pid), started: holder.started ?? null };
  });
}

export function clear() {
  const removed = check().map((l) => l.lock);
  for (const name of removed) fs.rmSync(path.join(lockDir(), name), { force: true });
  return removed;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const action = process.argv[2];
  if (action === 'check') {
    const locks = check();
    for (const l of locks) console.log(`${l.lock}: pid ${l.pid} ${l.alive ? 'alive' : 'STALE'} since ${l.started}`);
    if (locks.length === 0) console.log('no locks held');
  } else if (action === 'clear') {
    console.log(`removed: ${clear().join(', ') || 'nothing'}`);
  } else {
    console.error('usage: node server/locks.js check|clear');
    process.exit(2);
  }
}
