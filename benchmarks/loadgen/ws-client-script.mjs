// Baseline: what a user would write with the `ws` npm client — one process, open COUNT connections
// at RATE/s from SOURCE_IP, hold them HOLD_MS after the last planned arrival, reset them and exit.
// Waits until START_AT (epoch ms) first, so the suite can read its idle footprint. Prints one JSON
// line: {"opened":N,"failed":N}.
import WebSocket from 'ws';

const url = process.env.URL;
const count = Number(process.env.COUNT);
const rate = Number(process.env.RATE);
const holdMs = Number(process.env.HOLD_MS);
const localAddress = process.env.SOURCE_IP || undefined;
const startAt = Number(process.env.START_AT ?? Date.now());
const socks = [];
let opened = 0;
let failed = 0;

function finish() {
  // Reset rather than close: a FIN from here would leave TIME_WAIT on the source address.
  for (const ws of socks) ws._socket?.resetAndDestroy();
  process.stdout.write(`${JSON.stringify({ opened, failed })}\n`, () => process.exit(0));
}

setTimeout(() => {
  const t0 = performance.now();
  let i = 0;
  const tick = () => {
    const due = Math.min(count, Math.floor(((performance.now() - t0) / 1000) * rate) + 1);
    for (; i < due; i++) {
      const ws = new WebSocket(url, { perMessageDeflate: false, localAddress });
      ws.on('open', () => opened++);
      ws.on('error', () => failed++);
      socks.push(ws);
    }
    if (i < count) setTimeout(tick, 5);
    else setTimeout(finish, Math.max(0, (count / rate) * 1000 + holdMs - (performance.now() - t0)));
  };
  tick();
}, Math.max(0, startAt - Date.now()));
