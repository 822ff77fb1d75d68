/**
 * The `-o json` event lines as a versioned contract: one zod schema per event type, the source of
 * `cplbctl schema --events` (JSON Schema). Version 1; fields may be added within a version, a
 * field removed or renamed bumps it. json.ts writes the lines; a test checks every line the e2e
 * runs print against this schema.
 */
import { z } from 'zod';

export const EVENTS_SCHEMA_VERSION = 1;

const base = {
  time: z.iso.datetime().describe('When it happened (ISO 8601, UTC).'),
  level: z.enum(['debug', 'info', 'warn', 'error']),
  msg: z.string().describe('The line a person reads; logfmt prints the same text.'),
};
const inPhase = { phase: z.string().optional().describe('The phase title, when the event belongs to one.') };
const onHost = {
  host: z.string().optional().describe('Host.name (address:port); absent for the run as a whole.'),
};

const errorFields = {
  code: z.string().describe('Stable error code, e.g. HOST_LOCKED (scripts match on it).'),
  fault: z.enum(['config', 'usage', 'remote', 'unhealthy', 'internal', 'cancelled']),
  hint: z.string().optional().describe('What to do about it.'),
  causes: z.array(z.string()).optional().describe('Messages of the cause chain, outermost first.'),
};

const runStart = z.strictObject({
  type: z.literal('run-start'),
  ...base,
  schemaVersion: z.literal(EVENTS_SCHEMA_VERSION).describe('The version of this event contract.'),
  dryRun: z.boolean(),
  hosts: z.array(z.string()),
  phases: z.array(z.string()).describe('Every phase title in order, including ones that will be skipped.'),
  concurrency: z.number().int().min(1),
});

const phaseStart = z.strictObject({
  type: z.literal('phase-start'),
  ...base,
  phase: z.string(),
  index: z.number().int().min(0).describe('Position in run-start.phases.'),
  dryRun: z.boolean().describe("True when the phase's dry run runs instead of the phase."),
});

const phaseEnd = z.strictObject({
  type: z.literal('phase-end'),
  ...base,
  phase: z.string(),
  index: z.number().int().min(0),
  status: z.enum(['ok', 'failed', 'skipped']),
  durationMs: z.number().min(0),
  reason: z.string().optional().describe('Why a phase was skipped, e.g. "dry run: changes hosts".'),
});

const hostMessage = z.strictObject({
  type: z.literal('host-message'),
  ...base,
  ...inPhase,
  ...onHost,
  data: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))
    .optional()
    .describe(
      "Structured extras (logfmt prints them as keys). A verify --failover round line carries `round` and, when this machine reaches the VIP, each disruption sampler's figures: `disruptionNewSeconds`, `disruptionNewFailed`, `disruptionNewRequests`, and the same with `Reused`.",
    ),
});

const hostError = z.strictObject({
  type: z.literal('host-error'),
  ...base,
  ...inPhase,
  ...onHost,
  ...errorFields,
});

const runEnd = z.strictObject({
  type: z.literal('run-end'),
  ...base,
  ok: z.boolean(),
  dryRun: z.boolean(),
  durationMs: z.number().min(0),
  error: z.strictObject({ msg: z.string(), ...errorFields }).optional(),
  logFile: z.string().optional().describe('The debug log of this run, with every event.'),
});

/** `apply --dry-run -o json` ends with the plan's diff, after run-end (no time or level: a document). */
const planDiff = z.strictObject({
  type: z.literal('plan-diff'),
  hosts: z.array(
    z.strictObject({
      host: z.string(),
      files: z.array(
        z.strictObject({ path: z.string(), change: z.enum(['create', 'update', 'unchanged', 'unknown']) }),
      ),
      patch: z.string().describe('Unified diffs of the changed text files, secrets redacted.'),
      install: z.boolean(),
      action: z.enum(['none', 'start', 'restart', 'reload']),
      reason: z.string(),
    }),
  ),
  changedHosts: z.array(z.string()),
  rollout: z.strictObject({ mode: z.enum(['together', 'rolling']), reason: z.string() }),
});

/** `drain -o json` and `uncordon -o json` end with what they did and who holds each VIP now. */
const drainResult = z.strictObject({
  type: z.literal('drain-result'),
  action: z.enum(['drain', 'uncordon']),
  host: z.string().describe('Host.name (address:port) of the controller HOST named.'),
  changed: z.boolean().describe('False when the host already was drained (or not drained, for uncordon).'),
  vips: z.array(
    z.strictObject({
      vip: z.string(),
      instance: z.string(),
      holders: z.array(z.string()).describe('Host.name of each host holding it; exactly one when healthy.'),
    }),
  ),
  handOffMs: z
    .number()
    .min(0)
    .optional()
    .describe('drain: from writing the marker until no VIP was on the host and another held each.'),
});

export const eventLineSchema = z.discriminatedUnion('type', [
  runStart,
  phaseStart,
  phaseEnd,
  hostMessage,
  hostError,
  runEnd,
  planDiff,
  drainResult,
]);

export type EventLine = z.infer<typeof eventLineSchema>;

/** The JSON Schema `cplbctl schema --events` prints. */
export function eventsJsonSchema(): object {
  return {
    $id: `https://cplbctl.dev/schema/events-v${EVENTS_SCHEMA_VERSION}.json`,
    title: `cplbctl -o json event line (version ${EVENTS_SCHEMA_VERSION})`,
    ...z.toJSONSchema(eventLineSchema, { target: 'draft-2020-12' }),
  };
}
