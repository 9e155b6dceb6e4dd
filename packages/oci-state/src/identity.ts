/**
 * Who a container is, from the annotations its runtime manager wrote into
 * config.json (and the OCI state). Which keys each manager writes:
 *
 * - CRI-O: `io.container.manager: cri-o`, `io.kubernetes.cri-o.*`
 *   (ContainerType, SandboxID, ImageName, ContainerName, and Labels, a JSON
 *   object holding the kubelet's `io.kubernetes.pod.*` and
 *   `io.kubernetes.container.name` labels), and the same labels as plain
 *   annotations.
 * - containerd's CRI plugin: `io.kubernetes.cri.*` (container-type,
 *   container-name, sandbox-id, sandbox-name, sandbox-namespace, sandbox-uid,
 *   image-name).
 * - podman 4 (observed with podman 4.3.1): `io.container.manager: libpod`,
 *   `io.podman.annotations.*` (autoremove, init, privileged, publish-all),
 *   `io.kubernetes.cri-o.Created`, `io.kubernetes.cri-o.TTY`,
 *   `org.opencontainers.image.stopSignal`; in a pod also
 *   `io.kubernetes.cri-o.ContainerType: container` and
 *   `io.kubernetes.cri-o.SandboxID` (the infra container's id, or the pod's
 *   id without one). Podman writes neither the container's nor the pod's
 *   name, even for `podman kube play`.
 *
 * Keys a runtime owns come before keys a pod's own annotations could also
 * set. Identity read from annotations is only as trustworthy as the runtime
 * manager that wrote them.
 */

export type ContainerRuntime = 'cri-o' | 'containerd' | 'podman' | 'unknown';

export interface ContainerNames {
  runtime: ContainerRuntime;
  /** The container's name (the Kubernetes container name where there is one). */
  name?: string;
  podName?: string;
  podNamespace?: string;
  podUid?: string;
  image?: string;
  /** The id of the pod sandbox (CRI-O, containerd) or of podman's infra container or pod. */
  sandboxId?: string;
  containerType?: 'container' | 'sandbox';
}

const kubernetes = {
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  podUid: 'io.kubernetes.pod.uid',
  containerName: 'io.kubernetes.container.name',
} as const;

const crio = {
  containerName: 'io.kubernetes.cri-o.ContainerName',
  containerType: 'io.kubernetes.cri-o.ContainerType',
  sandboxId: 'io.kubernetes.cri-o.SandboxID',
  imageName: 'io.kubernetes.cri-o.ImageName',
  labels: 'io.kubernetes.cri-o.Labels',
} as const;

const containerd = {
  containerName: 'io.kubernetes.cri.container-name',
  containerType: 'io.kubernetes.cri.container-type',
  sandboxId: 'io.kubernetes.cri.sandbox-id',
  sandboxName: 'io.kubernetes.cri.sandbox-name',
  sandboxNamespace: 'io.kubernetes.cri.sandbox-namespace',
  sandboxUid: 'io.kubernetes.cri.sandbox-uid',
  imageName: 'io.kubernetes.cri.image-name',
} as const;

const containerManager = 'io.container.manager';

/** Identifies the runtime manager and the container's names from its annotations. Never throws. */
export function identifyContainer(annotations: Record<string, string> | undefined): ContainerNames {
  const values = annotations ?? {};
  const get = (key: string): string | undefined => {
    const value = Object.hasOwn(values, key) ? values[key] : undefined;
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const manager = get(containerManager);
  const keys = Object.keys(values);

  if (manager === 'libpod') {
    return compact({
      runtime: 'podman',
      sandboxId: get(crio.sandboxId),
      containerType: toContainerType(get(crio.containerType)),
    });
  }

  if (manager === 'cri-o' || keys.some((key) => key.startsWith('io.kubernetes.cri-o.'))) {
    const labels = parseLabels(get(crio.labels));
    return compact({
      runtime: 'cri-o',
      name: labels[kubernetes.containerName] ?? get(kubernetes.containerName) ?? get(crio.containerName),
      podName: labels[kubernetes.podName] ?? get(kubernetes.podName),
      podNamespace: labels[kubernetes.podNamespace] ?? get(kubernetes.podNamespace),
      podUid: labels[kubernetes.podUid] ?? get(kubernetes.podUid),
      image: get(crio.imageName),
      sandboxId: get(crio.sandboxId),
      containerType: toContainerType(get(crio.containerType)),
    });
  }

  if (keys.some((key) => key.startsWith('io.kubernetes.cri.'))) {
    return compact({
      runtime: 'containerd',
      name: get(containerd.containerName),
      podName: get(containerd.sandboxName),
      podNamespace: get(containerd.sandboxNamespace),
      podUid: get(containerd.sandboxUid),
      image: get(containerd.imageName),
      sandboxId: get(containerd.sandboxId),
      containerType: toContainerType(get(containerd.containerType)),
    });
  }

  return compact({
    runtime: 'unknown',
    name: get(kubernetes.containerName),
    podName: get(kubernetes.podName),
    podNamespace: get(kubernetes.podNamespace),
    podUid: get(kubernetes.podUid),
  });
}

function toContainerType(value: string | undefined): 'container' | 'sandbox' | undefined {
  return value === 'container' || value === 'sandbox' ? value : undefined;
}

/** CRI-O's Labels annotation: a JSON object of strings. Anything else yields no labels. */
function parseLabels(text: string | undefined): Record<string, string | undefined> {
  if (text === undefined) return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
    const labels = Object.create(null) as Record<string, string | undefined>;
    for (const [key, value] of Object.entries(parsed)) {
      if (typeof value === 'string' && value !== '') labels[key] = value;
    }
    return labels;
  } catch {
    return {};
  }
}

type Loose<T> = { [K in keyof T]: T[K] | undefined };

/** Drops undefined properties, so the result satisfies exactOptionalPropertyTypes and compares cleanly. */
function compact(names: Loose<ContainerNames> & { runtime: ContainerRuntime }): ContainerNames {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(names)) {
    if (value !== undefined) result[key] = value;
  }
  return result as unknown as ContainerNames;
}
