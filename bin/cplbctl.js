#!/usr/bin/env node
// The built CLI lives in dist/ (made by `npm ci` through the prepare script).
import('../dist/cli.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli.js')) {
    console.error('cplbctl: dist/cli.js is missing; run `npm run build` (npm ci does it for you)');
    process.exit(2);
  }
  throw err;
});
