// Baseline: the `ws` npm client driven by a minimal script, one process per share, same pacing and source IPs.
import WebSocket from 'ws';
const socks = [];
process.on('message', ({ stop, url, count, ratePerSec, sourceIps, index, workers }) => {
  if (stop) {
    // Reset rather than close: a FIN from here would leave TIME_WAIT on these source addresses.
    for (const ws of socks) ws._socket?.resetAndDestroy();
    setTimeout(() => process.exit(0), 200);
    return;
  }
  let opened = 0;
  let failed = 0;
  let i = 0;
  const t0 = performance.now();
  const tick = () => {
    const due = Math.min(count, Math.floor(((performance.now() - t0) / 1000) * ratePerSec) + 1);
    for (; i < due; i++) {
      const g = index + i * workers;
      const ws = new WebSocket(url, { perMessageDeflate: false, localAddress: sourceIps[g % sourceIps.length] });
      ws.on('open', () => {
        if (++opened + failed === count) process.send({ opened, failed });
      });
      ws.on('error', () => {
        if (opened + ++failed === count) process.send({ opened, failed });
      });
      socks.push(ws);
    }
    if (i < count) setTimeout(tick, 5);
  };
  tick();
});
process.send({ ready: true });
process.on('disconnect', () => process.exit(0));
