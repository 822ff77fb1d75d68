import type { Command } from 'commander';
import { CplbError } from '../core/errors.js';
import { renderStarter, type StarterHost } from '../config/starter.js';

function parseController(value: string, previous: StarterHost[]): StarterHost[] {
  const m = /^(?:([^@\s]+)@)?(\[[0-9a-fA-F:.]+\]|[^:@\s[\]]+)(?::(\d+))?$/.exec(value);
  if (!m)
    throw new CplbError(`--controller ${value}: expected user@host[:port]`, {
      code: 'USAGE',
      fault: 'usage',
      hint: 'e.g. --controller root@10.0.0.11 --controller admin@10.0.0.12:2222',
    });
  const port = m[3] ? Number(m[3]) : 22;
  if (port < 1 || port > 65535)
    throw new CplbError(`--controller ${value}: port must be 1-65535`, { code: 'USAGE', fault: 'usage' });
  return [...previous, { user: m[1] ?? 'root', address: m[2]!.replace(/^\[|\]$/g, ''), port }];
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('Print a commented starter cluster file (native format, or a k0sctl.yaml with --k0sctl).')
    .option(
      '--controller <user@host[:port]>',
      'a controller to include (repeat for each)',
      parseController,
      [],
    )
    .option('--vip <cidr>', 'the virtual IP with its prefix length', '192.168.122.200/24')
    .option('--k0sctl', 'write a k0sctl.yaml instead of the native format')
    .addHelpText(
      'after',
      `
Examples:
  cplbctl init > cluster.yaml
  cplbctl init --controller root@10.0.0.11 --controller root@10.0.0.12 --controller root@10.0.0.13 --vip 10.0.0.100/24 > cluster.yaml
  cplbctl init --k0sctl > k0sctl.yaml`,
    )
    .action((opts: { controller: StarterHost[]; vip: string; k0sctl?: boolean }) => {
      process.stdout.write(
        renderStarter({ controllers: opts.controller, vip: opts.vip, k0sctl: Boolean(opts.k0sctl) }),
      );
    });
}
