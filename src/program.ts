/** The command line: thin commands over the library. Exit codes: 0 ok, 1 remote, 2 config/usage, 3 unhealthy, 130 cancelled. */
import { Command, CommanderError } from 'commander';
import { CplbError, exitCodeOf } from './core/errors.js';
import { VERSION } from './contract/version.js';
import { registerValidate } from './commands/validate.js';
import { registerSchema } from './commands/schema.js';
import { registerInit } from './commands/init.js';
import { registerExtraCommands } from './commands/registry.js';

function buildProgram(): Command {
  const program = new Command('cplbctl')
    .description('A floating virtual IP and load balancing for a Kubernetes control plane, over SSH.')
    .version(VERSION, '-v, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) })
    .addHelpText(
      'after',
      `
Examples:
  cplbctl init > cluster.yaml            # a commented starter file
  cplbctl validate cluster.yaml          # check it offline: every problem, with line and column
  cplbctl validate k0sctl.yaml           # a k0sctl.yaml is read unchanged
  cplbctl apply cluster.yaml             # deploy, then prove one VIP holder
  cplbctl reset --force cluster.yaml     # take it all off the controllers again

Exit codes: 0 ok, 1 remote failure, 2 config or usage error, 3 verified and unhealthy, 130 cancelled.`,
    );
  registerValidate(program);
  registerInit(program);
  registerSchema(program);
  registerExtraCommands(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return (process.exitCode as number | undefined) ?? 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof CplbError) {
      process.stderr.write(`cplbctl: ${err.describe()}\n`);
      return err.exitCode;
    }
    process.stderr.write(`cplbctl: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return exitCodeOf(err);
  }
}
