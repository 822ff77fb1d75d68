/**
 * Gives memory back after a burst of connections. V8 keeps the heap it grew under load (young
 * generation at full size, old generation until its next mark-compact), and an idle agent allocates
 * too little to trigger one: the soak bench (bench/agent-soak.ts) saw RSS stay 40 MB over idle for
 * a minute after the load. So once the proxy has gone quiet after a busy spell, one full GC.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Decides when: `sample` is called on every tick with the proxy's connection count so far. */
export class QuietAfterBusy {
  private last: number | undefined;
  private busy = 0;

  constructor(private readonly minConnections = 500) {}

  /** True once per busy spell: the first tick without new connections after `minConnections`. */
  sample(total: number): boolean {
    const delta = this.last === undefined ? 0 : total - this.last;
    this.last = total;
    if (delta !== 0) {
      this.busy += Math.abs(delta);
      return false;
    }
    if (this.busy < this.minConnections) return false;
    this.busy = 0;
    return true;
  }
}

let gc: (() => void) | undefined;

/** A full, synchronous GC (tens of ms on the agent's heap); the flag is set once, at first use. */
export function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
