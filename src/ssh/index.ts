/**
 * The SSH layer's public surface: outside src/ssh, code imports from here or from remote.ts (the
 * Remote interface) and nothing else of the folder (a lint rule, eslint.config.js).
 */
export { connect, defaultKnownHostsFiles, type ConnectOptions } from './connection.js';
export type { SshTarget } from './target.js';
export { dialHostOf, loadSshConfig, resolveAlias } from './target.js';
export type { ExecOptions, ExecResult, Remote, UploadOptions, UploadResult } from './remote.js';
export { commandError, stderrTail } from './ssh-remote.js';
export { metadataMatches, withSudo } from './commands.js';
export { sha256Fingerprint } from './fingerprint.js';
export { MAX_CHANNELS, MAX_OUTPUT_BYTES } from './transport.js';
export { PASSPHRASE_ENV } from './auth.js';
