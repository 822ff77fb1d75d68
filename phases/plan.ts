import { readCurrentFiles, testKeepalivedConfig, type ConfigTest } from '../src/apply/current-files.js';
import type { ApplyState } from '../src/apply/state.js';
import { remoteOf } from '../src/apply/state.js';
import type { Host } from '../src/config/types.js';
import { CplbError } from '../src/core/errors.js';
import { forEachHost, type Phase } from '../src/pipeline/index.js';
import { plan } from '../src/plan/plan.js';
import { compareVersions } from '../src/plan/validate-facts.js';
import { KEEPALIVED_CONF } from '../src/contract/paths.js';
import type { Remote } from '../src/ssh/remote.js';
import { VERSION } from '../src/contract/version.js';

/**
 * The pure plan; then, per host in one round trip, what is there now and keepalived's own check of
 * the rendered keepalived.conf where it differs from the host's (its keepalived, its interfaces).
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
      const conf = hp.files.find((f) => f.path === KEEPALIVED_CONF)?.content ?? '';
      const { files, meta, configTest } = await readCurrentFiles(remoteOf(ctx.state, host), hp, {
        path: KEEPALIVED_CONF,
        content: conf,
      });
      ctx.state.current.set(host.name, files);
      ctx.state.currentMeta.set(host.name, meta);
      if (configTest?.result === 'no-keepalived')
        hctx.log.info('keepalived is not installed yet: its config check runs once it is');
      else if (configTest?.result === 'failed') throw configTestError(host.name, configTest);
      else if (configTest?.result === 'passed') hctx.log.debug('keepalived --config-test passed');
    });
  },
};

/** Checks the rendered keepalived.conf where the plan could not (keepalived was just installed). */
export async function keepalivedConfigTest(remote: Remote, conf: string, host: string): Promise<void> {
  const test = await testKeepalivedConfig(remote, conf);
  if (test.result === 'failed') throw configTestError(host, test);
}

export function configTestError(host: string, test: Extract<ConfigTest, { result: 'failed' }>): CplbError {
  const version = /^Keepalived v(\S+)/.exec(test.version)?.[1];
  const old = version !== undefined && compareVersions(version, '2.1.0') < 0;
  return new CplbError(
    `keepalived --config-test rejected the rendered keepalived.conf:\n${test.output}`.trimEnd(),
    {
      code: 'KEEPALIVED_CONFIG_TEST',
      fault: 'config',
      host,
      hint: old
        ? `keepalived ${version} on this host predates 2.1, which cplb needs (track_file): upgrade keepalived; nothing was changed on the hosts`
        : `nothing was changed on the hosts; the lines above name what keepalived${version ? ` ${version}` : ''} refuses`,
    },
  );
}
