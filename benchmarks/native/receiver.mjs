#!/usr/bin/env node
/**
 * Does ws's optional native add-on pay off here? `bufferutil` (masking/unmasking) against ws's
 * own JavaScript, on the path the gateway runs for every frame a client sends: ws's Receiver
 * parsing masked client frames (unmask, and UTF-8 validation for text frames).
 *
 * Standalone, not part of `npm run bench` (it measures a library choice, not the product):
 *   npm install --no-save bufferutil utf-8-validate
 *   node benchmarks/native/receiver.mjs                        # this Node
 *   FG_BENCH_NODES=/path/to/node22,/path/to/node24 node benchmarks/native/receiver.mjs
 *
 * Each arm runs in its own child process: one with the add-on as ws finds it, one with
 * WS_NO_BUFFER_UTIL=1 (ws's own switch, read when ws is first loaded), alternating, FG_BENCH_RUNS
 * times (default 3); the median ns per frame is printed as a markdown table with the ratio.
 * utf-8-validate is never loaded by ws on Node >= 18.14 (it uses buffer.isUtf8), so there is no
 * arm for it; the child reports what ws actually picked.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';

const SIZES = [16, 64, 125, 1024, 16 * 1024, 64 * 1024];
/** MiB of frames parsed per size and arm (FG_BENCH_MIB, default 64): a stable time, bounded for a shared box. */
const BYTES_PER_SIZE = Number(process.env.FG_BENCH_MIB ?? 64) * 1024 * 1024;
const MAX_FRAMES = 400_000;

if (process.argv[2] === '--child') child();
else parent();

function child() {
  const require = createRequire(import.meta.url);
  const wsLib = join(dirname(require.resolve('ws')), 'lib');
  const Receiver = require(join(wsLib, 'receiver.js'));
  const bufferUtil = require(join(wsLib, 'buffer-util.js'));
  const validation = require(join(wsLib, 'validation.js'));
  const picked = {
    unmask: String(bufferUtil.unmask).includes('websocketUnmask') ? 'node:http' : String(bufferUtil.unmask).includes('bufferUtil') ? 'bufferutil' : 'js',
    utf8: String(validation.isValidUTF8).includes('isUtf8(') ? 'buffer.isUtf8' : 'utf-8-validate',
  };
  const rows = [];
  for (const opcode of [2, 1]) {
    for (const size of SIZES) {
      const frames = Math.min(MAX_FRAMES, Math.floor(BYTES_PER_SIZE / size));
      const perChunk = Math.max(1, Math.floor(16 * 1024 / (size + 14)));
      const template = Buffer.concat(Array.from({ length: perChunk }, () => maskedFrame(opcode, size)));
      const work = Buffer.allocUnsafe(template.length);
      const chunks = Math.ceil(frames / perChunk);
      let received = 0;
      const receiver = new Receiver({ isServer: true, maxPayload: 0 });
      receiver.on('message', () => { received++; });
      receiver.on('error', (e) => { throw e; });
      // the Receiver unmasks in place, so each chunk is a fresh copy; the copy's own cost is timed apart
      for (let i = 0; i < Math.max(50, chunks >> 2); i++) { template.copy(work); receiver.write(work); } // warm-up
      received = 0;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < chunks; i++) { template.copy(work); receiver.write(work); }
      const t1 = process.hrtime.bigint();
      for (let i = 0; i < chunks; i++) template.copy(work);
      const t2 = process.hrtime.bigint();
      if (received !== chunks * perChunk) throw new Error(`parsed ${received} of ${chunks * perChunk} frames`);
      const ns = Number((t1 - t0) - (t2 - t1)) / received;
      rows.push({ kind: opcode === 1 ? 'text' : 'binary', size, ns });
    }
  }
  process.stdout.write(JSON.stringify({ picked, rows }));
}

/** A masked client frame (RFC 6455 §5.3) carrying `size` bytes of ASCII JSON-like text. */
function maskedFrame(opcode, size) {
  const payload = Buffer.alloc(size, 'abcdefghij"{}:,0123456789');
  const head = size < 126 ? 2 : size < 65536 ? 4 : 10;
  const out = Buffer.alloc(head + 4 + size);
  out[0] = 0x80 | opcode;
  if (size < 126) out[1] = 0x80 | size;
  else if (size < 65536) { out[1] = 0x80 | 126; out.writeUInt16BE(size, 2); }
  else { out[1] = 0x80 | 127; out.writeBigUInt64BE(BigInt(size), 2); }
  const mask = [0x37, 0xfa, 0x21, 0x3d];
  for (let i = 0; i < 4; i++) out[head + i] = mask[i];
  for (let i = 0; i < size; i++) out[head + 4 + i] = payload[i] ^ mask[i & 3];
  return out;
}

function parent() {
  const nodes = process.env.FG_BENCH_NODES?.split(',') ?? [process.execPath];
  const runs = Number(process.env.FG_BENCH_RUNS ?? 3);
  const script = new URL(import.meta.url).pathname;
  const load = () => loadavg().map((l) => l.toFixed(2)).join(', ');
  const out = [];
  out.push(`Load average (1, 5, 15 min) at the start: ${load()}`, '');
  for (const node of nodes) {
    const arms = { native: [], js: [] };
    let version = '';
    const picked = {};
    for (let r = 0; r < runs; r++) {
      for (const arm of r % 2 === 0 ? ['native', 'js'] : ['js', 'native']) {
        const env = { ...process.env };
        if (arm === 'js') env.WS_NO_BUFFER_UTIL = '1';
        else delete env.WS_NO_BUFFER_UTIL;
        const res = spawnSync(node, [script, '--child'], { env, encoding: 'utf8', timeout: 120_000 });
        if (res.status !== 0) throw new Error(`${node} --child (${arm}) failed: ${res.stderr || res.error}`);
        const parsed = JSON.parse(res.stdout);
        arms[arm].push(parsed.rows);
        picked[arm] = parsed.picked;
        version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
      }
    }
    out.push(`### Node ${version}: ws picked unmask = ${picked.native.unmask} / ${picked.js.unmask} (with / without the add-on), UTF-8 validation = ${picked.native.utf8}`, '');
    out.push('| frame | payload bytes | ns per frame, add-on | ns per frame, ws JS | add-on / JS |', '|---|---:|---:|---:|---:|');
    for (let i = 0; i < arms.native[0].length; i++) {
      const med = (list) => { const v = list.map((rows) => rows[i].ns).sort((a, b) => a - b); return v[Math.floor(v.length / 2)]; };
      const n = med(arms.native);
      const j = med(arms.js);
      const row = arms.native[0][i];
      out.push(`| ${row.kind} | ${row.size.toLocaleString('en-US')} | ${n.toFixed(0)} | ${j.toFixed(0)} | ${(n / j).toFixed(2)} |`);
    }
    out.push('');
  }
  out.push(`Load average at the end: ${load()}; ${runs} runs per arm, alternating, medians.`);
  console.log(out.join('\n'));
}
