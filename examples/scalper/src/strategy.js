// Strategy: turns the latest price into a signal in data/system/signal.json.
import path from 'node:path';
import fs from 'node:fs';
import { DATA_DIR, every, readJson } from './common.js';

const market = path.join(DATA_DIR, 'system', 'market.json');
const signal = path.join(DATA_DIR, 'system', 'signal.json');
let last = null;

every(1000, () => {
  const m = readJson(market);
  if (!m) return;
  const side = last === null || m.price === last ? 'flat' : m.price > last ? 'long' : 'short';
  last = m.price;
  fs.writeFileSync(signal, JSON.stringify({ side, price: m.price, at: Date.now() }));
});
