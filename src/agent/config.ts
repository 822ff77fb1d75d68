/** Reads the agent's settings file; its schema is the host contract's (src/contract/agent-config.ts). */
import { readFile } from 'node:fs/promises';
import { hashConfigText, parseAgentConfig, type AgentConfig } from '../contract/agent-config.js';

export interface LoadedAgentConfig {
  config: AgentConfig;
  hash: string;
}

export async function loadAgentConfig(path: string): Promise<LoadedAgentConfig> {
  const text = await readFile(path, 'utf8');
  return { config: parseAgentConfig(text, path), hash: hashConfigText(text) };
}
