import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface HookLog {
  write(record: Record<string, unknown>): void;
}

/**
 * JSON lines appended to a file, one write per record (O_APPEND keeps
 * concurrent hooks' lines whole). A log that cannot be written never changes
 * the hook's verdict.
 */
export function createHookLog(path: string): HookLog {
  if (path === '') return { write: () => undefined };
  return {
    write(record) {
      const line = `${JSON.stringify({ time: new Date().toISOString(), pid: process.pid, ...record })}\n`;
      try {
        appendFileSync(path, line, { mode: 0o600 });
      } catch {
        try {
          mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
          appendFileSync(path, line, { mode: 0o600 });
        } catch {
          // Nowhere to log; the verdict stands.
        }
      }
    },
  };
}
