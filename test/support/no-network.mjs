/**
 * Preload (`node --import ./test/support/no-network.mjs ...`) that makes every way out to the
 * network record the attempt and throw, so a test can prove a command stayed offline. The list of
 * attempts is written as JSON to $CPLBCTL_NET_REPORT when the process exits.
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import tls from 'node:tls';

const attempts = [];

function blocked(name) {
  return function blockedNetworkCall() {
    attempts.push(name);
    throw new Error(`network access attempted (${name}) in a process that must stay offline`);
  };
}

function patch(target, names, prefix) {
  for (const name of names)
    if (typeof target[name] === 'function') target[name] = blocked(`${prefix}.${name}`);
}

patch(net.Socket.prototype, ['connect'], 'net.Socket.prototype');
patch(net, ['connect', 'createConnection'], 'net');
patch(tls, ['connect'], 'tls');
patch(dgram, ['createSocket'], 'dgram');
const DNS_CALLS = [
  'lookup',
  'lookupService',
  'resolve',
  'resolve4',
  'resolve6',
  'resolveAny',
  'resolveCname',
  'resolveMx',
  'resolveNs',
  'resolveSrv',
  'resolveTxt',
  'reverse',
];
patch(dns, DNS_CALLS, 'dns');
patch(dns.promises, DNS_CALLS, 'dns.promises');
patch(dns.Resolver.prototype, DNS_CALLS, 'dns.Resolver.prototype');
patch(http, ['request', 'get'], 'http');
patch(https, ['request', 'get'], 'https');
// ESM named imports (`import { connect } from 'node:net'`) see the patched functions only after this.
syncBuiltinESMExports();

process.on('exit', () => {
  if (process.env.CPLBCTL_NET_REPORT) writeFileSync(process.env.CPLBCTL_NET_REPORT, JSON.stringify(attempts));
});
