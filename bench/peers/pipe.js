// Node streams for bench_pipe: Readable -> Writable pipe of TOTAL bytes in CHUNK-byte chunks.
// The Readable pushes one preallocated Buffer until TOTAL, then null; the Writable
// calls back at once. The clock runs from pipe() to 'finish'.
// usage: node pipe.js TOTAL CHUNK  ->  {"mb_per_s": ..., "bytes": ..., "seconds": ...}
'use strict';
const { Readable, Writable } = require('stream');

const total = Number(process.argv[2]);
const chunkSize = Number(process.argv[3]);
const chunk = Buffer.alloc(chunkSize, 120);

let pushed = 0;
const src = new Readable({
  read() {
    if (pushed >= total) {
      this.push(null);
      return;
    }
    pushed += chunk.length;
    this.push(chunk);
  },
});
let written = 0;
const dst = new Writable({
  write(data, encoding, callback) {
    written += data.length;
    callback();
  },
});

const t0 = process.hrtime.bigint();
dst.on('finish', () => {
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (written !== total) {
    process.stderr.write(`wrote ${written} bytes, expected ${total}\n`);
    process.exit(1);
  }
  process.stdout.write(JSON.stringify({ mb_per_s: total / 1e6 / secs, bytes: total, seconds: secs }) + '\n');
});
src.pipe(dst);
