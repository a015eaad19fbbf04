// Worker: the part with trading side effects (here: a heartbeat file), holding
// worker.<side>.lock so two copies never run.
import fs from 'node:fs';
import path from 'node:path';
import { acquire, lockDir } from './locks.js';

const side = (process.env.TRADE_SIDE || 'SHORT').toUpperCase();
acquire('worker', side);

const beat = path.join(path.dirname(lockDir()), `worker.${side.toLowerCase()}.heartbeat`);
function tick() {
  fs.writeFileSync(beat, JSON.stringify({ pid: process.pid, time: new Date().toISOString() }));
}
tick();
setInterval(tick, 5000);
console.log(`worker ${side} started (pid ${process.pid})`);
