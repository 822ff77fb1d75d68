/**
 * The agent's status file and the shell that reads it over SSH (run for real under dash and bash):
 * a fresh file of a live agent is served with `cat`; a dead agent's, a stale, malformed or missing one
 * falls back to the agent's own socket client, which here is absent, so the fallback shows as "the
 * agent is not installed".
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseStatusFile, STATUS_FILE_TAG, type AgentStatus } from '../../src/contract/status.js';
import { StatusFile } from '../../src/agent/status.js';
import type { Logger } from '../../src/agent/log.js';
import { AGENT_BIN, AGENT_JS, STATUS_FILE } from '../../src/contract/paths.js';
import { AGENT_STATUS_SH, STATUS_FILE_MAX_AGE_S } from '../../src/verify/host-snapshot.js';
import { sectionBody, sections } from '../../src/contract/script.js';
import { SH_HEAD } from '../../src/verify/sh.js';

const dir = mkdtempSync(join(tmpdir(), 'cplb-status-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const warnings: string[] = [];
const log = { warn: (msg: string) => warnings.push(msg) } as unknown as Logger;
const doc = (pid: number) =>
  ({ agent: { pid }, vips: [{ address: '198.18.0.100', held: true }] }) as AgentStatus;

describe('StatusFile', () => {
  it('writes the tag line and the document atomically, coalesces bursts, and removes it', async () => {
    const path = join(dir, 'status');
    let builds = 0;
    const file = new StatusFile(path, () => doc(++builds), log);
    await Promise.all([file.write(), file.write(), file.write(), file.write()]);
    // One write under way plus one more for everything that came meanwhile.
    expect(builds).toBe(2);
    const text = readFileSync(path, 'utf8');
    expect(text.split('\n')[0]).toBe(`${STATUS_FILE_TAG} ${parseStatusFile(text)!.writtenAt} ${process.pid}`);
    const parsed = parseStatusFile(text)!;
    expect(Math.abs(parsed.writtenAt - Date.now() / 1000)).toBeLessThan(2);
    expect(parsed.status.agent.pid).toBe(2);
    expect(existsSync(`${path}.tmp`)).toBe(false);
    await file.remove();
    expect(existsSync(path)).toBe(false);
    await file.write(); // after remove: nothing comes back
    expect(existsSync(path)).toBe(false);
    expect(warnings).toEqual([]);
  });

  it('says undefined for text that is not a status file', () => {
    expect(parseStatusFile('{"agent":{}}\n')).toBeUndefined();
    expect(parseStatusFile(`${STATUS_FILE_TAG} soon\n{}`)).toBeUndefined();
    expect(parseStatusFile(`${STATUS_FILE_TAG} 12 34\n{not json`)).toBeUndefined();
    expect(parseStatusFile(`${STATUS_FILE_TAG} 12\n{}`)).toBeUndefined();
  });
});

describe.each(['dash', 'bash'])('AGENT_STATUS_SH under %s', (shell) => {
  const path = join(dir, `${shell}-status`);
  // The host paths, pointed into the temp dir: the agent's executables do not exist there.
  const status = AGENT_STATUS_SH.replaceAll(STATUS_FILE, path)
    .replaceAll(AGENT_BIN, join(dir, 'no-agent'))
    .replaceAll(AGENT_JS, join(dir, 'no-agent.js'));
  const run = (prelude = '') => {
    const list = sections(execFileSync(shell, ['-c', SH_HEAD + prelude + status], { encoding: 'utf8' }));
    return { body: sectionBody(list, 'agent'), exit: list.find((s) => s.name === 'agent-exit')?.args[0] };
  };
  // A prelude for run(): the shell that reads the file writes it first, stamped from the same clock
  // the script reads (bash's EPOCHREALTIME, else date). Stamped by this process instead, a shell
  // that starts a second late on a busy machine aged the file across the boundary a case tests.
  const write = (ageSeconds: number, pid = process.pid, body = JSON.stringify(doc(7))) => `
w=\${EPOCHREALTIME:-}; w=\${w%.*}; [ -n "$w" ] || w=$(date +%s)
printf '%s %s %s\\n%s\\n' ${STATUS_FILE_TAG} $((w - (${ageSeconds}))) ${pid} '${body}' >'${path}'
`;

  it('serves a fresh file as it is', () => {
    expect(run(write(0))).toEqual({ body: JSON.stringify(doc(7)), exit: '0' });
    expect(run(write(STATUS_FILE_MAX_AGE_S - 1)).exit).toBe('0');
  });

  it("falls back to the socket for a dead writer's, stale, future, malformed or missing file", () => {
    const fallback = { body: 'the agent is not installed', exit: '1' };
    const dead = execFileSync('sh', ['-c', 'sh -c "echo \\$\\$" & wait'], { encoding: 'utf8' }).trim();
    // A pid that has exited: an agent killed -9 leaves such a file.
    expect(run(write(0, Number(dead)))).toEqual(fallback);
    expect(run(write(STATUS_FILE_MAX_AGE_S + 2))).toEqual(fallback);
    expect(run(write(-(STATUS_FILE_MAX_AGE_S + 2)))).toEqual(fallback);
    writeFileSync(path, `${STATUS_FILE_TAG} 12x ${process.pid}\n{}\n`);
    expect(run()).toEqual(fallback);
    writeFileSync(path, `other 1\n{}\n`);
    expect(run()).toEqual(fallback);
    rmSync(path);
    expect(run()).toEqual(fallback);
  });
});
