import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileBpf } from '../scripts/build-bpf.ts';

const sources = fileURLToPath(new URL('bpf', import.meta.url));

describe('building the BPF programs', () => {
  it('gives the same bytes wherever the checkout is, with no path in them', () => {
    const first = mkdtempSync(join(tmpdir(), 'bulwark-build-a-'));
    const second = mkdtempSync(join(tmpdir(), 'bulwark-build-b-'));
    try {
      cpSync(sources, join(second, 'elsewhere', 'bpf'), { recursive: true });
      compileBpf(join(sources, 'test-tracepoint.bpf.c'), join(first, 'out.o'));
      compileBpf(join(second, 'elsewhere', 'bpf', 'test-tracepoint.bpf.c'), join(second, 'out.o'));
      const bytes = readFileSync(join(first, 'out.o'));
      expect(bytes.equals(readFileSync(join(second, 'out.o')))).toBe(true);
      expect(bytes.includes(sources)).toBe(false);
      expect(bytes.includes('./test-tracepoint.bpf.c')).toBe(true);
      // BTF, which CO-RE and the kernel's line info need, survives the strip.
      expect(bytes.includes('.BTF')).toBe(true);
    } finally {
      rmSync(first, { recursive: true, force: true });
      rmSync(second, { recursive: true, force: true });
    }
  });
});
