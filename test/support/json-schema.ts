/**
 * Checks a value against a published JSON Schema (`cplbctl schema`) with ajv, a JSON Schema
 * validator independent of the zod schema the file was generated from. Problems read
 * "<JSON pointer> <keyword>: <detail>"; for anyOf only the anyOf failure itself is kept (its
 * branches' own errors say nothing a reader needs).
 */
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';

const ajv = new Ajv2020({ allErrors: true, strict: false });

function detail(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return `unknown property "${String(p.additionalProperty)}"`;
    case 'required':
      return `missing required "${String(p.missingProperty)}"`;
    case 'type':
      return `not of type ${String(p.type)}`;
    default:
      return e.message ?? e.keyword;
  }
}

export function checkJsonSchema(schema: object, value: unknown): string[] {
  const validate = ajv.compile(schema);
  if (validate(value)) return [];
  const errors = validate.errors ?? [];
  const anyOfPaths = errors
    .filter((e) => e.keyword === 'anyOf')
    .map((e) => e.schemaPath.replace(/\/anyOf$/, '/anyOf/'));
  return errors
    .filter((e) => !anyOfPaths.some((p) => e.schemaPath.startsWith(p)))
    .map((e) => `${e.instancePath || '/'} ${e.keyword}: ${detail(e)}`);
}
