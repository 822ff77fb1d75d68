/**
 * keepalived as the agent runs it: its pid files sit in the agent's run directory, never in /run
 * where a distro keepalived keeps its own; reset removes the same files the agent writes.
 */
import { posix } from 'node:path';

export interface KeepalivedPidFiles {
  main: string;
  vrrp: string;
  checkers: string;
  bfd: string;
}

export function pidFiles(pidDir: string): KeepalivedPidFiles {
  return {
    main: posix.join(pidDir, 'keepalived.pid'),
    vrrp: posix.join(pidDir, 'keepalived-vrrp.pid'),
    checkers: posix.join(pidDir, 'keepalived-checkers.pid'),
    bfd: posix.join(pidDir, 'keepalived-bfd.pid'),
  };
}
