import { readFile } from 'node:fs/promises';
import * as z from 'zod';
import { LineCounter, parseDocument } from 'yaml';
import { ValidationError, toSystemError, validationErrorFromZod } from '@bulwark/errors';
import { DEFAULT_CONTROL_SOCKET, DEFAULT_HOOK_SOCKET } from '@bulwark/hook-client';
import { DEFAULT_DISCOVER_OPTIONS } from './discover.js';

const absolutePath = z.string().min(1).refine((value) => value.startsWith('/'), 'must be an absolute path');

export const agentConfigSchema = z.strictObject({
  hookSocket: absolutePath.default(DEFAULT_HOOK_SOCKET),
  controlSocket: absolutePath.default(DEFAULT_CONTROL_SOCKET),
  // The registry lists running containers, which do not outlive a reboot: it
  // belongs on /run (a tmpfs), where the fsync before each reply is cheap.
  stateFile: absolutePath.default('/run/bulwark/containers.json'),
  logFormat: z.enum(['json', 'text']).default('json'),
  scan: z
    .strictObject({
      enabled: z.boolean().default(true),
      runcRoots: z.array(absolutePath).default([...DEFAULT_DISCOVER_OPTIONS.runcRoots]),
      crunRoots: z.array(absolutePath).default([...DEFAULT_DISCOVER_OPTIONS.crunRoots]),
      podmanContainersFile: absolutePath.default(DEFAULT_DISCOVER_OPTIONS.podmanContainersFile!),
      /** How often records whose process is gone are swept out, in seconds; 0 turns it off. */
      sweepSeconds: z.number().int().min(0).max(86_400).default(30),
    })
    .prefault({}),
  limits: z
    .strictObject({
      maxConnections: z.number().int().min(1).max(10_000).default(256),
      idleTimeoutMs: z.number().int().min(100).max(600_000).default(5000),
      maxFrameBytes: z.number().int().min(1024).max(1024 * 1024).default(64 * 1024),
    })
    .prefault({}),
});
export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

/** Parses YAML configuration text; errors carry the line of the field at fault. */
export function parseAgentConfig(text: string, source: string): AgentConfig {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  if (document.errors.length > 0) {
    throw new ValidationError(
      source,
      document.errors.map((error) => ({
        path: '',
        message: error.message.split('\n')[0] ?? error.message,
        line: lineCounter.linePos(error.pos[0]).line,
      })),
    );
  }
  const value: unknown = document.toJS() ?? {};
  const parsed = agentConfigSchema.safeParse(value);
  if (!parsed.success) {
    // An unknown key is reported at the key itself, not at the object that holds it.
    const issues = parsed.error.issues.flatMap((issue): { path: PropertyKey[]; message: string }[] =>
      issue.code === 'unrecognized_keys' ? issue.keys.map((key) => ({ path: [...issue.path, key], message: `Unrecognized key: "${key}"` })) : [issue],
    );
    throw validationErrorFromZod(source, { issues }, (path) => {
      // The deepest node that exists tells the line; an absent key points at its parent.
      for (let length = path.length; length > 0; length--) {
        const node = document.getIn(path.slice(0, length), true) as { range?: [number, number, number] } | undefined;
        const pair = length > 0 ? findKeyNode(document, path.slice(0, length)) : undefined;
        const offset = pair ?? node?.range?.[0];
        if (offset !== undefined) return lineCounter.linePos(offset).line;
      }
      return undefined;
    });
  }
  return parsed.data;
}

function findKeyNode(document: ReturnType<typeof parseDocument>, path: readonly PropertyKey[]): number | undefined {
  const parent: unknown = path.length === 1 ? document.contents : document.getIn(path.slice(0, -1), true);
  const items = (parent as { items?: { key?: { value?: unknown; range?: [number, number, number] } }[] } | null)?.items;
  const key = path[path.length - 1];
  const pair = items?.find((item) => item.key?.value === key);
  return pair?.key?.range?.[0];
}

export async function loadAgentConfig(path: string | undefined): Promise<AgentConfig> {
  if (path === undefined) return agentConfigSchema.parse({});
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw toSystemError('read agent config', error, path);
  }
  return parseAgentConfig(text, path);
}
