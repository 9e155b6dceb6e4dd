import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { identifyContainer } from './identity.js';

const annotations = (name: string) =>
  JSON.parse(readFileSync(new URL(`__fixtures__/${name}`, import.meta.url), 'utf8')) as Record<string, string>;
const configAnnotations = (name: string) => (JSON.parse(readFileSync(new URL(`__fixtures__/${name}`, import.meta.url), 'utf8')) as { annotations: Record<string, string> }).annotations;

const uid = '6f1d9a53-5c2e-4f7b-9f43-2d3c1b0a9e87';
const sandboxId = 'e1b2c3d4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2';

describe('identifyContainer', () => {
  it('identifies a CRI-O container', () => {
    expect(identifyContainer(annotations('cri-o-container.annotations.json'))).toEqual({
      runtime: 'cri-o',
      name: 'nginx',
      podName: 'web-0',
      podNamespace: 'shop',
      podUid: uid,
      image: 'docker.io/library/nginx:1.27',
      sandboxId,
      containerType: 'container',
    });
  });

  it('identifies a CRI-O sandbox, named as CRI-O names it', () => {
    expect(identifyContainer(annotations('cri-o-sandbox.annotations.json'))).toEqual({
      runtime: 'cri-o',
      name: `k8s_POD_web-0_shop_${uid}_0`,
      podName: 'web-0',
      podNamespace: 'shop',
      podUid: uid,
      sandboxId,
      containerType: 'sandbox',
    });
  });

  it('prefers CRI-O labels over plain annotations a pod could also set', () => {
    const values = { ...annotations('cri-o-container.annotations.json'), 'io.kubernetes.pod.namespace': 'kube-system' };
    expect(identifyContainer(values).podNamespace).toBe('shop');
  });

  it('falls back to plain annotations when the CRI-O labels are unreadable', () => {
    const values = { ...annotations('cri-o-container.annotations.json'), 'io.kubernetes.cri-o.Labels': '{not json' };
    expect(identifyContainer(values)).toMatchObject({ name: 'nginx', podName: 'web-0', podNamespace: 'shop' });
  });

  it('recognises CRI-O from its keys alone', () => {
    expect(identifyContainer({ 'io.kubernetes.cri-o.ContainerName': 'k8s_app_p_ns_u_0' })).toEqual({
      runtime: 'cri-o',
      name: 'k8s_app_p_ns_u_0',
    });
  });

  it('identifies a containerd CRI container', () => {
    expect(identifyContainer(annotations('containerd-container.annotations.json'))).toEqual({
      runtime: 'containerd',
      name: 'nginx',
      podName: 'web-0',
      podNamespace: 'shop',
      podUid: uid,
      image: 'docker.io/library/nginx:1.27',
      sandboxId,
      containerType: 'container',
    });
  });

  it('identifies a containerd sandbox', () => {
    expect(identifyContainer(annotations('containerd-sandbox.annotations.json'))).toEqual({
      runtime: 'containerd',
      podName: 'web-0',
      podNamespace: 'shop',
      podUid: uid,
      sandboxId,
      containerType: 'sandbox',
    });
  });

  it('identifies a podman container (real podman 4.3.1 annotations)', () => {
    expect(identifyContainer(configAnnotations('podman-run.config.json'))).toEqual({ runtime: 'podman' });
  });

  it('identifies a podman pod container, which CRI-O keys would mistake for CRI-O', () => {
    const values = configAnnotations('podman-kube.config.json');
    expect(values['io.kubernetes.cri-o.SandboxID']).toBeDefined();
    expect(identifyContainer(values)).toEqual({
      runtime: 'podman',
      sandboxId: values['io.kubernetes.cri-o.SandboxID'],
      containerType: 'container',
    });
  });

  it('returns unknown for plain runc and for no annotations', () => {
    expect(identifyContainer(configAnnotations('runc.config.json'))).toEqual({ runtime: 'unknown' });
    expect(identifyContainer(undefined)).toEqual({ runtime: 'unknown' });
    expect(identifyContainer({})).toEqual({ runtime: 'unknown' });
  });

  it('reads generic Kubernetes keys for an unknown manager', () => {
    expect(identifyContainer({ 'io.kubernetes.pod.name': 'p', 'io.kubernetes.container.name': 'c' })).toEqual({
      runtime: 'unknown',
      name: 'c',
      podName: 'p',
    });
  });

  it('ignores empty values and unknown container types', () => {
    expect(identifyContainer({ 'io.kubernetes.cri.container-name': '', 'io.kubernetes.cri.container-type': 'vm' })).toEqual({
      runtime: 'containerd',
    });
  });

  it('is not fooled by prototype keys', () => {
    const values = JSON.parse('{"io.kubernetes.cri-o.Labels": "{\\"__proto__\\": \\"x\\", \\"io.kubernetes.pod.name\\": \\"p\\"}"}') as Record<string, string>;
    expect(identifyContainer(values)).toEqual({ runtime: 'cri-o', podName: 'p' });
    expect(identifyContainer({ constructor: 'x' })).toEqual({ runtime: 'unknown' });
  });
});
