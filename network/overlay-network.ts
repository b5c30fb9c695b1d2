/**
 * `--net=overlay` and net.d networks of `"type": "flannel"` (rkt+flannel's config:
 * `{"name": "overlay", "type": "flannel", "subnetFile": "/run/skiff/subnet.env"}`): a bridge
 * network whose subnet is this host's overlay lease, read from the subnet.env that
 * `skiff net daemon` writes (network/overlay/). What flannel's CNI plugin derives, we derive the
 * same way: the bridge takes the lease's first address, the MTU is FLANNEL_MTU, host-local IPAM
 * hands out the rest; the bridge masquerades what leaves the overlay network unless the daemon
 * does (`FLANNEL_IPMASQ`), and never traffic to other hosts' pods (their addresses stay theirs).
 * A pod also gets a default route via the bridge, as kube-flannel configures it.
 *
 * The file is read only when a pod joins the network: other runs never depend on a daemon.
 * A missing file, or one older than this boot (a daemon that is not running since), is a clear
 * error; the run plan stamps the file, so a replay after the daemon rewrote it goes to the CLI.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { NetworkError } from '../runtime/errors.js';
import { broadcastOf, formatCidr } from './ipv4.js';
import { DEFAULT_RUN_DIR, netConfsOfType, readNetConfFiles, type NetworkDef } from './network-config.js';
import { DEFAULT_SUBNET_FILE, parseSubnetEnv } from './overlay/subnet-env.js';

export const OVERLAY_TYPE = 'flannel';

export interface OverlaySpec {
  name: string;
  source: string;
  subnetFile: string;
  bridge: string;
  dataDir: string;
}

export const BUILT_IN_OVERLAY: OverlaySpec = {
  name: 'overlay', source: 'built-in', subnetFile: DEFAULT_SUBNET_FILE, bridge: 'skiff-ovl', dataDir: join(DEFAULT_RUN_DIR, 'overlay'),
};

const BRIDGE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const NETWORK_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/i;

function bad(source: string, field: string, problem: string): NetworkError {
  return new NetworkError(`network config ${source}: ${field} ${problem}`, { input: source, hint: 'fix the file (rkt+flannel format: {"name", "type": "flannel", "subnetFile"})' });
}

/** A `"type": "flannel"` file: name, subnetFile, and optionally delegate.bridge and ipam.dataDir. */
export function parseOverlayConf(raw: Record<string, unknown>, source: string): OverlaySpec {
  const name = raw['name'];
  if (typeof name !== 'string' || !NETWORK_NAME.test(name)) throw bad(source, 'name', `${JSON.stringify(name)} is not a network name (letters, digits, . _ -)`);
  const subnetFile = raw['subnetFile'] ?? DEFAULT_SUBNET_FILE;
  if (typeof subnetFile !== 'string' || !subnetFile.startsWith('/')) throw bad(source, 'subnetFile', `${JSON.stringify(subnetFile)} is not an absolute path`);
  const delegate = raw['delegate'];
  if (delegate !== undefined && (typeof delegate !== 'object' || delegate === null || Array.isArray(delegate))) throw bad(source, 'delegate', 'is not a JSON object');
  const bridge = (delegate as Record<string, unknown> | undefined)?.['bridge'] ?? (name === BUILT_IN_OVERLAY.name ? BUILT_IN_OVERLAY.bridge : `skiff-${name}`.slice(0, 15));
  if (typeof bridge !== 'string' || !BRIDGE_NAME.test(bridge)) throw bad(source, 'delegate.bridge', `${JSON.stringify(bridge)} is not an interface name (1-15 characters)`);
  const ipam = raw['ipam'] as Record<string, unknown> | undefined;
  const dataDir = ipam?.['dataDir'] ?? join(DEFAULT_RUN_DIR, name);
  if (typeof dataDir !== 'string' || !dataDir.startsWith('/')) throw bad(source, 'ipam.dataDir', `${JSON.stringify(dataDir)} is not an absolute path`);
  return { name, source, subnetFile, bridge, dataDir };
}

/** The overlay networks by name: the built-in `overlay`, joined or replaced by net.d files of type flannel. */
export function loadOverlayNetworks(localConfig: string): Map<string, OverlaySpec> {
  const fromFiles = netConfsOfType(readNetConfFiles(localConfig), OVERLAY_TYPE, parseOverlayConf);
  return new Map([[BUILT_IN_OVERLAY.name, BUILT_IN_OVERLAY], ...fromFiles]);
}

const noDaemon = (spec: OverlaySpec, problem: string) => new NetworkError(`network ${spec.name}: ${spec.subnetFile} ${problem}: is \`skiff net daemon\` running on this host?`, {
  input: spec.subnetFile,
  hint: 'start it (skiff net daemon --subnet-file ' + spec.subnetFile + '), or use another --net',
});

/** Boot time in ms since the epoch (/proc/stat btime). */
function bootTimeMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('btime '));
  return Number(line?.split(' ')[1] ?? 0) * 1000;
}

/** The network as a bridge network on this host's lease. */
export function overlayNetworkDef(spec: OverlaySpec): NetworkDef {
  let text: string;
  let mtime: number;
  try {
    text = readFileSync(spec.subnetFile, 'utf8');
    mtime = statSync(spec.subnetFile).mtimeMs;
  } catch {
    throw noDaemon(spec, 'does not exist');
  }
  if (mtime < bootTimeMs()) throw noDaemon(spec, 'was written before this boot');
  const env = parseSubnetEnv(text);
  const missing = (['network', 'subnet', 'mtu', 'ipMasq'] as const).filter((k) => env[k] === undefined);
  if (missing.length > 0) throw noDaemon(spec, `lacks ${missing.map((k) => ({ network: 'FLANNEL_NETWORK', subnet: 'FLANNEL_SUBNET', mtu: 'FLANNEL_MTU', ipMasq: 'FLANNEL_IPMASQ' })[k]).join(', ')}`);
  const subnet = env.subnet!;
  if (subnet.prefix > 30) throw noDaemon(spec, `holds ${formatCidr(subnet)}, too small for pods`);
  return {
    name: spec.name, source: spec.source === 'built-in' ? spec.subnetFile : spec.source, type: 'bridge', bridge: spec.bridge, isGateway: true,
    // The CNI flannel plugin's rule: the bridge masquerades when the daemon does not.
    ipMasq: env.ipMasq === false, masqExempt: env.network!, mtu: env.mtu!,
    subnet, rangeStart: subnet.network + 2, rangeEnd: broadcastOf(subnet) - 1, gateway: subnet.network + 1, defaultRoute: true,
    dataDir: spec.dataDir, overlay: { network: env.network!, subnetFile: spec.subnetFile },
  };
}
