/** Turns zod issues into file-pinned diagnostics with plain advice ("did you mean ...?"). */
import type { z } from 'zod';
import { didYouMean } from './diagnostics.js';
import type { DocPath } from './types.js';

export interface SchemaProblem {
  path: DocPath;
  atKey: boolean;
  message: string;
  hint?: string;
}

/** The keys an object schema accepts at `path`, for suggestions; [] when unknown. */
export function knownKeysAt(schema: z.ZodType, path: DocPath): string[] {
  let s: unknown = schema;
  const walk = (x: unknown): Record<string, unknown> => (x as { _zod: { def: Record<string, unknown> } })._zod.def;
  const unwrap = () => {
    for (;;) {
      const def = walk(s);
      if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable' || def.type === 'prefault') s = def.innerType;
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

function valueAt(data: unknown, path: DocPath): unknown {
  let v = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

export function schemaProblems(schema: z.ZodType, data: unknown, issues: z.core.$ZodIssue[]): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  for (const issue of issues) {
    const path = issue.path as (string | number)[];
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(schema, path);
      for (const key of issue.keys) {
        const guess = didYouMean(key, known);
        out.push({
          path: [...path, key],
          atKey: true,
          message: `unknown field "${key}"`,
          hint: guess ? `did you mean "${guess}"?` : known.length ? `remove it; known fields here: ${known.join(', ')}` : 'remove it',
        });
      }
      continue;
    }
    const key = path[path.length - 1];
    if (valueAt(data, path) === undefined && issue.code === 'invalid_type') {
      out.push({ path, atKey: false, message: `${String(key ?? 'value')} is required`, hint: requiredHint(String(key)) });
      continue;
    }
    if (issue.code === 'invalid_union' || (issue.code === 'invalid_value' && key === 'apiVersion')) {
      out.push({ path, atKey: false, message: issue.message });
      continue;
    }
    out.push({ path, atKey: false, message: issue.message, hint: fixHint(issue) });
  }
  return out;
}

function requiredHint(key: string): string | undefined {
  switch (key) {
    case 'authPass':
      return 'set a password of 1 to 8 characters, the same on every controller';
    case 'virtualIPs':
      return 'list the VIPs as CIDRs, e.g. ["192.168.122.200/24"]';
    case 'address':
      return 'set the host name or IP address to connect to';
    case 'role':
      return 'set role: controller (or controller+worker, worker)';
    case 'ipAddress':
      return 'set one of the VIPs, without prefix length';
    case 'hosts':
      return 'list the controllers under spec.hosts';
    case 'spec':
      return 'add a spec with hosts and controlPlaneLoadBalancing';
    default:
      return undefined;
  }
}

function fixHint(issue: z.core.$ZodIssue): string | undefined {
  if (issue.code === 'invalid_type') return `write a ${issue.expected}`;
  return undefined;
}
