import type { ContainerReport, HookStage } from './protocol.js';

/**
 * Builds the report a hook (or the agent's start-up scan) sends about a
 * container. The inputs are structural, shaped like @bulwark/oci-state's
 * state and config and @bulwark/procfs's snapshot, so this package depends
 * on neither.
 */
export interface ReportInput {
  readonly state: {
    readonly id: string;
    readonly status: string;
    readonly bundle: string;
    readonly pid?: number | undefined;
  };
  readonly stage: HookStage;
  readonly config?: {
    readonly process?: {
      readonly args?: readonly string[] | undefined;
      readonly apparmorProfile?: string | undefined;
      readonly selinuxLabel?: string | undefined;
      readonly noNewPrivileges?: boolean | undefined;
    } | undefined;
    readonly root?: { readonly path?: string | undefined } | undefined;
    readonly linux?: { readonly cgroupsPath?: string | undefined } | undefined;
  } | undefined;
  readonly names: {
    readonly runtime: string;
    readonly name?: string | undefined;
    readonly podName?: string | undefined;
    readonly podNamespace?: string | undefined;
    readonly podUid?: string | undefined;
    readonly image?: string | undefined;
    readonly sandboxId?: string | undefined;
    readonly containerType?: string | undefined;
  };
  readonly annotations?: Readonly<Record<string, string>> | undefined;
  readonly snapshot?: {
    readonly identity: {
      readonly startTime: bigint;
      readonly comm: string;
      readonly exe?: string | undefined;
      readonly uids: { readonly effective: number };
      readonly noNewPrivs: boolean;
      readonly seccomp: 'disabled' | 'strict' | 'filter';
      readonly capabilities: { readonly effective: bigint };
    };
    readonly namespaces: Readonly<Partial<Record<string, { readonly device: number; readonly inode: number }>>>;
    readonly cgroup: { readonly path: string; readonly id?: bigint | undefined };
    readonly lsmLabel?: string | undefined;
  } | undefined;
}

const nameKeys = ['name', 'podName', 'podNamespace', 'podUid', 'image', 'sandboxId', 'containerType'] as const;
const namespaceKeys = ['mnt', 'pid', 'net', 'user', 'uts', 'ipc', 'cgroup', 'time'] as const;

function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as T;
}

export function buildContainerReport(input: ReportInput): ContainerReport {
  const { state, config, snapshot } = input;
  const process = config?.process;
  const names: ContainerReport['names'] = { runtime: input.names.runtime };
  for (const key of nameKeys) {
    const value = input.names[key];
    if (value !== undefined) names[key] = value;
  }
  const report: ContainerReport = defined({
    id: state.id,
    stage: input.stage,
    status: state.status,
    bundle: state.bundle,
    pid: state.pid,
    names,
    annotations: input.annotations === undefined || Object.keys(input.annotations).length === 0 ? undefined : { ...input.annotations },
    config:
      config === undefined
        ? undefined
        : defined({
            args: process?.args?.slice(0, 256),
            rootfs: config.root?.path,
            cgroupsPath: config.linux?.cgroupsPath,
            apparmorProfile: process?.apparmorProfile,
            selinuxLabel: process?.selinuxLabel,
            noNewPrivileges: process?.noNewPrivileges,
          }),
  });
  if (snapshot !== undefined) {
    const identity = snapshot.identity;
    report.process = defined({
      startTime: identity.startTime.toString(),
      comm: identity.comm,
      exe: identity.exe,
      uid: identity.uids.effective,
      noNewPrivs: identity.noNewPrivs,
      seccomp: identity.seccomp,
      capabilitiesEffective: identity.capabilities.effective.toString(),
    });
    const namespaces: NonNullable<ContainerReport['namespaces']> = {};
    for (const key of namespaceKeys) {
      const id = snapshot.namespaces[key];
      if (id !== undefined) namespaces[key] = { device: id.device, inode: id.inode };
    }
    report.namespaces = namespaces;
    report.cgroup = defined({ path: snapshot.cgroup.path, id: snapshot.cgroup.id?.toString() });
    if (snapshot.lsmLabel !== undefined) report.lsmLabel = snapshot.lsmLabel;
  }
  return report;
}
