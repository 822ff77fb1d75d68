/** The SSH layer's public surface. Everything outside src/ssh imports from here (or remote.ts). */
export { connect, defaultKnownHostsFiles, type ConnectOptions } from './connection.js';
export type { SshTarget } from './target.js';
export type { ExecOptions, ExecResult, Remote, UploadOptions, UploadResult } from './remote.js';
export { commandError, stderrTail } from './ssh-remote.js';
export { shJoin, shq } from '../contract/quote.js';
export { withSudo } from './commands.js';
export { sha256Fingerprint } from './fingerprint.js';
export { MAX_CHANNELS, MAX_OUTPUT_BYTES } from './transport.js';
export { PASSPHRASE_ENV } from './auth.js';
