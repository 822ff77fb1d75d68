/**
 * The layers under the rules: YAML positions (key vs value vs parent), YAML errors that never
 * quote the source, schema problems in plain words, "did you mean", and authPass redaction.
 */
import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance, formatDiagnostic, formatPath } from '../../src/config/diagnostics.js';
import { parseYaml, positionOf } from '../../src/config/document.js';
import { loadClusterText } from '../../src/config/load.js';
import { authPassTexts, redactDiagnostics } from '../../src/config/redact.js';

/** The text at a position, to the end of its line: what a user sees there. */
function at(text: string, pos: { line: number; col: number }): string {
  return text.split('\n')[pos.line - 1]!.slice(pos.col - 1);
}

const DOC = `spec:
  hosts:
    - role: controller
      ssh:
        address: 10.0.0.1
    - { role: worker, ssh: {} }
  empty:
  flow: [a, b]
`;

describe('positionOf', () => {
  const parsed = parseYaml(DOC);
  const pos = (path: (string | number)[], mode?: 'value' | 'key' | 'parent') =>
    at(DOC, positionOf(parsed, path, mode));

  it('points at a scalar value, or at its key on request', () => {
    expect(pos(['spec', 'hosts', 0, 'ssh', 'address'])).toBe('10.0.0.1');
    expect(pos(['spec', 'hosts', 0, 'ssh', 'address'], 'key')).toBe('address: 10.0.0.1');
  });

  it('points at the key of a block mapping or list and of an empty value (the line the field is on)', () => {
    expect(pos(['spec', 'hosts'])).toBe('hosts:');
    expect(pos(['spec', 'hosts', 0, 'ssh'])).toBe('ssh:');
    expect(pos(['spec', 'empty'])).toBe('empty:');
    expect(pos(['spec', 'flow'])).toBe('[a, b]');
    expect(pos(['spec', 'flow', 1])).toBe('b]');
  });

  it('pins a missing field to the key or list item that should hold it', () => {
    expect(pos(['spec', 'hosts', 0, 'ssh', 'user'], 'parent')).toBe('ssh:');
    expect(pos(['spec', 'hosts', 0, 'privateInterface'], 'parent')).toBe('role: controller');
    expect(pos(['spec', 'hosts', 1, 'ssh', 'address'], 'parent')).toBe('ssh: {} }');
  });

  it('falls back to the key of the deepest part of the path that exists', () => {
    expect(pos(['spec', 'hosts', 0, 'ssh', 'bastion', 'keyPath'])).toBe('ssh:');
    expect(pos(['spec', 'hosts', 7, 'role'])).toBe('hosts:');
  });
});

describe('YAML errors', () => {
  const load = (text: string) => loadClusterText(text, 'c.yaml').diagnostics;

  it('report a duplicate key at the second one, with its path', () => {
    const [d, ...rest] = load('apiVersion: cplbctl/v1beta1\nkind: Cluster\nkind: Cluster\n');
    expect(rest).toEqual([]);
    expect(formatDiagnostic(d!)).toBe(
      'c.yaml:3:1 kind: duplicate key: a key may appear only once in a mapping; remove or merge the repeated key',
    );
  });

  it('report syntax errors with a line, a path where there is one, and a hint', () => {
    const [d] = load('apiVersion: cplbctl/v1beta1\nspec:\n  hosts: [a, b\n');
    expect(d).toMatchObject({ rule: 'yaml-syntax', severity: 'error' });
    expect(d!.message).toMatch(/^YAML syntax error: /);
    expect(d!.hint).toBeTruthy();
  });

  it.each([
    ['a block scalar header with text', 'authPass: | s3cr3tPW'],
    ['an unknown escape', 'authPass: "s3\\qcr3tPW"'],
    ['an undefined alias', 'authPass: *s3cr3tPW'],
    ['a reserved first character', 'authPass: @s3cr3tPW'],
    ['an unclosed quote', 'authPass: "s3cr3tPW'],
    ['a stray flow token', 'authPass: s3cr3tPW ]'],
  ])('never quote the source text: %s', (_, line) => {
    const text = `apiVersion: cplbctl/v1beta1\nkind: Cluster\nspec:\n  x:\n    ${line}\n`;
    const diagnostics = load(text);
    expect(diagnostics.length).toBeGreaterThan(0);
    expect(JSON.stringify(diagnostics)).not.toMatch(/s3|cr3t|PW/);
  });
});

describe('schema problems', () => {
  const base = (cplb: string) =>
    `apiVersion: cplbctl/v1beta1\nkind: Cluster\nspec:\n  hosts:\n    - role: controller\n      ssh:\n        address: 10.0.0.1\n  controlPlaneLoadBalancing:\n${cplb}`;
  const lines = (text: string) =>
    loadClusterText(text, 'c.yaml').diagnostics.map(
      (d) => `${d.line}:${d.col} ${formatPath(d.path)}: ${d.message}; ${d.hint}`,
    );

  it('put an unknown field at its key and suggest the near one, without also calling the real one missing', () => {
    const text = base(
      '    enabled: true\n    keepalived:\n      vrrpInstances:\n        - virtualIP: ["10.0.0.100/24"]\n          authPass: x\n',
    );
    expect(lines(text)).toEqual([
      '12:11 spec.controlPlaneLoadBalancing.keepalived.vrrpInstances[0].virtualIP: unknown field "virtualIP"; did you mean "virtualIPs"?',
    ]);
  });

  it('list the known fields when nothing is close', () => {
    const [line] = lines(base('    enabled: true\n    frobnicate: 3\n'));
    expect(line).toBe(
      '10:5 spec.controlPlaneLoadBalancing.frobnicate: unknown field "frobnicate"; remove it (known fields here: enabled, type, keepalived, apiServerPort, healthCheck, proxy, metrics)',
    );
  });

  it('put a missing field at the item that lacks it, an empty one at its key, and a wrong type at the value', () => {
    const text = base(
      '    enabled: "true"\n    keepalived:\n      vrrpInstances:\n        - virtualIPs: ["10.0.0.100/24"]\n        - authPass:\n          virtualIPs: 10.0.0.101/24\n',
    );
    expect(lines(text)).toEqual([
      '9:14 spec.controlPlaneLoadBalancing.enabled: enabled must be true or false, not a string; write true or false',
      '12:11 spec.controlPlaneLoadBalancing.keepalived.vrrpInstances[0].authPass: authPass is required; set a password of 1 to 8 characters, the same on every controller',
      '13:11 spec.controlPlaneLoadBalancing.keepalived.vrrpInstances[1].authPass: authPass has no value; set a password of 1 to 8 characters, the same on every controller',
      '14:23 spec.controlPlaneLoadBalancing.keepalived.vrrpInstances[1].virtualIPs: virtualIPs must be a list, not a string; write a list of CIDRs, e.g. ["192.168.122.200/24"]',
    ]);
  });

  it('name enum values and suggest the closest, leaving out role single', () => {
    const text = base('    enabled: true\n').replace('role: controller', 'role: controler');
    expect(lines(text)).toEqual([
      '5:13 spec.hosts[0].role: unknown role "controler"; did you mean "controller"? (one of controller, controller+worker, worker)',
    ]);
  });

  it('explain YAML 1.2 booleans and quoted numbers', () => {
    const text = base('    enabled: yes\n').replace(
      'address: 10.0.0.1',
      'address: 10.0.0.1\n        port: "22"',
    );
    expect(lines(text)).toEqual([
      '8:15 spec.hosts[0].ssh.port: port must be a number, not a string; remove the quotes',
      '10:14 spec.controlPlaneLoadBalancing.enabled: enabled must be true or false, not a string; write true or false (in YAML 1.2, yes/no/on/off are strings)',
    ]);
  });
});

describe('did you mean', () => {
  it('measures edits without case', () => {
    expect(editDistance('virtualIP', 'virtualIPs')).toBe(1);
    expect(editDistance('keypath', 'keyPath')).toBe(0);
    expect(editDistance('', 'abc')).toBe(3);
  });
  it('suggests only close words', () => {
    expect(didYouMean('authPas', ['authPass', 'interface'])).toBe('authPass');
    expect(didYouMean('priority', ['authPass', 'interface'])).toBeUndefined();
  });
});

describe('formatting', () => {
  it('writes FILE:LINE:COL path: [warning: ]message; hint', () => {
    const d = {
      severity: 'warning' as const,
      rule: 'x',
      file: 'f.yaml',
      line: 3,
      col: 5,
      path: ['spec', 'hosts', 0, 'ssh'],
      message: 'm',
      hint: 'h',
    };
    expect(formatDiagnostic(d)).toBe('f.yaml:3:5 spec.hosts[0].ssh: warning: m; h');
    expect(formatDiagnostic({ ...d, severity: 'error', hint: undefined, path: [] })).toBe(
      'f.yaml:3:5 (document): m',
    );
  });
});

describe('redact', () => {
  it('blanks a secret in diagnostics with the placeholder the rest of the tool uses', () => {
    const d = (message: string, hint?: string) =>
      ({
        severity: 'error',
        rule: 'r',
        file: 'f.yaml',
        line: 1,
        col: 1,
        path: ['f'],
        message,
        hint,
      }) as const;
    const [out] = redactDiagnostics([d('got "hunter2" here', 'not hunter2 again')], ['hunter2']);
    expect(out).toMatchObject({ message: 'got "[REDACTED]" here', hint: 'not [REDACTED] again' });
    expect(redactDiagnostics([d('a.b*c (x)')], ['a.b*c'])[0]?.message).toBe('[REDACTED] (x)');
    // Not inside longer words: fragments of a broken authPass line must not blank field names.
    expect(redactDiagnostics([d('hunter22 and xhunter2')], ['hunter2'])[0]?.message).toBe(
      'hunter22 and xhunter2',
    );
  });

  it('finds authPass values in the document and, for broken YAML, on its lines; skips very short ones', () => {
    const text = 'a:\n  - authPass: "s3cret"\n  - authPass: abc\nb: [\n  authPass: \'br0ken\n';
    const found = authPassTexts(text, parseYaml(text).doc);
    expect(found).toEqual(expect.arrayContaining(['s3cret', '"s3cret"', 'br0ken']));
    expect(found).not.toContain('abc');
  });
});
