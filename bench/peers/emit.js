// Node's EventEmitter.emit for bench_emit: the same loop as bench/workers/emit_py.py.
// usage: node emit.js LISTENERS SECONDS  ->  {"ops_per_s": ..., "emits": ..., "seconds": ...}
'use strict';
const { EventEmitter } = require('events');

const listeners = Number(process.argv[2]);
const seconds = Number(process.argv[3]);
const BATCH = 10000;

const ee = new EventEmitter();
for (let i = 0; i < listeners; i++) ee.on('data', (chunk) => {});
const payload = Buffer.alloc(16);

function batch() {
  for (let i = 0; i < BATCH; i++) ee.emit('data', payload);
}

// Warm-up: let the JIT settle before the clock starts, as the Python side warms its caches.
const warmUntil = process.hrtime.bigint() + BigInt(Math.round(seconds * 0.2e9));
while (process.hrtime.bigint() < warmUntil) batch();

const t0 = process.hrtime.bigint();
const limit = BigInt(Math.round(seconds * 1e9));
let n = 0;
let elapsed = 0n;
do {
  batch();
  n += BATCH;
  elapsed = process.hrtime.bigint() - t0;
} while (elapsed < limit);
const secs = Number(elapsed) / 1e9;
process.stdout.write(JSON.stringify({ ops_per_s: n / secs, emits: n, seconds: secs }) + '\n');
