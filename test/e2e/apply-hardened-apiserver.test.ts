/**
 * Issue 12 item 1 on the plain lab: API servers that answer 401 to anonymous requests (kube-apiserver
 * --anonymous-auth=false) must not take the VIP down. Without credentials the agent counts them up
 * (readiness unknown) and says why; with a bearer token the stand-ins accept, it sees readiness; with a
 * wrong one, down. Build first (`npm run build`); run under the lab lock.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { ClusterReport } from '../../src/verify/host-report.js';
import { agentStatus, probeVip, sh, waitHolders } from './apply-probes.js';
import { applyArgs, cli, useLab } from './apply-support.js';
import { httpsGet, peerCertificate, pollUntil } from './lab-helpers.js';

const lab = useLab('t-hardapi', { flavor: 'plain' });
const controllers = () => lab().hosts.filter((h) => h.role === 'controller');
const NOTE = '401: readiness not visible without credentials';
const TOKEN_FILE = '/etc/cplb-hc.token';
const AUTH_FILE = '/run/cplb-lab/apiserver-auth';

/** The lab's cluster file with healthCheck set, written beside it. */
async function clusterWith(healthCheck: Record<string, unknown>): Promise<string> {
  const doc = parse(await readFile(lab().clusterFile, 'utf8')) as {
    spec: { controlPlaneLoadBalancing: Record<string, unknown> };
  };
  doc.spec.controlPlaneLoadBalancing.healthCheck = healthCheck;
  const path = lab().clusterFile.replace(/\.yaml$/, '-hc.yaml');
  await writeFile(path, stringify(doc));
  return path;
}

async function upstreamsOn(host: string) {
  return (await agentStatus(lab().name, host)).proxy.upstreams;
}

describe('apply with API servers that refuse anonymous requests', () => {
  it('succeeds with one holder, serves through the VIP from every API server, and status says why', async () => {
    for (const h of controllers()) {
      const r = await cli(['lab', 'fault', h.name, 'apiserver-auth', '--name', lab().name]);
      expect(r.code, r.stderr).toBe(0);
      expect((await httpsGet(h.address, '/readyz')).status).toBe(401);
    }

    const apply = await cli(applyArgs(lab()), { timeoutMs: 240_000 });
    expect(apply.code, apply.stderr).toBe(0);
    const { holders } = await waitHolders(lab(), controllers(), (hs) => hs.length === 1, Date.now(), 10_000);
    expect(holders).toHaveLength(1);

    // Every API server serves clients through the VIP: the certificates seen through it are theirs.
    const certs = await Promise.all(controllers().map((h) => peerCertificate(h.address)));
    expect(new Set(certs.map((c) => c.fingerprint256)).size).toBe(controllers().length);
    const probes = await probeVip(lab(), 30, 20);
    expect(probes.filter((p) => p.error)).toEqual([]);
    expect(new Set(probes.map((p) => p.cn))).toEqual(new Set(certs.map((c) => c.subjectCN)));

    const status = await cli(['status', '--known-hosts', lab().knownHosts, lab().clusterFile]);
    expect(status.code, status.stderr).toBe(0);
    for (const h of controllers())
      expect(status.stdout).toContain(`upstream ${h.address}:6443 is up (${NOTE})`);
    const json = JSON.parse(
      (await cli(['status', '-o', 'json', '--known-hosts', lab().knownHosts, lab().clusterFile])).stdout,
    ) as ClusterReport;
    for (const host of json.hosts) {
      expect(host.agent?.healthy).toBe(true);
      expect(host.upstreams.map((u) => [u.health, u.note])).toEqual(
        controllers().map(() => ['healthy', NOTE]),
      );
    }

    // Logged once per upstream, not every second: wait a few rounds, then count.
    await new Promise((r) => setTimeout(r, 3000));
    const log = await sh(lab().name, controllers()[0]!.name, 'cat /var/log/cplb-agent.log');
    expect(log.split('\n').filter((l) => l.includes('readiness not visible'))).toHaveLength(
      controllers().length,
    );
  }, 300_000);

  it('refuses a token file others can read, naming host and file, before any change', async () => {
    for (const h of controllers()) await sh(lab().name, h.name, `umask 022; printf good > ${TOKEN_FILE}`);
    const file = await clusterWith({ bearerTokenFile: TOKEN_FILE });
    const apply = await cli(applyArgs(lab()).slice(0, -1).concat(file), { timeoutMs: 240_000 });
    expect(apply.code).toBe(2);
    for (const h of controllers())
      expect(apply.stderr).toMatch(
        new RegExp(`\\[${h.address}:${h.sshPort}\\] healthCheck.bearerTokenFile ${TOKEN_FILE} has mode 0644`),
      );
    // Nothing changed: the agents still run without credentials.
    expect((await upstreamsOn(controllers()[0]!.name)).every((u) => u.note === NOTE)).toBe(true);
  }, 300_000);

  it('with a token the stand-ins accept, sees readiness; with a wrong token, counts them down', async () => {
    for (const h of controllers()) {
      await sh(lab().name, h.name, `chmod 600 ${TOKEN_FILE}`);
      await sh(lab().name, h.name, `printf good > ${AUTH_FILE}`);
    }
    const file = await clusterWith({ bearerTokenFile: TOKEN_FILE });
    const apply = await cli(applyArgs(lab()).slice(0, -1).concat(file), { timeoutMs: 240_000 });
    expect(apply.code, apply.stderr).toBe(0);
    const first = controllers()[0]!.name;
    await pollUntil(
      'every upstream healthy, without a note',
      10_000,
      () => upstreamsOn(first),
      (ups) => ups.every((u) => u.health === 'healthy' && u.note === undefined),
    );

    // Readiness is visible again: a sick API server is down, though it answers 500 only with the token.
    const sick = controllers()[1]!;
    expect((await cli(['lab', 'fault', sick.name, 'apiserver-sick', '--name', lab().name])).code).toBe(0);
    await pollUntil(
      `${sick.address} down`,
      10_000,
      () => upstreamsOn(first),
      (ups) => ups.some((u) => u.address === sick.address && u.health === 'unhealthy'),
    );
    expect((await cli(['lab', 'fault', sick.name, 'apiserver-healthy', '--name', lab().name])).code).toBe(0);

    // A wrong token (rotated on the hosts, not on the servers): 401 now means down.
    for (const h of controllers()) await sh(lab().name, h.name, `printf stale > ${TOKEN_FILE}`);
    const ups = await pollUntil(
      'every upstream down',
      10_000,
      () => upstreamsOn(first),
      (all) => all.every((u) => u.health === 'unhealthy'),
    );
    expect(ups.map((u) => u.lastError)).toEqual(
      ups.map(() => 'HTTP 401: the health check credentials were refused'),
    );
    expect(ups.map((u) => u.note)).toEqual(ups.map(() => undefined));
  }, 300_000);
});
