import { join } from 'node:path';
import { stringify } from 'yaml';

/**
 * Addresses of the one node a machine runs at a time (a host-wide lock guards them). All come
 * from 198.18.0.0/15 (RFC 2544 benchmark networks) so nothing collides with a real network, and
 * the node IP sits on `lo` as a /32: loopback itself is refused as a node IP, and no dummy link
 * type is available here.
 */
export const NODE_NETWORK = {
  nodeName: 'mr-node',
  nodeIp: '198.18.0.2',
  podCidr: '198.18.1.0/24',
  serviceCidr: '198.19.0.0/24',
  bridge: 'mr-node0',
  cniNetwork: 'mr-node',
  /** our own mangle chain that keeps pod traffic on this machine */
  egressChain: 'MR-NODE-EGRESS',
  /** our own filter chain that keeps pods off the kubelet's API (it allows anonymous callers) */
  inputChain: 'MR-NODE-INPUT',
} as const;

export interface NodeLayout {
  dir: string;
  containerdRoot: string;
  containerdState: string;
  containerdSocket: string;
  runcRoot: string;
  cniConfDir: string;
  cniIpamDir: string;
  kubeletRoot: string;
  podLogsDir: string;
  pvDir: string;
  kubeconfig: string;
  resolvConf: string;
  cleanupScript: string;
}

export function nodeLayout(dir: string): NodeLayout {
  const node = join(dir, 'node');
  return {
    dir: node,
    containerdRoot: join(node, 'containerd', 'root'),
    containerdState: join(node, 'containerd', 'state'),
    containerdSocket: join(node, 'containerd', 'containerd.sock'),
    runcRoot: join(node, 'containerd', 'runc'),
    cniConfDir: join(node, 'cni'),
    cniIpamDir: join(node, 'cni-ipam'),
    kubeletRoot: join(node, 'kubelet'),
    podLogsDir: join(node, 'pod-logs'),
    pvDir: join(node, 'pv'),
    kubeconfig: join(dir, 'kubeconfig'),
    resolvConf: join(node, 'resolv.conf'),
    cleanupScript: join(dir, 'node-cleanup.sh'),
  };
}

export function buildContainerdConfig(layout: NodeLayout, sandboxImage: string): string {
  const q = JSON.stringify;
  return `version = 2
root = ${q(layout.containerdRoot)}
state = ${q(layout.containerdState)}
# nothing but the CRI and what it needs
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = ${q(layout.containerdSocket)}

[ttrpc]
  address = ${q(`${layout.containerdSocket}.ttrpc`)}

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(sandboxImage)}
  # runc cannot lower oom_score_adj without CAP_SYS_RESOURCE: every sandbox would fail
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "/usr/sbin/runc"
        Root = ${q(layout.runcRoot)}
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = ${q(layout.cniConfDir)}
    max_conf_num = 1
`;
}

/** bridge + host-local + portmap; no ipMasq: pod traffic is never NATed onto another interface. */
export function buildCniConfig(layout: NodeLayout): string {
  return `${JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: NODE_NETWORK.cniNetwork,
      plugins: [
        {
          type: 'bridge',
          bridge: NODE_NETWORK.bridge,
          isGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: layout.cniIpamDir,
            ranges: [[{ subnet: NODE_NETWORK.podCidr }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  )}\n`;
}

export interface KubeletPorts {
  port: number;
  healthzPort: number;
}

export function buildKubeletConfig(layout: NodeLayout, ports: KubeletPorts): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: NODE_NETWORK.nodeIp,
    port: ports.port,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: ports.healthzPort,
    // The API server calls the kubelet (logs, exec, port-forward) without a client certificate;
    // the kubelet listens on the node IP, which exists on this machine's loopback only.
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
    authorization: { mode: 'AlwaysAllow' },
    containerRuntimeEndpoint: `unix://${layout.containerdSocket}`,
    cgroupDriver: 'cgroupfs',
    failCgroupV1: false,
    failSwapOn: false,
    enforceNodeAllocatable: [],
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: { 'memory.available': '50Mi', 'nodefs.available': '1%', 'nodefs.inodesFree': '1%', 'imagefs.available': '1%' },
    podLogsDir: layout.podLogsDir,
    // pods get a resolver that answers nothing rather than the host's, so no lookup leaves the machine
    resolvConf: layout.resolvConf,
    clusterDomain: 'cluster.local',
    podCIDR: NODE_NETWORK.podCidr,
    maxPods: 60,
    serializeImagePulls: false,
    // the kubelet sets these host sysctls otherwise too; the cleanup script restores them
    protectKernelDefaults: false,
    staticPodPath: '',
    registerNode: true,
    nodeStatusReportFrequency: '10s',
    syncFrequency: '10s',
    fileCheckFrequency: '60s',
    shutdownGracePeriod: '0s',
    containerLogMaxSize: '5Mi',
  });
}

export interface KubeProxyPorts {
  healthzPort: number;
  metricsPort: number;
}

export function buildKubeProxyConfig(layout: NodeLayout, ports: KubeProxyPorts): string {
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'iptables',
    clientConnection: { kubeconfig: layout.kubeconfig },
    hostnameOverride: NODE_NETWORK.nodeName,
    bindAddress: NODE_NETWORK.nodeIp,
    healthzBindAddress: `127.0.0.1:${ports.healthzPort}`,
    metricsBindAddress: `127.0.0.1:${ports.metricsPort}`,
    clusterCIDR: NODE_NETWORK.podCidr,
    // the node IP only: with loopback in the list kube-proxy turns on route_localnet
    nodePortAddresses: [`${NODE_NETWORK.nodeIp}/32`],
    // zero leaves the host's conntrack sysctls alone
    conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    iptables: { syncPeriod: '10s', minSyncPeriod: '0s', masqueradeAll: false },
  });
}

/** Host state read before the node starts, so the cleanup puts exactly that back. */
export interface HostBaseline {
  sysctls: Record<string, string>;
  /** host paths the node may create; removed by the cleanup only when they did not exist before */
  absentPaths: string[];
  /** the /run/netns entries that existed before */
  netnsBefore: string[];
  /** cgroup controller folders (e.g. /sys/fs/cgroup/memory) that had no kubepods tree before */
  cgroupRoots: string[];
  /** the host-wide node lock and the pid that holds it */
  lock: { dir: string; ownerPid: number };
}

/** Every sysctl the kubelet, kube-proxy or the bridge plugin may change here. */
export const TOUCHED_SYSCTLS = [
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
  'net.ipv4.ip_forward',
  'net.ipv4.conf.all.route_localnet',
] as const;

/** Host paths something on the node creates when missing (containerd's shim sockets, CNI's cache, netns). */
export const CREATED_HOST_PATHS = ['/run/containerd', '/var/lib/cni', '/run/netns', '/var/log/containers', '/var/log/pods'] as const;

function sh(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The one teardown of a node's host changes, run by stop(), by the exit handler and by the
 * watchdog when the test process dies: containers (through runc), shims, mounts under the run's
 * folder, network namespaces the run made, the bridge, every KUBE-/CNI- chain and ours (v4 and
 * v6), the lo address, sysctls and cgroups. Each step tolerates what is already gone.
 */
export function buildCleanupScript(layout: NodeLayout, baseline: HostBaseline): string {
  const lines = [
    '#!/bin/sh',
    '# generated by test/control-plane/node-config.ts; safe to run more than once',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    `dir=${sh(layout.dir)}`,
    `sock=${sh(layout.containerdSocket)}`,
    `runc_root=${sh(layout.runcRoot)}`,
    '# containers first (their shims would otherwise keep them), then the shims of this containerd',
    '# the shim runs runc with --root <Root>/<containerd namespace>',
    'for r in "$runc_root"/*; do',
    '  [ -d "$r" ] || continue',
    '  for id in $(runc --root "$r" list -q 2>/dev/null); do runc --root "$r" delete --force "$id" >/dev/null 2>&1; done',
    'done',
    '# anything still in the pods\' cgroups (a container runc no longer knows of)',
    ...baseline.cgroupRoots.map((root) => `[ -d ${sh(`${root}/kubepods`)} ] && find ${sh(`${root}/kubepods`)} -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null`),
    'for p in /proc/[0-9]*; do',
    '  case "$(tr "\\0" " " < "$p/cmdline" 2>/dev/null)" in',
    '    *containerd-shim*"-address $sock "*) kill -9 "${p#/proc/}" 2>/dev/null ;;',
    '  esac',
    'done',
    '# network namespaces this run made (they hold the pods\' veths)',
    `before=${sh(` ${baseline.netnsBefore.join(' ')} `)}`,
    'for ns in /run/netns/cni-*; do',
    '  [ -e "$ns" ] || continue',
    '  case "$before" in *" ${ns##*/} "*) continue ;; esac',
    '  umount "$ns" 2>/dev/null; rm -f "$ns"',
    'done',
    '# mounts under the run folder, deepest first: the kubelet root bind mount, volumes, rootfs overlays, shm',
    'for m in $(awk -v d="$dir" \'index($5, d) == 1 { print $5 }\' /proc/self/mountinfo | sort -r); do umount -l "$m" 2>/dev/null; done',
    `ip link delete ${sh(NODE_NETWORK.bridge)} 2>/dev/null`,
    '# iptables: jumps from the built-in chains, then the chains themselves',
    'for cmd in iptables ip6tables; do',
    '  for t in filter nat mangle; do',
    '    $cmd -t $t -S 2>/dev/null | grep -E -- "^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j (KUBE-|CNI-|MR-NODE-)" | sed "s/^-A /-D /" | while IFS= read -r rule; do eval "$cmd -t $t $rule" 2>/dev/null; done',
    '    chains=$($cmd -t $t -S 2>/dev/null | sed -n -E "s/^-N ((KUBE-|CNI-|MR-NODE-)[^ ]*)$/\\1/p")',
    '    for c in $chains; do $cmd -t $t -F "$c" 2>/dev/null; done',
    '    for c in $chains; do $cmd -t $t -X "$c" 2>/dev/null; done',
    '  done',
    'done',
    `ip addr delete ${NODE_NETWORK.nodeIp}/32 dev lo 2>/dev/null`,
    ...Object.entries(baseline.sysctls).map(([key, value]) => `sysctl -q -w ${sh(`${key}=${value}`)} 2>/dev/null`),
    '# a killed process leaves its cgroup a moment later',
    'i=0',
    'while [ $i -lt 50 ]; do',
    '  left=',
    ...baseline.cgroupRoots.map((root) => `  if [ -d ${sh(`${root}/kubepods`)} ]; then find ${sh(`${root}/kubepods`)} -depth -type d -exec rmdir {} + 2>/dev/null; [ -d ${sh(`${root}/kubepods`)} ] && left=1; fi`),
    '  [ -z "$left" ] && break',
    '  sleep 0.1; i=$((i + 1))',
    'done',
    '[ -d /var/log/containers ] && find /var/log/containers -lname "$dir/*" -delete 2>/dev/null',
    ...baseline.absentPaths.map((path) => `rm -rf ${sh(path)}`),
    '# the host lock, when its owner is the process this script cleans up after',
    `[ "$(cat ${sh(`${baseline.lock.dir}/pid`)} 2>/dev/null)" = ${sh(String(baseline.lock.ownerPid))} ] && rm -rf ${sh(baseline.lock.dir)}`,
    'exit 0',
    '',
  ];
  return lines.join('\n');
}
