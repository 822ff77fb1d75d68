/**
 * Checks `-o json` event lines against the JSON Schema `cplbctl schema --events` publishes, with
 * ajv (a JSON Schema validator, not the zod schema it was generated from), so the published file
 * itself is what the lines are held to.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { eventsJsonSchema } from '../../src/pipeline/index.js';

const ajv = new Ajv2020({ allErrors: true, strict: false });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
const validate = ajv.compile(eventsJsonSchema());

/** Problems of every event line in `text` (lines that are JSON objects with a `type`), and how many were checked. */
export function checkEventLines(text: string): { checked: number; problems: string[] } {
  const problems: string[] = [];
  let checked = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('{"type":')) continue;
    checked++;
    if (!validate(JSON.parse(line)))
      problems.push(`${line.slice(0, 120)}: ${ajv.errorsText(validate.errors)}`);
  }
  return { checked, problems };
}
