/**
 * cplb-agent entry point (bundled on its own, see scripts/build-agent.mjs).
 *
 *   cplb-agent [run] [--config FILE] [--pid-file FILE]   run in the foreground (SIGHUP reloads)
 *   cplb-agent status [--socket FILE | --config FILE]    print the running agent's status JSON
 *   cplb-agent check-config [--config FILE]              validate agent.json, print its hash
 *   cplb-agent version
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { VERSION } from '../contract/version.js';
import { Agent } from './agent.js';
import { AGENT_CONFIG, STATUS_SOCKET } from '../contract/paths.js';
import { loadAgentConfig } from './config.js';
import { hashConfigText, parseAgentConfig } from '../contract/agent-config.js';
import { createLogger, errorText } from './log.js';
import { queryStatus } from './status.js';
import { BUILD_STAMP } from './build-stamp.js';
import { agentVersionText } from '../contract/status.js';

interface Args {
  command: string;
  config: string;
  socket: string | undefined;
  pidFile: string | undefined;
}

/** Beyond the drain: keepalived's own stop (its TERM, then KILL after 5 s) and the rest of the cleanup. */
const STOP_MARGIN_MS = 10_000;

const USAGE =
  'usage: cplb-agent [run|status|check-config|version] [--config FILE] [--socket FILE] [--pid-file FILE]';

function parseArgs(argv: string[]): Args {
  const args: Args = { command: 'run', config: AGENT_CONFIG, socket: undefined, pidFile: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--config' || a === '-c') args.config = value();
    else if (a === '--socket') args.socket = value();
    else if (a === '--pid-file') args.pidFile = value();
    else if (a === '--version' || a === '-v') args.command = 'version';
    else if (a === '--help' || a === '-h') args.command = 'help';
    else if (!a.startsWith('-')) args.command = a;
    else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  return args;
}

async function run(args: Args): Promise<number> {
  const log = createLogger('info');
  process.title = 'cplb-agent';
  const loaded = await loadAgentConfig(args.config);
  const agent = new Agent(args.config, loaded, log);
  if (args.pidFile) writeFileSync(args.pidFile, `${process.pid}\n`);
  let stopping: Promise<void> | undefined;
  const shutdown = (why: string, code: number) => {
    if (stopping) {
      log.warn('second signal: exiting now', { signal: why });
      process.exit(1);
    }
    log.info('stopping', { reason: why });
    // Whatever hangs in stop (it should not), the process ends: a half-stopped agent serves no
    // one and, still alive, is never restarted by its service manager.
    const limitMs = loaded.config.proxy.drainTimeoutMs + STOP_MARGIN_MS;
    setTimeout(() => {
      log.error('stop did not finish in time: exiting', { limitMs });
      process.exit(code === 0 ? 1 : code);
    }, limitMs);
    stopping = agent
      .stop()
      .catch((err) => log.error('stop failed', { error: errorText(err) }))
      .finally(() => {
        if (args.pidFile) {
          try {
            unlinkSync(args.pidFile);
          } catch {
            // gone already
          }
        }
        process.exit(code);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM', 0));
  process.on('SIGINT', () => shutdown('SIGINT', 0));
  process.on('SIGHUP', () => {
    log.info('SIGHUP: reloading');
    void agent.reload();
  });
  process.on('uncaughtException', (err) => {
    log.error('uncaught exception', { error: errorText(err), stack: err.stack });
    shutdown('uncaughtException', 1);
  });
  process.on('unhandledRejection', (err) => log.error('unhandled rejection', { error: errorText(err) }));
  try {
    await agent.start();
  } catch (err) {
    log.error('agent failed to start', { error: errorText(err) });
    shutdown('start failed', 1);
  }
  return new Promise<number>(() => undefined); // runs until a signal
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  switch (args.command) {
    case 'run':
      return run(args);
    case 'status': {
      let socket = args.socket;
      if (!socket) {
        try {
          socket = parseAgentConfig(readFileSync(args.config, 'utf8'), args.config).statusSocket;
        } catch {
          socket = STATUS_SOCKET;
        }
      }
      process.stdout.write(JSON.stringify(await queryStatus(socket), null, 2) + '\n');
      return 0;
    }
    case 'check-config': {
      const text = readFileSync(args.config, 'utf8');
      parseAgentConfig(text, args.config);
      process.stdout.write(`ok ${hashConfigText(text)}\n`);
      return 0;
    }
    case 'version':
      process.stdout.write(`cplb-agent ${agentVersionText({ version: VERSION, build: BUILD_STAMP })}\n`);
      return 0;
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return 0;
    default:
      throw new Error(`unknown command ${args.command}\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`cplb-agent: ${errorText(err)}\n`);
    process.exit(2);
  },
);
