/**
 * The small interface every phase talks to. Only src/ssh/connection.ts implements it with ssh2;
 * unit tests implement it with fakes.
 */
export interface ExecResult {
  command: string;
  /** null when the channel closed without an exit status: always treated as failure. */
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface ExecOptions {
  /** Run through `sudo -n` when the login user is not root (default true). */
  sudo?: boolean;
  /** Fails the command (and kills the channel) after this long. */
  timeoutMs?: number;
  /** Written to the command's stdin, then stdin is closed. */
  stdin?: string | Buffer;
  /** Resolve even when the exit code is non-zero (default: reject with a CplbError). */
  allowFailure?: boolean;
}

export interface UploadOptions {
  mode: number;
  owner?: string;
  group?: string;
  /**
   * The content gzip-compressed, to send instead (the host runs `gzip -dc`). For large files such as
   * the agent build; the caller compresses once for all hosts. The sha256 check is on `content`.
   */
  gzipped?: Buffer;
}

export interface UploadResult {
  path: string;
  /** false when the remote sha256 already matched and nothing was written. */
  changed: boolean;
  sha256: string;
}

export interface Remote {
  /** `address:port`, the name every message about this host uses. */
  readonly name: string;
  readonly user: string;
  readonly isRoot: boolean;
  exec(command: string, opts?: ExecOptions): Promise<ExecResult>;
  /** Reads a remote file; null when it does not exist. */
  readFile(path: string, opts?: { sudo?: boolean }): Promise<Buffer | null>;
  /** Atomic: temp file beside the target, mode and owner set, then rename. Skipped when sha256 matches. */
  upload(path: string, content: string | Buffer, opts: UploadOptions): Promise<UploadResult>;
  close(): Promise<void>;
}
