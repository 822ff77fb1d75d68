import { readCurrentFiles } from '../src/apply/current-files.js';
import type { ApplyState } from '../src/apply/state.js';
import { remoteOf } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { CplbError } from '../src/errors.js';
import { forEachHost, type Phase } from '../src/pipeline/index.js';
import { plan } from '../src/plan/plan.js';
import { KEEPALIVED_CONF } from '../src/render/paths.js';
import type { Remote } from '../src/ssh/remote.js';
import { VERSION } from '../src/version.js';

/**
 * The pure plan; then, per host in one round trip, what is there now; and keepalived's own check of
 * each rendered keepalived.conf that differs from the host's (its keepalived, its interfaces).
 */
export const planPhase: Phase<ApplyState, Host> = {
  title: 'Plan the changes',
  readOnly: true,
  async run(ctx) {
    const { cluster, facts } = ctx.state;
    const p = plan(
      cluster,
      cluster.controllers.map((h) => facts.get(h.name)!),
      {
        renderedBy: VERSION,
        agentSha256: ctx.state.agentSha256,
      },
    );
    ctx.state.plan = p;
    for (const w of p.warnings) (w.host ? ctx.logFor(w.host) : ctx.log).warn(`${w.message}; ${w.hint}`);
    await forEachHost(ctx, cluster.controllers, async (host, hctx) => {
      const hp = p.hosts.find((h) => h.host === host.name)!;
      const remote = remoteOf(ctx.state, host);
      const current = await readCurrentFiles(remote, hp);
      ctx.state.current.set(host.name, current);
      const conf = hp.files.find((f) => f.path === KEEPALIVED_CONF)?.content ?? '';
      if (current.get(KEEPALIVED_CONF) === conf) return;
      if (!facts.get(host.name)?.keepalived.present) {
        hctx.log.info('keepalived is not installed yet: its config check runs once it is');
        return;
      }
      await keepalivedConfigTest(remote, conf, host.name);
      hctx.log.debug('keepalived --config-test passed');
    });
  },
};

/** keepalived skips /dev/stdin as "not a regular file" (and a skipped file passes): use a temp file. */
export async function keepalivedConfigTest(remote: Remote, conf: string, host: string): Promise<void> {
  const script = [
    't=$(mktemp /tmp/cplb-keepalived.XXXXXX) || exit 1',
    `trap 'rm -f "$t"' EXIT`,
    'cat > "$t"',
    'keepalived --config-test -f "$t" 2>&1',
  ].join('\n');
  const res = await remote.exec(script, { stdin: conf, allowFailure: true, timeoutMs: 20_000 });
  if (res.exitCode !== 0)
    throw new CplbError(
      `keepalived --config-test rejected the rendered keepalived.conf:\n${res.stdout}${res.stderr}`.trimEnd(),
      {
        code: 'KEEPALIVED_CONFIG_TEST',
        fault: 'config',
        host,
        hint: 'nothing was changed on the hosts; the lines above name what keepalived refuses',
      },
    );
}
