/**
 * @bulwark/policy: a KubeArmorPolicy checked, selected for a container,
 * compiled into the enforcer's rules, and explained, with three operations
 * decided. Run: node examples/policy-explain.ts
 */
import { compilePolicies, encodeCompiled, explain, formatExplanation, parsePolicies, parseQuery } from '@bulwark/policy';

const text = `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: protect-shadow
  namespace: shop
spec:
  severity: 7
  selector:
    matchLabels:
      app: nginx
  file:
    matchPaths:
    - path: /etc/shadow
    matchDirectories:
    - dir: /var/www/
      recursive: true
      readOnly: true
  process:
    matchPaths:
    - path: /usr/bin/curl
  action: Block
`;

const { policies, errors } = parsePolicies(text, 'protect-shadow.yaml');
for (const error of errors) console.error(error.message);
const compiled = compilePolicies(policies, { kind: 'container', name: 'web', namespace: 'shop', labels: { app: 'nginx' } });
const checks = ['read /etc/shadow from /bin/cat', 'write /var/www/index.html', 'read /var/www/index.html', 'exec /usr/bin/curl from /bin/sh'];
process.stdout.write(formatExplanation(explain(compiled, checks.map(parseQuery))));
console.log(`${encodeCompiled(compiled).length} enforcer map entries`);
