/** Commands that reach hosts or the lab register here. */
import type { Command } from 'commander';
import { registerApply } from './apply.js';
import { registerDrain } from './drain.js';
import { registerLabCommand } from './lab.js';
import { registerReset } from './reset.js';
import { registerStatus } from './status.js';
import { registerVerify } from './verify.js';

export function registerExtraCommands(program: Command): void {
  registerApply(program);
  registerDrain(program);
  registerLabCommand(program);
  registerReset(program);
  registerStatus(program);
  registerVerify(program);
}
