/**
 * The entry of the CLI as one file (dist/sea/cplbctl, a Node single executable): the agent builds
 * apply uploads travel inside it as SEA assets and are unpacked into the cache directory the first
 * time a command needs them (once per build: the directory is named by their hash, computed when the
 * file was built). Only scripts/build-sea.mjs builds this file; `node:sea` exists only there.
 */
import { getAsset } from 'node:sea';
import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { useEmbeddedAgent } from './apply/agent-artifacts.js';

function unpackAgent(): string {
  const id = getAsset('agent-id', 'utf8').trim();
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const dir = join(cache, 'cplbctl', `agent-${id}`);
  const done = join(dir, '.complete');
  if (existsSync(done)) return dir;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Each file appears whole (written beside, then renamed); `.complete` last, so a cut unpack redoes it all.
  const put = (name: string, data: Buffer, mode: number) => {
    const tmp = join(dir, `.${name}.${process.pid}`);
    writeFileSync(tmp, data, { mode });
    chmodSync(tmp, mode);
    renameSync(tmp, join(dir, name));
  };
  const gz = Buffer.from(getAsset('cplb-agent.gz'));
  put('cplb-agent', gunzipSync(gz), 0o755);
  put('cplb-agent.gz', gz, 0o644);
  put('cplb-agent.js', Buffer.from(getAsset('cplb-agent.js')), 0o755);
  writeFileSync(done, `${id}\n`);
  return dir;
}

useEmbeddedAgent(unpackAgent);
void import('./cli.js');
