/**
 * vitest globalSetup of every project: builds dist/ once in the main process, before any test file
 * runs, so parallel files never race writing it. unit and integration run the CLI only
 * (`scripts/build.mjs --cli-only`, about half a second); e2e uploads the agent to lab hosts, so it
 * builds the agent's bundle and single executable and the CLI as one file too (about 25 s).
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import type { TestProject } from 'vitest/node';

const REPO = resolve(import.meta.dirname, '../..');

declare module 'vitest' {
  export interface ProvidedContext {
    /** Which build this run made of dist/ (see buildCli()). */
    distBuild: 'cli-only' | 'full';
  }
}

/** One build per kind per run: the setups of all projects run in this one process (a global,
 * since each project may load this module anew). */
const g = globalThis as { cplbDistBuilt?: Set<string> };
const built = (g.cplbDistBuilt ??= new Set());

export default function setup(project: TestProject): void {
  const kind = project.name === 'e2e' ? 'full' : 'cli-only';
  if (!built.has(kind) && !built.has('full')) {
    execFileSync(process.execPath, ['scripts/build.mjs', ...(kind === 'full' ? [] : ['--cli-only'])], {
      cwd: REPO,
      stdio: 'pipe', // a failure's message carries the build's stderr
    });
    built.add(kind);
  }
  project.provide('distBuild', kind);
}
