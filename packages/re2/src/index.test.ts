import { describe, expect, it } from 'vitest';
import * as re2 from './index.js';

describe('package entry', () => {
  it('exports the public API and nothing else', () => {
    expect(Object.keys(re2).sort()).toEqual(['PatternError', 'compileRe2', 'maximumPatternLength']);
  });
});
