/** Commands beyond the config ones (lab, apply, verify, status) register here. */
import type { Command } from 'commander';

export function registerExtraCommands(_program: Command): void {}
