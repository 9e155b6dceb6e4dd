import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Every path under `directory`, relative, directories with a trailing slash, sorted: what a test compares before and after. */
export async function listTree(directory: string, prefix = ''): Promise<string[]> {
  const paths: string[] = [];
  for (const entry of (await readdir(directory, { withFileTypes: true })).sort((left, right) => left.name.localeCompare(right.name))) {
    const relative = `${prefix}${entry.name}`;
    if (entry.isDirectory()) paths.push(`${relative}/`, ...(await listTree(join(directory, entry.name), `${relative}/`)));
    else paths.push(relative);
  }
  return paths;
}
