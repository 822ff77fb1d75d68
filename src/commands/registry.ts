/** Commands that reach hosts or the lab register here. */
import type { Command } from 'commander';
import { registerApply } from './apply.js';
import { registerLabCommand } from './lab.js';

export function registerExtraCommands(program: Command): void {
  registerApply(program);
  registerLabCommand(program);
}
