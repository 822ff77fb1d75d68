/** `cplbctl lab ...`: a thin shell over src/lab. Errors are CplbErrors: 2 for usage, 1 for failures. */
import type { Command } from 'commander';
import { CplbError } from '../core/errors.js';
import {
  HOST_FAULTS,
  LAB_FAULTS,
  LAB_FLAVORS,
  type LabFlavor,
  type LabInfo,
  labDown,
  labExec,
  labFault,
  labStatus,
  labUp,
} from '../lab/index.js';

const usage = (message: string, hint?: string) =>
  new CplbError(message, { code: 'LAB_USAGE', fault: 'usage', hint });

function parseHosts(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1) throw usage(`--hosts ${value} is not a positive whole number`);
  return n;
}

function parseFlavor(value: string): LabFlavor {
  if (!(LAB_FLAVORS as readonly string[]).includes(value))
    throw usage(`--flavor ${value}: choose ${LAB_FLAVORS.join(', ')}`);
  return value as LabFlavor;
}

function pad(s: string, n: number): string {
  return s.padEnd(n);
}

function printUp(info: LabInfo, ms: number): void {
  const controllers = info.hosts.filter((h) => h.role === 'controller').length;
  const verb = info.created ? 'is up' : 'was already up';
  console.log(
    `lab ${info.name} ${verb}: ${controllers} ${info.flavor} controllers + 1 client on ${info.prefix} (${(ms / 1000).toFixed(1)} s)`,
  );
  for (const h of info.hosts) {
    console.log(`  ${pad(h.name, 8)} ${pad(`${h.address}:${h.sshPort}`, 20)} ${pad(h.user, 6)} ${h.role}`);
  }
  console.log(`  ${pad('VIP', 8)} ${info.vip}`);
  if (info.ipv6)
    console.log(`  ${pad('IPv6', 8)} ${info.ipv6.mainNet} (VIP ${info.ipv6.vip}, block ${info.ipv6.prefix})`);
  console.log(`cluster file: ${info.clusterFile}`);
  console.log(`known_hosts:  ${info.knownHosts}`);
  console.log(`ssh key:      ${info.keyPath}`);
  console.log(`try:          ${info.sshExample} hostname`);
}

export function registerLabCommand(program: Command): void {
  const lab = program
    .command('lab')
    .description('test hosts on this machine (network namespaces, sshd, an API server stand-in)');

  lab
    .command('up')
    .description('create the lab (or keep it, starting crashed hosts again) and write its cluster file')
    .option('--hosts <n>', 'controller hosts (a client host is added)', parseHosts)
    .option(
      '--flavor <flavor>',
      'plain (processes), openrc (plain hosts booted by OpenRC) or systemd (systemd-nspawn, Debian bookworm)',
      parseFlavor,
    )
    .option('--prefix <cidr>', 'address range (default: a free /23 of 198.18.0.0/15)')
    .option('--ipv6', 'an IPv6 /64 beside the IPv4 one (a ULA, checked free like --prefix)')
    .option(
      '--prefix6 <cidr>',
      'IPv6 ULA block, implies --ipv6 (default: a /48 in fd00::/8 from the lab name)',
    )
    .option('--name <name>', 'lab name', 'lab')
    .option('--install-deps', 'apt-get install missing packages')
    .action(
      async (o: {
        hosts?: number;
        flavor?: LabFlavor;
        prefix?: string;
        prefix6?: string;
        ipv6?: boolean;
        name: string;
        installDeps?: boolean;
      }) => {
        const started = Date.now();
        const info = await labUp({
          name: o.name,
          hosts: o.hosts,
          flavor: o.flavor,
          prefix: o.prefix,
          prefix6: o.prefix6,
          ipv6: o.ipv6,
          installDeps: o.installDeps,
          log: (m) => console.error(m),
        });
        printUp(info, Date.now() - started);
      },
    );

  lab
    .command('status')
    .description('show hosts, links, stand-ins and faults')
    .option('--name <name>', 'lab name', 'lab')
    .option('--json', 'print JSON')
    .action(async (o: { name: string; json?: boolean }) => {
      const s = await labStatus(o.name);
      if (o.json) return console.log(JSON.stringify(s, null, 2));
      console.log(
        `lab ${s.name}: ${s.flavor} on ${s.prefix}, VIP ${s.vip}${s.vrrpBlocked ? ', VRRP BLOCKED' : ''}`,
      );
      for (const h of s.hosts) {
        const state = h.running ? 'running' : 'stopped';
        const api = h.apiserver ? `apiserver ${h.apiserver}` : '';
        console.log(
          `  ${pad(h.name, 8)} ${pad(`${h.address}:${h.sshPort}`, 20)} ${pad(state, 8)} link ${pad(h.link, 5)} ${api}`,
        );
      }
      console.log(`cluster file: ${s.clusterFile}`);
    });

  lab
    .command('exec <host> [command...]')
    .description('run a command inside a host: cplbctl lab exec c1 -- ip addr')
    .option('--name <name>', 'lab name', 'lab')
    .action(async (host: string, command: string[], o: { name: string }) => {
      if (command.length === 0) throw usage('nothing to run', 'cplbctl lab exec HOST -- COMMAND [ARGS...]');
      const result = await labExec(o.name, host, command, { inherit: true });
      process.exitCode = result.code ?? 1;
    });

  lab
    .command('fault <target> [fault]')
    .description(`inject a fault: HOST ${HOST_FAULTS.join('|')}, or ${LAB_FAULTS.join('|')}`)
    .option('--name <name>', 'lab name', 'lab')
    .action(async (target: string, fault: string | undefined, o: { name: string }) => {
      const [host, what] = fault === undefined ? [undefined, target] : [target, fault];
      await labFault(o.name, host, what);
      console.log(`lab ${o.name}: ${host ? `${host} ` : ''}${what}`);
    });

  lab
    .command('down')
    .description('remove everything the lab made: processes, namespaces, routes, files')
    .option('--name <name>', 'lab name', 'lab')
    .action(async (o: { name: string }) => {
      const removed = await labDown(o.name);
      console.log(removed ? `lab ${o.name} is down` : `no lab ${o.name} was up`);
    });
}
