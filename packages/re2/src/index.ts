export { compileRe2, maximumPatternLength, type Re2Options, type Re2Pattern } from './compile.js';
export { PatternError } from './pattern-error.js';
