import { CplbError } from '../core/errors.js';

/**
 * Reads a secret from the controlling terminal without echo. Prompts are serialized: several
 * hosts connecting at once must not interleave their questions.
 */
let queue: Promise<unknown> = Promise.resolve();

export function promptHidden(question: string): Promise<string> {
  const next = queue.then(() => readHidden(question));
  queue = next.catch(() => undefined);
  return next;
}

function readHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    return Promise.reject(
      new CplbError('cannot prompt: stdin is not a terminal', { code: 'NO_TTY', fault: 'usage' }),
    );
  }
  return new Promise((resolve, reject) => {
    let answer = '';
    const finish = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(answer);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish();
        if (ch === '\u0003')
          return finish(
            new CplbError('cancelled at the passphrase prompt', { code: 'CANCELLED', fault: 'cancelled' }),
          );
        if (ch === '\u007f' || ch === '\b') answer = answer.slice(0, -1);
        else answer += ch;
      }
    };
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}
