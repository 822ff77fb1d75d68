/** Runs the built CLI (`node bin/cplbctl.js`) the way a user does, from the repo root. */
import { execFile, execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { inject } from 'vitest';

export const REPO = resolve(import.meta.dirname, '../..');
/** The HOME the config fixtures are checked with: it holds the placeholder ~/.ssh/id_rsa. */
export const FIXTURE_HOME = join(REPO, 'fixtures/home');

/**
 * Makes sure bin/cplbctl.js runs this tree's code: the projects' globalSetup
 * (test/support/global-build.ts) built dist/ once for the run, before any file started, so files
 * running in parallel never race writing it. Run through another config, build the CLI here
 * (`scripts/build.mjs --cli-only`, about half a second: no agent single executable).
 */
export function buildCli(): void {
  if (inject('distBuild')) return;
  execFileSync(process.execPath, ['scripts/build.mjs', '--cli-only'], { cwd: REPO, stdio: 'pipe' });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  /** Options for node itself, e.g. ['--import', preload]. */
  nodeArgs?: string[];
  /** A command to run node under, e.g. ['unshare', '-n']. */
  wrapper?: string[];
  input?: string;
}

export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const argv = [...(opts.nodeArgs ?? []), join(REPO, 'bin/cplbctl.js'), ...args];
  const [cmd, ...cmdArgs] = opts.wrapper?.length
    ? [...opts.wrapper, process.execPath, ...argv]
    : [process.execPath, ...argv];
  return new Promise((done) => {
    const child = execFile(
      cmd!,
      cmdArgs,
      {
        cwd: REPO,
        env: { ...process.env, HOME: FIXTURE_HOME, NO_COLOR: '1', ...opts.env },
        maxBuffer: 16 << 20,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        done({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}
