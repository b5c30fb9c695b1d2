import test from 'ava';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILT_IN_OVERLAY, loadOverlayNetworks, overlayNetworkDef, parseOverlayConf } from '../../network/overlay-network.js';
import { formatCidr, formatIpv4 } from '../../network/ipv4.js';
import { NetworkError } from '../../runtime/errors.js';
import { tempDir } from '../support/temp-dir.js';

const ENV = 'FLANNEL_NETWORK=198.18.0.0/16\nFLANNEL_SUBNET=198.18.52.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n';

test('subnet.env becomes a bridge network on the lease: gateway .1, pods from .2, the MTU, masquerade exempting the overlay', (t) => {
  const file = join(tempDir(t), 'subnet.env');
  writeFileSync(file, ENV);
  const def = overlayNetworkDef({ ...BUILT_IN_OVERLAY, subnetFile: file });
  t.is(def.bridge, 'skiff-ovl');
  t.is(formatCidr(def.subnet), '198.18.52.0/24');
  t.deepEqual([formatIpv4(def.gateway), formatIpv4(def.rangeStart), formatIpv4(def.rangeEnd)], ['198.18.52.1', '198.18.52.2', '198.18.52.254']);
  t.is(def.mtu, 1450);
  t.true(def.defaultRoute);
  t.true(def.ipMasq, 'the daemon does not masquerade (FLANNEL_IPMASQ=false): the bridge does, as the CNI flannel plugin');
  t.is(formatCidr(def.masqExempt!), '198.18.0.0/16', 'never pods on other hosts');
  t.deepEqual(def.overlay && formatCidr(def.overlay.network), '198.18.0.0/16');
  writeFileSync(file, ENV.replace('IPMASQ=false', 'IPMASQ=true'));
  t.false(overlayNetworkDef({ ...BUILT_IN_OVERLAY, subnetFile: file }).ipMasq, 'the daemon masquerades: the bridge does not');
});

test('no daemon: a missing, pre-boot or incomplete subnet file is one error asking for skiff net daemon', (t) => {
  const dir = tempDir(t);
  const spec = { ...BUILT_IN_OVERLAY, subnetFile: join(dir, 'subnet.env') };
  const err = t.throws(() => overlayNetworkDef(spec), { instanceOf: NetworkError });
  t.regex(err!.message, /^network overlay: .*subnet\.env does not exist: is `skiff net daemon` running on this host\?$/);
  writeFileSync(spec.subnetFile, ENV);
  utimesSync(spec.subnetFile, new Date(0), new Date(0));
  t.throws(() => overlayNetworkDef(spec), { message: /was written before this boot: is `skiff net daemon` running/ });
  writeFileSync(spec.subnetFile, 'FLANNEL_NETWORK=198.18.0.0/16\nFLANNEL_SUBNET=198.18.52.1/24\n');
  t.throws(() => overlayNetworkDef(spec), { message: /lacks FLANNEL_MTU, FLANNEL_IPMASQ: is `skiff net daemon` running/ });
});

test('net.d: rkt+flannel\'s file, its defaults, and the built-in overlay', (t) => {
  const root = tempDir(t);
  mkdirSync(join(root, 'net.d'));
  writeFileSync(join(root, 'net.d', '10-ovl.conf'), JSON.stringify({ name: 'ovl', type: 'flannel', subnetFile: '/run/x/subnet.env', delegate: { bridge: 'br-ovl' } }));
  writeFileSync(join(root, 'net.d', '20-flannel.conf'), JSON.stringify({ name: 'flannel', type: 'flannel' }));
  writeFileSync(join(root, 'net.d', '30-other.conf'), JSON.stringify({ name: 'b', type: 'bridge' }));
  const nets = loadOverlayNetworks(root);
  t.deepEqual([...nets.keys()].sort(), ['flannel', 'overlay', 'ovl']);
  t.like(nets.get('ovl'), { subnetFile: '/run/x/subnet.env', bridge: 'br-ovl', dataDir: '/run/skiff/networks/ovl' });
  t.like(nets.get('flannel'), { subnetFile: '/run/skiff/subnet.env', bridge: 'skiff-flannel' });
  t.is(nets.get('overlay'), BUILT_IN_OVERLAY);
  t.throws(() => parseOverlayConf({ name: 'x', type: 'flannel', subnetFile: 'relative' }, 'f.conf'), { message: /f\.conf: subnetFile "relative" is not an absolute path/ });
  t.throws(() => parseOverlayConf({ name: 'x', type: 'flannel', delegate: { bridge: 'a-name-far-too-long' } }, 'f.conf'), { message: /delegate\.bridge "a-name-far-too-long" is not an interface name/ });
});
