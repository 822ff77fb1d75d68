/**
 * The build stamp scripts/build-agent.mjs puts into the bundle ($CPLB_AGENT_BUILD_STAMP, by esbuild's
 * define): two builds of one version that differ, for an operator (status, metrics) and for the
 * upgrade test. Unstamped builds (the default, and the sources run by tsx) say undefined, so a plain
 * `npm run build` stays byte-for-byte reproducible and an unchanged agent is never re-uploaded.
 */
declare const CPLB_AGENT_BUILD_STAMP: string | undefined;

export const BUILD_STAMP: string | undefined =
  typeof CPLB_AGENT_BUILD_STAMP === 'string' && CPLB_AGENT_BUILD_STAMP !== ''
    ? CPLB_AGENT_BUILD_STAMP
    : undefined;
