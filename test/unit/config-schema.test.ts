/**
 * fixtures/cplbctl.schema.json is the committed output of `cplbctl schema` (editors point at it);
 * this fails when the zod schema changes without it. The valid native fixtures must also pass the
 * JSON Schema, checked with a small checker for the keywords it uses.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { jsonSchema } from '../../src/commands/schema.js';
import { checkJsonSchema } from '../support/json-schema.js';
import { REPO } from '../support/cli.js';

const COMMITTED = join(REPO, 'fixtures/cplbctl.schema.json');
const REGENERATE =
  'the JSON Schema drifted from the zod schema: run `npm run build && node bin/cplbctl.js schema > fixtures/cplbctl.schema.json` and commit it';

type Json = Record<string, unknown>;
const schema = jsonSchema() as Json;
const nativeFixtures = (dir: string) =>
  readdirSync(join(REPO, 'fixtures', dir))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => ({ f: `${dir}/${f}`, text: readFileSync(join(REPO, 'fixtures', dir, f), 'utf8') }))
    .filter(({ text }) => /^apiVersion: cplbctl\/v1beta1$/m.test(text));

describe('cplbctl schema', () => {
  it('matches the committed fixtures/cplbctl.schema.json byte for byte', () => {
    expect(readFileSync(COMMITTED, 'utf8'), REGENERATE).toBe(JSON.stringify(schema, null, 2) + '\n');
  });

  it('describes the k0s field names, their limits and defaults', () => {
    const props = ['spec', 'controlPlaneLoadBalancing', 'keepalived', 'vrrpInstances'];
    const list = props.reduce<Json>((node, key) => (node.properties as Record<string, Json>)[key]!, schema);
    const instance = list.items as {
      required: string[];
      additionalProperties: boolean;
      properties: Record<string, Json>;
    };
    expect(instance.required).toEqual(['virtualIPs', 'authPass']);
    expect(instance.additionalProperties).toBe(false);
    expect(instance.properties.advertIntervalSeconds?.default).toBe(1);
    expect(Object.keys(instance.properties)).toEqual([
      'virtualIPs',
      'authPass',
      'virtualRouterID',
      'advertIntervalSeconds',
      'interface',
      'unicastSourceIP',
      'unicastPeers',
      'addressLabel',
    ]);
    // k0s's uint32: 0 means the default (10000), 0xffffffff is left to rule address-label.
    expect(instance.properties.addressLabel).toMatchObject({
      type: 'integer',
      minimum: 0,
      maximum: 4294967295,
    });
    const keepalived = props
      .slice(0, 3)
      .reduce<Json>((node, key) => (node.properties as Record<string, Json>)[key]!, schema);
    expect(Object.keys(keepalived.properties as object)).toEqual(
      expect.arrayContaining(['configTemplateVRRP', 'configTemplateVS']),
    );
  });

  it.each(nativeFixtures('valid'))('accepts the valid fixture $f', ({ text }) => {
    expect(checkJsonSchema(schema, parse(text))).toEqual([]);
  });

  it('rejects what the schema layer rejects: unknown keys, wrong types, missing fields, bad enums', () => {
    const problems = (name: string) =>
      checkJsonSchema(schema, parse(readFileSync(join(REPO, 'fixtures/invalid', name), 'utf8')));
    expect(problems('unknown-key-did-you-mean.yaml')).toContain(
      '/spec/controlPlaneLoadBalancing/keepalived/vrrpInstances/0 additionalProperties: unknown property "virtualIP"',
    );
    expect(problems('wrong-type-port-string.yaml')).toEqual([
      '/spec/hosts/2/ssh/port type: not of type integer',
    ]);
    expect(problems('missing-authpass.yaml')).toEqual([
      '/spec/controlPlaneLoadBalancing/keepalived/vrrpInstances/0 required: missing required "authPass"',
    ]);
    expect(problems('role-unknown.yaml')).toEqual([
      '/spec/hosts/2/role enum: must be equal to one of the allowed values',
    ]);
    expect(problems('vrrp-version-unknown.yaml')).toEqual([
      '/spec/controlPlaneLoadBalancing/keepalived/vrrpVersion anyOf: must match a schema in anyOf',
    ]);
  });
});
