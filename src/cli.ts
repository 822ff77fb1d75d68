#!/usr/bin/env node
import { main } from './program.js';

// `cplbctl status | head` closes stdout early: that is the reader's choice, not a crash.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });

main(process.argv).then((code) => {
  process.exitCode = code;
});
