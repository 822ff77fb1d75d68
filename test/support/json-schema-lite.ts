/**
 * A small JSON Schema checker for the keywords `cplbctl schema` emits (no ajv in this project):
 * type, const, enum, anyOf, properties, required, additionalProperties: false, items, minItems,
 * minLength, pattern, minimum, maximum, exclusiveMinimum. Returns the problems as "path: what".
 */
type Schema = Record<string, unknown>;

function typeOk(type: string, v: unknown): boolean {
  switch (type) {
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    case 'integer':
      return Number.isInteger(v);
    case 'null':
      return v === null;
    default:
      return typeof v === type;
  }
}

export function checkJsonSchema(schema: Schema, value: unknown, path = '$'): string[] {
  const out: string[] = [];
  const fail = (what: string) => out.push(`${path}: ${what}`);
  if (typeof schema.type === 'string' && !typeOk(schema.type, value))
    return [`${path}: not of type ${schema.type}`];
  if ('const' in schema && value !== schema.const) fail(`not ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value))
    fail(`not one of ${JSON.stringify(schema.enum)}`);
  if (
    Array.isArray(schema.anyOf) &&
    !schema.anyOf.some((s) => checkJsonSchema(s as Schema, value, path).length === 0)
  )
    fail('matches none of anyOf');
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && value.length < schema.minLength)
      fail(`shorter than ${schema.minLength}`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value))
      fail(`does not match ${schema.pattern}`);
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) fail(`below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) fail(`above ${schema.maximum}`);
    if (typeof schema.exclusiveMinimum === 'number' && value <= schema.exclusiveMinimum)
      fail(`not above ${schema.exclusiveMinimum}`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems)
      fail(`fewer than ${schema.minItems} items`);
    if (schema.items)
      value.forEach((item, i) => out.push(...checkJsonSchema(schema.items as Schema, item, `${path}[${i}]`)));
  }
  if (typeOk('object', value)) {
    const obj = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const key of (schema.required ?? []) as string[])
      if (!(key in obj)) fail(`missing required "${key}"`);
    for (const [key, v] of Object.entries(obj)) {
      if (props[key]) out.push(...checkJsonSchema(props[key], v, `${path}.${key}`));
      else if (schema.additionalProperties === false) fail(`unknown property "${key}"`);
    }
  }
  return out;
}
