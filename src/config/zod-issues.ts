/**
 * Turns zod issues into file-pinned problems that read "what is wrong; what to do". Messages are
 * written here from the issue and the value, not taken from zod, and never quote a free-text value
 * (authPass is one), only enum-like ones.
 */
import type { z } from 'zod';
import { didYouMean } from './diagnostics.js';
import type { DocPath } from './types.js';

export interface SchemaProblem {
  path: DocPath;
  /** Which part of the file to point at: the value, the key (unknown field), or the parent (missing field). */
  at: 'value' | 'key' | 'parent';
  message: string;
  hint: string;
  /** For an unknown field: the known field it is probably a misspelling of. */
  suggestion?: string;
}

/** The keys an object schema accepts at `path`, for suggestions; [] when unknown. */
function knownKeysAt(schema: z.ZodType, path: DocPath): string[] {
  let s: unknown = schema;
  const walk = (x: unknown): Record<string, unknown> =>
    (x as { _zod: { def: Record<string, unknown> } })._zod.def;
  const unwrap = () => {
    for (;;) {
      const def = walk(s);
      if (
        def.type === 'optional' ||
        def.type === 'default' ||
        def.type === 'nullable' ||
        def.type === 'prefault'
      )
        s = def.innerType;
      else if (def.type === 'pipe') s = def.in;
      else return def;
    }
  };
  for (const seg of path) {
    const def = unwrap();
    if (def.type === 'object') s = (def.shape as Record<string, unknown>)[String(seg)];
    else if (def.type === 'array') s = def.element;
    else return [];
    if (!s) return [];
  }
  const def = unwrap();
  return def.type === 'object' ? Object.keys(def.shape as object) : [];
}

/** The raw value at `path`; undefined when any part is missing. */
export function valueAt(data: unknown, path: DocPath): unknown {
  let v = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

/** "port", or "virtualIPs[1]" for a list item: the name a message calls the field by. */
function fieldName(path: DocPath): string {
  const last = path[path.length - 1];
  if (typeof last !== 'number') return String(last ?? 'the document');
  return `${String(path[path.length - 2] ?? 'item')}[${last}]`;
}

function kindOf(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'empty';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'boolean') return 'true/false';
  return `a ${typeof v}`;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping (key: value lines)',
};

export function schemaProblems(
  schema: z.ZodType,
  data: unknown,
  issues: z.core.$ZodIssue[],
): SchemaProblem[] {
  const problems = issues.flatMap((issue) => problemsOf(schema, data, issue));
  // `virtualIP: [...]` makes two problems, an unknown field and a missing virtualIPs: the
  // suggestion fixes both, so the second is noise.
  const key = (path: DocPath) => JSON.stringify(path);
  const suggested = new Set(
    problems.flatMap((p) => (p.suggestion ? [key([...p.path.slice(0, -1), p.suggestion])] : [])),
  );
  return problems
    .filter((p) => !(p.at === 'parent' && suggested.has(key(p.path))))
    .map(({ suggestion: _, ...p }) => p);
}

function problemsOf(schema: z.ZodType, data: unknown, issue: z.core.$ZodIssue): SchemaProblem[] {
  const path = issue.path as (string | number)[];
  const name = fieldName(path);
  const value = valueAt(data, path);
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(schema, path);
    return issue.keys.map((key) => {
      const guess = didYouMean(key, known);
      return {
        path: [...path, key],
        at: 'key' as const,
        message: `unknown field "${key}"`,
        hint: guess
          ? `did you mean "${guess}"?`
          : known.length
            ? `remove it (known fields here: ${known.join(', ')})`
            : 'remove it',
        suggestion: guess,
      };
    });
  }
  if (value === undefined)
    return [
      { path, at: 'parent', message: `${name} is required`, hint: REQUIRED_HINTS[name] ?? `add ${name}` },
    ];
  if (value === null)
    return [
      {
        path,
        at: 'value',
        message: `${name} has no value`,
        hint: REQUIRED_HINTS[name] ?? 'give it a value, or remove the line',
      },
    ];
  return [{ path, at: 'value', ...describe(issue, name, value) }];
}

function describe(issue: z.core.$ZodIssue, name: string, value: unknown): { message: string; hint: string } {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.expected === 'int')
        return { message: `${name} must be a whole number`, hint: 'drop the fraction' };
      return {
        message: `${name} must be ${EXPECTED[issue.expected] ?? issue.expected}, not ${kindOf(value)}`,
        hint: typeHint(issue.expected, name, value),
      };
    case 'invalid_value':
      return choiceProblem(name, value, issue.values.map(String));
    case 'invalid_union':
      if (name === 'vrrpVersion') return choiceProblem(name, value, ['2', '3']);
      break;
    case 'too_small':
    case 'too_big':
      return rangeProblem(issue, name, value);
    case 'invalid_format':
      if (name === 'path')
        return {
          message: 'path must start with / and hold no spaces',
          hint: 'use an HTTP path such as /readyz',
        };
      break;
  }
  return { message: `${name} is not valid`, hint: 'see `cplbctl schema` for what this field accepts' };
}

/** An enum or literal: say what was given (these are never secrets) and the closest allowed value. */
function choiceProblem(name: string, value: unknown, allowed: string[]): { message: string; hint: string } {
  if (name === 'kind') return { message: `unknown kind ${JSON.stringify(value)}`, hint: 'use kind: Cluster' };
  if (name === 'vrrpVersion')
    return {
      message: `vrrpVersion ${JSON.stringify(value)} is not supported`,
      hint: 'use 2 (the default) or 3 (for sub-second adverts)',
    };
  if (allowed.length === 1)
    return { message: `unknown ${name} ${JSON.stringify(value)}`, hint: `use ${name}: ${allowed[0]}` };
  // `single` is accepted only so that a rule can explain why it does not fit CPLB.
  const shown = name === 'role' ? allowed.filter((v) => v !== 'single') : allowed;
  const guess = typeof value === 'string' ? didYouMean(value, shown) : undefined;
  return {
    message: `unknown ${name} ${JSON.stringify(value)}`,
    hint: guess ? `did you mean "${guess}"? (one of ${shown.join(', ')})` : `use one of ${shown.join(', ')}`,
  };
}

function rangeProblem(
  issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig,
  name: string,
  value: unknown,
) {
  if (issue.origin === 'string')
    return {
      message: `${name} is empty`,
      hint: REQUIRED_HINTS[name] ?? 'give it a value, or remove the line',
    };
  if (issue.origin === 'array')
    return { message: `${name} is an empty list`, hint: REQUIRED_HINTS[name] ?? 'list at least one item' };
  const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
  const side =
    issue.code === 'too_small'
      ? issue.inclusive
        ? 'below'
        : 'not above'
      : issue.inclusive
        ? 'above'
        : 'not below';
  const isPort = /port$/i.test(name) || name === 'userSpaceProxyBindPort';
  return {
    message: `${name} ${String(value)} is ${side} ${String(bound)}`,
    hint: isPort
      ? 'use a port from 1 to 65535'
      : issue.code === 'too_small'
        ? `use a value ${issue.inclusive ? 'of at least' : 'above'} ${String(bound)}`
        : `use at most ${String(bound)}`,
  };
}

function typeHint(expected: string, name: string, value: unknown): string {
  if (expected === 'string') return 'quote the value';
  if (expected === 'number')
    return typeof value === 'string' && value.trim() !== '' && !isNaN(Number(value))
      ? 'remove the quotes'
      : 'write a number';
  if (expected === 'boolean')
    return typeof value === 'string' && /^(yes|no|on|off|y|n)$/i.test(value)
      ? 'write true or false (in YAML 1.2, yes/no/on/off are strings)'
      : 'write true or false';
  if (expected === 'array')
    return LIST_HINTS[name] ?? 'write a YAML list: one "- item" line per entry, or [a, b]';
  if (expected === 'object') return `indent the fields of ${name} under it as key: value lines`;
  return `write ${EXPECTED[expected] ?? expected}`;
}

const LIST_HINTS: Record<string, string> = {
  virtualIPs: 'write a list of CIDRs, e.g. ["192.168.122.200/24"]',
  unicastPeers: 'write a list of addresses, e.g. ["192.168.122.12", "192.168.122.13"]',
  hosts: 'write a list of hosts, each starting with "- role: controller"',
  vrrpInstances: 'write a list of instances, each starting with "- virtualIPs: [...]"',
  virtualServers: 'write a list of virtual servers, each starting with "- ipAddress: ..."',
};

const REQUIRED_HINTS: Record<string, string> = {
  authPass: 'set a password of 1 to 8 characters, the same on every controller',
  virtualIPs: 'list the VIPs as CIDRs, e.g. ["192.168.122.200/24"]',
  address: 'set the host name or IP address to connect to',
  user: 'set the login user, or remove the line for root',
  role: 'set role: controller (or controller+worker, worker)',
  ssh: 'add ssh with at least address (and user, keyPath)',
  ipAddress: 'set one of the VIPs, without its prefix length',
  hosts: 'list the controllers under hosts',
  kind: 'add kind: Cluster',
  spec: 'add a spec with hosts and controlPlaneLoadBalancing (run `cplbctl init` for a starter file)',
  keyPath: 'set the private key file, or remove the line to use ssh-agent and ~/.ssh/config',
  hostKey: 'set the SHA256 fingerprint, or remove the line',
  interface: 'set a NIC name, or remove the line to use the default-route NIC',
};
