/**
 * cplb-agent where no init system runs (containers, chroots): a POSIX sh script with
 * start | stop | restart | reload | status. `start` leaves a small supervisor in its own session
 * that restarts the agent when it dies (Restart=always) and passes SIGHUP on.
 */
import { shJoin, shq } from '../contract/quote.js';
import { MANAGED_HEADER } from './keepalived.js';
import { AGENT_LOG, AGENT_NOFILE, PLAIN_LAUNCHER, RUN_DIR } from '../contract/paths.js';

/**
 * sh that gives the processes it starts the systemd unit's LimitNOFILE, or the most the host
 * allows where it caps the hard limit lower (no CAP_SYS_RESOURCE, a container): never less than
 * what was inherited.
 */
export function raiseNofile(): string {
  return `ulimit -n ${AGENT_NOFILE} 2>/dev/null || ulimit -S -n "$(ulimit -H -n)"`;
}

export interface LauncherPaths {
  runDir: string;
  log: string;
  /** Where this script itself is installed: the supervisor runs it again as `supervise`. */
  self: string;
  /** A word in the agent's /proc cmdline: a pid file whose process lacks it is stale. */
  agentMarker: string;
}

const LAUNCHER_DEFAULTS: LauncherPaths = {
  runDir: RUN_DIR,
  log: AGENT_LOG,
  self: PLAIN_LAUNCHER,
  agentMarker: 'cplb-agent',
};

export function renderPlainLauncher(
  agentArgv: readonly string[],
  paths: LauncherPaths = LAUNCHER_DEFAULTS,
): string {
  const selfName = paths.self.slice(paths.self.lastIndexOf('/') + 1);
  return `#!/bin/sh
${MANAGED_HEADER}
# cplb-agent without an init system: start | stop | restart | reload | status.
RUN_DIR=${shq(paths.runDir)}
AGENT_PID="$RUN_DIR/agent.pid"
SUPERVISOR_PID="$RUN_DIR/supervisor.pid"
LOG=${shq(paths.log)}
SELF=${shq(paths.self)}

# A pid file counts only while its process still runs our program: pids get reused.
alive() {
  pid=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$pid" ] && grep -q -- "$2" "/proc/$pid/cmdline" 2>/dev/null
}
agent_alive() { alive "$AGENT_PID" ${shq(paths.agentMarker)}; }
supervisor_alive() { alive "$SUPERVISOR_PID" ${shq(selfName)}; }

wait_gone() {
  i=0
  while [ "$i" -lt "$1" ] && { supervisor_alive || agent_alive; }; do sleep 0.1; i=$((i + 1)); done
  ! supervisor_alive && ! agent_alive
}

supervise() {
  echo $$ >"$SUPERVISOR_PID"
  # The same open-file limit as the systemd unit's LimitNOFILE (the agent inherits it).
  ${raiseNofile()}
  child=
  stopping=
  trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT
  trap '[ -n "$child" ] && kill -HUP "$child" 2>/dev/null' HUP
  while [ -z "$stopping" ]; do
    ${shJoin(agentArgv)} </dev/null &
    child=$!
    echo "$child" >"$AGENT_PID"
    # wait returns early when a trapped signal arrives: keep waiting while the agent lives.
    while kill -0 "$child" 2>/dev/null; do wait "$child"; done
    child=
    [ -z "$stopping" ] && echo "cplb-agent exited; restarting in 1 s" >&2 && sleep 1
  done
  rm -f "$SUPERVISOR_PID" "$AGENT_PID"
}

stop() {
  if supervisor_alive || agent_alive; then kill -TERM "$pid" 2>/dev/null; fi
  if ! wait_gone 200; then
    agent_alive && kill -KILL "$pid" 2>/dev/null
    supervisor_alive && kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$SUPERVISOR_PID" "$AGENT_PID"
}

start() {
  if supervisor_alive; then
    echo "cplb-agent is running (supervisor pid $pid)"
    return 0
  fi
  # An agent left without its supervisor (killed -9) would run twice: stop it first.
  agent_alive && stop
  mkdir -p "$RUN_DIR"
  if command -v setsid >/dev/null 2>&1; then
    setsid sh "$SELF" supervise </dev/null >>"$LOG" 2>&1 &
  else
    nohup sh "$SELF" supervise </dev/null >>"$LOG" 2>&1 &
  fi
  i=0
  while [ "$i" -lt 50 ]; do
    if supervisor_alive && agent_alive; then
      echo "cplb-agent started (pid $pid)"
      return 0
    fi
    sleep 0.1
    i=$((i + 1))
  done
  echo "cplb-agent did not start: see $LOG" >&2
  return 1
}

case "\${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) stop && start ;;
  reload)
    if agent_alive; then kill -HUP "$pid"; else echo "cplb-agent is not running" >&2; exit 1; fi ;;
  status)
    if agent_alive; then echo "cplb-agent is running (pid $pid)"; else echo "cplb-agent is not running"; exit 3; fi ;;
  supervise) supervise ;;
  *) echo "usage: ${selfName} start|stop|restart|reload|status" >&2; exit 2 ;;
esac
`;
}
