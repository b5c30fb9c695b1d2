import test from 'ava';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseOverlayConfig } from '../../network/overlay/flannel-config.js';
import { formatCidr, parseCidr, type Cidr } from '../../network/ipv4.js';
import { decodeLeaseAttrs, encodeLeaseAttrs, leaseOf, parseSubnetKey, subnetKey } from '../../network/overlay/subnet-lease.js';
import { chooseSubnet, type HeldLease } from '../../network/overlay/subnet-choice.js';
import { formatSubnetEnv, parseSubnetEnv, previousSubnet, writeSubnetEnv } from '../../network/overlay/subnet-env.js';
import { tempDir } from '../support/temp-dir.js';

const cidr = (s: string): Cidr => parseCidr(s)!;
const config = parseOverlayConfig('{"Network":"198.18.0.0/16","Backend":{"Type":"vxlan"}}');

function held(subnet: string, publicIp: string, reservation = false): HeldLease {
  const key = subnetKey('/coreos.com/network', cidr(subnet));
  return { ...leaseOf(key, encodeLeaseAttrs({ publicIp, backendType: 'vxlan', vxlan: { vni: 1, vtepMac: '02:00:00:00:00:01' } }))!, reservation };
}

test('lease keys as flannel writes them, dual-stack keys read', (t) => {
  t.is(subnetKey('/coreos.com/network', cidr('198.18.52.0/24')), '/coreos.com/network/subnets/198.18.52.0-24');
  t.is(formatCidr(parseSubnetKey('/coreos.com/network/subnets/198.18.52.0-24')!), '198.18.52.0/24');
  t.is(formatCidr(parseSubnetKey('/x/subnets/198.18.52.0-24&fc00::-64')!), '198.18.52.0/24');
  t.is(parseSubnetKey('/coreos.com/network/config'), undefined);
});

test('lease values: flannel\'s JSON both ways; what is not flannel\'s is undefined', (t) => {
  const flannel = '{"PublicIP":"198.19.0.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"C6:D2:32:6F:8F:44"}}';
  const attrs = decodeLeaseAttrs(flannel);
  t.deepEqual(attrs, { publicIp: '198.19.0.3', backendType: 'vxlan', vxlan: { vni: 1, vtepMac: 'c6:d2:32:6f:8f:44' } });
  t.deepEqual(JSON.parse(encodeLeaseAttrs(attrs!)), { ...JSON.parse(flannel), BackendData: { VNI: 1, VtepMAC: 'c6:d2:32:6f:8f:44' } });
  t.deepEqual(decodeLeaseAttrs('{"PublicIP":"198.19.0.4","BackendType":"host-gw"}'), { publicIp: '198.19.0.4', backendType: 'host-gw', vxlan: undefined });
  t.is(decodeLeaseAttrs('{"PublicIP":"nope"}'), undefined);
  t.is(decodeLeaseAttrs('garbage'), undefined);
  t.is(decodeLeaseAttrs('{"PublicIP":"198.19.0.3","BackendType":"vxlan","BackendData":{"VtepMAC":"zz"}}')?.vxlan, undefined);
});

test('choice 1: our own lease by PublicIP; one that no longer fits is stale, a reservation never', (t) => {
  const mine = held('198.18.7.0/24', '198.19.0.1');
  const c = chooseSubnet(config, [held('198.18.1.0/24', '198.19.0.2'), mine], '198.19.0.1', cidr('198.18.9.0/24'));
  t.like(c, { kind: 'reuse', lease: mine, stale: [] });
  const old = held('198.18.8.0/25', '198.19.0.1');
  t.like(chooseSubnet(config, [old], '198.19.0.1', undefined), { kind: 'new', stale: [old] });
  const reserved = { ...held('198.18.20.0/24', '198.19.0.1'), reservation: true };
  t.like(chooseSubnet(config, [reserved], '198.19.0.1', undefined), { kind: 'reuse', lease: reserved });
});

test('choice 2: the subnet of our last subnet.env, unless taken or outside the config', (t) => {
  t.like(chooseSubnet(config, [], '198.19.0.1', cidr('198.18.9.0/24')), { kind: 'new', subnet: cidr('198.18.9.0/24') });
  const taken = chooseSubnet(config, [held('198.18.9.0/24', '198.19.0.2')], '198.19.0.1', cidr('198.18.9.0/24'), () => 0);
  t.like(taken, { kind: 'new', subnet: cidr('198.18.1.0/24') }, 'another host holds it: a fresh one (flannel #1289)');
  t.like(chooseSubnet(config, [], '198.19.0.1', cidr('198.18.0.0/24'), () => 0), { kind: 'new', subnet: cidr('198.18.1.0/24') }, 'below SubnetMin');
});

test('choice 3: random among the first 100 free; full when none', (t) => {
  const picks = new Set([0, 0.5, 0.999].map((r) => formatCidr((chooseSubnet(config, [held('198.18.1.0/24', '198.19.0.2')], '198.19.0.1', undefined, () => r) as { subnet: Cidr }).subnet)));
  t.deepEqual([...picks], ['198.18.2.0/24', '198.18.52.0/24', '198.18.101.0/24']);
  const tiny = parseOverlayConfig('{"Network":"198.18.0.0/24","Backend":{"Type":"vxlan"}}');
  const all = ['198.18.0.64/26', '198.18.0.128/26', '198.18.0.192/26'].map((s, i) => held(s, `198.19.0.${i + 2}`));
  t.like(chooseSubnet(tiny, all, '198.19.0.1', undefined), { kind: 'full' });
});

test('subnet.env: flannel\'s lines in flannel\'s order, written atomically 0644, read back', (t) => {
  const env = { network: cidr('198.18.0.0/16'), subnet: cidr('198.18.52.0/24'), mtu: 1450, ipMasq: false };
  t.is(formatSubnetEnv(env), 'FLANNEL_NETWORK=198.18.0.0/16\nFLANNEL_SUBNET=198.18.52.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n');
  const path = join(tempDir(t, 'skiff-subnet-env-'), 'run', 'subnet.env');
  writeSubnetEnv(path, env);
  t.is(statSync(path).mode & 0o777, 0o644);
  t.deepEqual(parseSubnetEnv(readFileSync(path, 'utf8')), env);
  t.deepEqual(previousSubnet(path), cidr('198.18.52.0/24'));
  writeFileSync(path, 'FLANNEL_SUBNET=garbage\n');
  t.is(previousSubnet(path), undefined);
  t.is(previousSubnet(join(path, 'missing')), undefined);
});
