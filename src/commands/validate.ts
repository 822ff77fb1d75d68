import { Option, type Command } from 'commander';
import { formatDiagnostic } from '../config/diagnostics.js';
import { loadClusterFile } from '../config/load.js';
import { everyVip } from '../config/cluster.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('Check a cluster file offline (no network, no SSH) and print every problem at once.')
    .argument('[file]', 'cluster file, native (cplbctl/v1beta1) or a k0sctl.yaml', 'cluster.yaml')
    .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      `
Each problem reads FILE:LINE:COL path.to.field: what is wrong; what to do.
Exit codes: 0 valid (warnings are printed), 2 not valid.

Examples:
  cplbctl validate                     # ./cluster.yaml
  cplbctl validate k0sctl.yaml         # a k0sctl file, read unchanged
  cplbctl validate -o json cluster.yaml`,
    )
    .action((file: string, opts: { output: string }) => {
      const { cluster, diagnostics } = loadClusterFile(file);
      if (opts.output === 'json') {
        process.stdout.write(JSON.stringify({ file, valid: Boolean(cluster), diagnostics }, null, 2) + '\n');
      } else {
        for (const d of diagnostics) process.stderr.write(formatDiagnostic(d) + '\n');
        if (cluster) {
          const vips = everyVip(cluster)
            .map((v) => v.vip.cidr)
            .join(', ');
          process.stdout.write(
            `${file}: valid (${cluster.format} format, ${cluster.controllers.length} controller${cluster.controllers.length === 1 ? '' : 's'}, VIPs ${vips})\n`,
          );
        } else {
          const n = diagnostics.filter((d) => d.severity === 'error').length;
          process.stderr.write(`${file}: ${n} error${n === 1 ? '' : 's'}\n`);
        }
      }
      process.exitCode = cluster ? 0 : 2;
    });
}
