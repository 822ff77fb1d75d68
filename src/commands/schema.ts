import type { Command } from 'commander';
import { z } from 'zod';
import { nativeSchema } from '../config/schema.js';
import { eventsJsonSchema } from '../pipeline/index.js';

/** The JSON Schema of the native format, generated from the zod schema (the single source). */
export function jsonSchema(): object {
  return {
    $id: 'https://cplbctl.dev/schema/cplbctl-v1beta1.json',
    title: 'cplbctl cluster file (cplbctl/v1beta1)',
    ...z.toJSONSchema(nativeSchema, { io: 'input', target: 'draft-2020-12' }),
  };
}

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description(
      'Print the JSON Schema of the native cluster file format (--events: of the -o json event lines).',
    )
    .option('--events', 'the JSON Schema of the `-o json` event lines instead (a versioned contract)', false)
    .addHelpText(
      'after',
      '\nExamples:\n  cplbctl schema > cplbctl.schema.json\n  cplbctl schema --events > cplbctl-events.schema.json',
    )
    .action((opts: { events: boolean }) => {
      process.stdout.write(JSON.stringify(opts.events ? eventsJsonSchema() : jsonSchema(), null, 2) + '\n');
    });
}
