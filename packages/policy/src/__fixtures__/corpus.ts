/**
 * The shared test corpora (../shared/corpus beside the checkout, as CI lays
 * it out), found from this file so that the checkout's own path does not
 * matter. BULWARK_CORPUS names another place.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';

const root = resolve(fileURLToPath(new URL('../../../../', import.meta.url)));

export function corpusPath(...parts: string[]): string {
  const base = process.env.BULWARK_CORPUS ?? join(root, '..', 'shared', 'corpus');
  const path = join(base, ...parts);
  if (!existsSync(path)) throw new Error(`test corpus missing: ${path} (set BULWARK_CORPUS to the shared corpus directory)`);
  return path;
}
