// Market data: a made-up price walk written to data/system/market.json once a second
// (the seed's exchange WebSocket consumer; no network here).
import path from 'node:path';
import fs from 'node:fs';
import { DATA_DIR, every, readJson } from './common.js';

const file = path.join(DATA_DIR, 'system', 'market.json');
let price = readJson(file, { price: 100 }).price;

every(1000, () => {
  price = Math.max(1, price * (1 + (Math.random() - 0.5) / 500));
  fs.writeFileSync(file, JSON.stringify({ symbol: 'BTC-PERP', price, at: Date.now() }));
});
