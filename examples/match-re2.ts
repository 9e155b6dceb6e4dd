/**
 * Does a Go RE2 pattern match? Each text is tested anywhere (as Go's
 * regexp.MatchString) and whole (as a KubeArmor selector value is); a
 * refused pattern prints Go's reason.
 *
 *   node examples/match-re2.ts PATTERN TEXT [TEXT ...]
 *   node examples/match-re2.ts 'ubuntu-[0-9]+' ubuntu-22 xubuntu-22-lts
 */
import { BulwarkError, describeError } from '@bulwark/errors';
import { compileRe2 } from '@bulwark/re2';

const [pattern, ...texts] = process.argv.slice(2);
if (pattern === undefined || texts.length === 0) {
  process.stderr.write('usage: node examples/match-re2.ts PATTERN TEXT [TEXT ...]\n');
  process.exit(2);
}
try {
  const anywhere = compileRe2(pattern);
  const whole = compileRe2(pattern, { anchored: 'full' });
  for (const text of texts) {
    process.stdout.write(`${JSON.stringify(text)}: anywhere ${anywhere.test(text)}, whole ${whole.test(text)}\n`);
  }
} catch (error) {
  if (!BulwarkError.is(error, 'ERR_VALIDATION')) throw error;
  process.stderr.write(`${describeError(error)}\n`);
  process.exit(1);
}
