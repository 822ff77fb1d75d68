/**
 * How cplb-agent runs on a host, per init system: a systemd unit, an OpenRC script, or (where no
 * init runs) a POSIX sh launcher that supervises the agent itself. Plus the commands apply runs.
 */
import type { InitSystem } from '../contract/paths.js';
import { shJoin } from '../contract/quote.js';
import { MANAGED_HEADER } from './keepalived.js';
import { agentArgv, type AgentCommand } from './agent-command.js';
import { renderPlainLauncher } from './launcher.js';
import {
  AGENT_NOFILE,
  OPENRC_SCRIPT,
  PLAIN_LAUNCHER,
  RUN_DIR,
  SERVICE_NAME,
  SYSTEMD_UNIT,
} from '../contract/paths.js';

export { agentArgv, type AgentCommand } from './agent-command.js';
export { renderPlainLauncher } from './launcher.js';
import { raiseNofile } from './launcher.js';

/**
 * KillMode=process: `stop` sends SIGTERM to the agent alone, which stops keepalived in order (its
 * priority-0 advert hands the VIP over at once) and removes its rules. When the agent dies instead,
 * keepalived gets SIGTERM from the kernel (its parent-death signal) and still leaves gracefully;
 * mixed or control-group would SIGKILL it there and then, leaving the VIP on the NIC of a host
 * whose proxy is gone while a peer takes it too. A restarted agent stops any leftover keepalived.
 */
export function renderSystemdUnit(cmd: AgentCommand): string {
  return `${MANAGED_HEADER}
[Unit]
Description=cplb agent: keepalived VIP and API server load balancer
After=network-online.target
Wants=network-online.target
# Restart=always means always: never give up after a burst of failures.
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart=${shJoin(agentArgv(cmd))}
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=1
KillMode=process
TimeoutStopSec=20
RuntimeDirectory=${RUN_DIR.replace(/^\/run\//, '')}
RuntimeDirectoryMode=0755
LimitNOFILE=${AGENT_NOFILE}

[Install]
WantedBy=multi-user.target
`;
}

/**
 * supervise-daemon respawns the agent like Restart=always; reload sends it SIGHUP. `use net`, not
 * `need net`: a host whose network no OpenRC service brings up (Debian's openrc has no `net`
 * provider) must still start the agent, which copes with interfaces that come up later.
 */
export function renderOpenrcScript(cmd: AgentCommand): string {
  const [command, ...args] = agentArgv(cmd);
  return `#!/sbin/openrc-run
${MANAGED_HEADER}

description="cplb agent: keepalived VIP and API server load balancer"
supervisor=supervise-daemon
command=${shJoin([command!])}
command_args=${shJoin([shJoin(args)])}
respawn_delay=1
respawn_max=0
output_log=/var/log/${SERVICE_NAME}.log
error_log=/var/log/${SERVICE_NAME}.log
extra_started_commands="reload"

depend() {
\tuse net
\tafter firewall
}

start_pre() {
\t# The same open-file limit as the systemd unit's LimitNOFILE: start runs in this shell, and
\t# supervise-daemon and the agent inherit it. (rc_ulimit would fail whole where the host caps it.)
\t${raiseNofile()}
\tcheckpath -d -m 0755 ${RUN_DIR}
}

reload() {
\tebegin "Reloading \${RC_SVCNAME}"
\tsupervise-daemon "\${RC_SVCNAME}" --signal HUP
\teend $?
}
`;
}

export interface ServiceCommands {
  /** Makes the service known to the init system (enable at boot). */
  install: string;
  start: string;
  restart: string;
  reload: string;
  stop: string;
  /** Exit 0 when running. */
  status: string;
}

export interface ServiceDefinition {
  init: InitSystem;
  name: string;
  /** The file that defines the service: unit, OpenRC script or launcher. */
  path: string;
  mode: number;
  content: string;
  commands: ServiceCommands;
}

export function renderService(init: InitSystem, cmd: AgentCommand): ServiceDefinition {
  if (init === 'systemd')
    return {
      init,
      name: SERVICE_NAME,
      path: SYSTEMD_UNIT,
      mode: 0o644,
      content: renderSystemdUnit(cmd),
      commands: {
        install: `systemctl daemon-reload && systemctl enable ${SERVICE_NAME}`,
        start: `systemctl start ${SERVICE_NAME}`,
        restart: `systemctl restart ${SERVICE_NAME}`,
        reload: `systemctl reload ${SERVICE_NAME}`,
        stop: `systemctl stop ${SERVICE_NAME}`,
        status: `systemctl is-active --quiet ${SERVICE_NAME}`,
      },
    };
  if (init === 'openrc') {
    // A service whose supervisor died stays "started" to OpenRC, which then refuses to start it:
    // zap resets it to stopped first (a no-op for a service that is stopped or running).
    const rc = (verb: string) =>
      `{ rc-service ${SERVICE_NAME} status >/dev/null 2>&1 || rc-service ${SERVICE_NAME} zap >/dev/null 2>&1; } && rc-service ${SERVICE_NAME} ${verb}`;
    return {
      init,
      name: SERVICE_NAME,
      path: OPENRC_SCRIPT,
      mode: 0o755,
      content: renderOpenrcScript(cmd),
      commands: {
        install: `rc-update add ${SERVICE_NAME} default`,
        start: rc('start'),
        restart: rc('restart'),
        reload: `rc-service ${SERVICE_NAME} reload`,
        stop: `rc-service ${SERVICE_NAME} stop`,
        status: `rc-service ${SERVICE_NAME} status`,
      },
    };
  }
  const ctl = (verb: string) => `${PLAIN_LAUNCHER} ${verb}`;
  return {
    init,
    name: SERVICE_NAME,
    path: PLAIN_LAUNCHER,
    mode: 0o755,
    content: renderPlainLauncher(agentArgv(cmd)),
    commands: {
      install: 'true',
      start: ctl('start'),
      restart: ctl('restart'),
      reload: ctl('reload'),
      stop: ctl('stop'),
      status: ctl('status'),
    },
  };
}
