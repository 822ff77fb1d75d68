/**
 * load: file → (Cluster | diagnostics). Offline: reads one file and, for keyPath checks, stats
 * local files. Everything found is returned at once, errors and warnings, each pinned to a line.
 */
import { readFileSync } from 'node:fs';
import { CplbError } from '../core/errors.js';
import type { Diagnostic } from './diagnostics.js';
import { formatDiagnostic } from './diagnostics.js';
import { parseYaml, positionOf, type ParsedDocument } from './document.js';
import { buildCluster } from './build.js';
import { resolvedOf, type Reporter, type RuleInput } from './rule.js';
import { RULES } from './rules/index.js';
import { K0SCTL_API_VERSION, NATIVE_API_VERSION, k0sctlSchema, nativeSchema } from './schema.js';
import type { Cluster, DocPath } from './types.js';
import { schemaProblems, valueAt } from './zod-issues.js';
import { authPassTexts, redactDiagnostics } from './redact.js';

export interface LoadResult {
  cluster?: Cluster;
  diagnostics: Diagnostic[];
}

export function loadClusterText(text: string, file: string): LoadResult {
  const parsed = parseYaml(text);
  const found = findProblems(parsed, file);
  found.result.sort((a, b) => a.line - b.line || a.col - b.col);
  const diagnostics = redactDiagnostics(found.result, authPassTexts(text, parsed.doc));
  return found.input && !diagnostics.some((d) => d.severity === 'error')
    ? { cluster: buildCluster(file, found.input), diagnostics }
    : { diagnostics };
}

/** Every problem in the document; the rule input too when the file got as far as the rules. */
function findProblems(parsed: ParsedDocument, file: string): { result: Diagnostic[]; input?: RuleInput } {
  const result: Diagnostic[] = [];
  const add = (
    severity: Diagnostic['severity'],
    rule: string,
    path: DocPath,
    message: string,
    hint?: string,
    at?: 'value' | 'key' | 'parent',
  ) => {
    const pos = positionOf(parsed, path, at);
    result.push({ severity, rule, file, line: pos.line, col: pos.col, path, message, hint });
  };

  for (const e of parsed.syntaxErrors)
    result.push({
      severity: 'error',
      rule: 'yaml-syntax',
      file,
      ...e.pos,
      path: e.path,
      message: e.message,
      hint: e.hint,
    });
  if (result.length) return { result };

  const data = parsed.data;
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    const what =
      data === null || data === undefined
        ? 'the file is empty'
        : 'the file is not a YAML mapping (key: value lines)';
    add('error', 'document', [], what, 'start from the output of `cplbctl init`');
    return { result };
  }
  const apiVersion = (data as Record<string, unknown>).apiVersion;
  const format =
    apiVersion === NATIVE_API_VERSION ? 'native' : apiVersion === K0SCTL_API_VERSION ? 'k0sctl' : undefined;
  if (!format) {
    add(
      'error',
      'api-version',
      ['apiVersion'],
      apiVersion === undefined
        ? 'apiVersion is required'
        : `unknown apiVersion ${JSON.stringify(apiVersion)}`,
      `use ${NATIVE_API_VERSION} (cplbctl's format) or ${K0SCTL_API_VERSION} (a k0sctl.yaml)`,
      apiVersion === undefined ? 'parent' : 'value',
    );
    return { result };
  }

  const schema = format === 'native' ? nativeSchema : k0sctlSchema;
  const parsedSchema = schema.safeParse(data);
  if (!parsedSchema.success) {
    for (const p of schemaProblems(schema, data, parsedSchema.error.issues))
      add('error', 'schema', p.path, p.message, p.hint, p.at);
    return { result };
  }

  const input = ruleInputOf(format, parsedSchema.data, (path) => valueAt(data, path) !== undefined);
  const report = (rule: string): Reporter => ({
    error: (path, message, hint) => add('error', rule, path, message, hint),
    warn: (path, message, hint) => add('warning', rule, path, message, hint),
  });
  for (const rule of RULES) rule.check(input, report(rule.name));
  return { result, input };
}

function ruleInputOf(format: 'native' | 'k0sctl', file: unknown, isSet: RuleInput['isSet']): RuleInput {
  if (format === 'native') {
    const f = file as import('./schema.js').NativeFile;
    return {
      format,
      hosts: f.spec.hosts.map((input, i) => ({ input, path: ['spec', 'hosts', i] })),
      cplb: f.spec.controlPlaneLoadBalancing,
      resolved: resolvedOf(f.spec.controlPlaneLoadBalancing, undefined),
      paths: { hosts: ['spec', 'hosts'], cplb: ['spec', 'controlPlaneLoadBalancing'] },
      isSet,
      name: f.metadata?.name ?? 'cplb',
    };
  }
  const f = file as import('./schema.js').K0sctlFile;
  const spec = f.spec.k0s?.config?.spec;
  return {
    format,
    hosts: f.spec.hosts.map((input, i) => ({ input, path: ['spec', 'hosts', i] })),
    cplb: spec?.network?.controlPlaneLoadBalancing,
    resolved: resolvedOf(spec?.network?.controlPlaneLoadBalancing, spec?.api?.port),
    paths: {
      hosts: ['spec', 'hosts'],
      cplb: ['spec', 'k0s', 'config', 'spec', 'network', 'controlPlaneLoadBalancing'],
    },
    isSet,
    name: f.metadata?.name ?? 'k0s-cluster',
  } as RuleInput;
}

/** Loads a file; throws a CplbError (exit 2) listing every error when it is not valid. */
export function loadCluster(file: string): { cluster: Cluster; warnings: Diagnostic[] } {
  const { cluster, diagnostics } = loadClusterFile(file);
  if (!cluster) {
    const errors = diagnostics.filter((d) => d.severity === 'error');
    throw new CplbError(`${file} is not valid:\n${errors.map(formatDiagnostic).join('\n')}`, {
      code: 'CONFIG_INVALID',
      fault: 'config',
      hint: `run \`cplbctl validate ${file}\` for details`,
    });
  }
  return { cluster, warnings: diagnostics };
}

export function loadClusterFile(file: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CplbError(
      `${file}: ${code === 'ENOENT' ? 'no such file' : `cannot read: ${(err as Error).message}`}`,
      {
        code: 'CONFIG_NOT_FOUND',
        fault: 'config',
        hint:
          code === 'ENOENT' ? `write one with \`cplbctl init > ${file}\`, or name another file` : undefined,
        cause: err,
      },
    );
  }
  return loadClusterText(text, file);
}

export type { ParsedDocument };
