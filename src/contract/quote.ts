/**
 * POSIX shell quoting for every argument that crosses SSH. The remote /bin/sh may be dash, so
 * only single quotes are used: inside them nothing is special except the closing quote itself.
 */

// Words made only of these characters mean the same quoted or not; leaving them bare keeps
// logged and dry-run commands readable. `=` and `~` are absent on purpose (assignments, tilde).
const SAFE_WORD = /^[A-Za-z0-9_./,:@%+-]+$/;

// A bare reserved word in command position changes the parse, so these are always quoted.
const RESERVED = new Set(
  'if then else elif fi do done case esac while until for in function select time coproc'.split(' '),
);

export function shq(arg: string): string {
  if (arg.includes('\0')) {
    // A bug of ours, never input: every value that reaches here was validated (an internal error, exit 1).
    throw new Error(
      `cannot pass a NUL byte to a remote command (argv strings end at NUL): the value starts with ${JSON.stringify(arg.slice(0, 40))}`,
    );
  }
  if (arg === '') return "''";
  if (SAFE_WORD.test(arg) && !RESERVED.has(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Joins an argv into one command line that the remote shell splits back into exactly argv. */
export function shJoin(argv: readonly string[]): string {
  return argv.map(shq).join(' ');
}
