import test from 'ava';
import { formatOverlayConfig, parseOverlayConfig } from '../../network/overlay/flannel-config.js';
import { formatCidr, formatIpv4 } from '../../network/ipv4.js';
import { UsageError } from '../../runtime/errors.js';

const KEY = '/coreos.com/network/config';

test('flannel\'s example config, keys in any case, with flannel\'s defaults', (t) => {
  const c = parseOverlayConfig('{"network":"198.18.0.0/16","BACKEND":{"type":"vxlan"}}');
  t.is(formatCidr(c.network), '198.18.0.0/16');
  t.is(c.subnetLen, 24, '/24 leases in a /22 or larger');
  t.is(formatIpv4(c.subnetMin), '198.18.1.0', 'the first subnet is skipped');
  t.is(formatIpv4(c.subnetMax), '198.18.255.0');
  t.deepEqual(c.backend, { type: 'vxlan', vni: 1, port: 8472, mtu: undefined, directRouting: false });
});

test('small networks lease prefix + 2; explicit values are kept', (t) => {
  t.is(parseOverlayConfig('{"Network":"198.18.0.0/24","Backend":{"Type":"vxlan"}}').subnetLen, 26);
  const c = parseOverlayConfig(JSON.stringify({
    Network: '198.18.0.0/16', SubnetLen: 26, SubnetMin: '198.18.4.0', SubnetMax: '198.18.4.192',
    Backend: { Type: 'vxlan', VNI: 7, Port: 4789, MTU: 9000, DirectRouting: true },
  }));
  t.is(c.subnetLen, 26);
  t.deepEqual([formatIpv4(c.subnetMin), formatIpv4(c.subnetMax)], ['198.18.4.0', '198.18.4.192']);
  t.deepEqual(c.backend, { type: 'vxlan', vni: 7, port: 4789, mtu: 9000, directRouting: true });
});

test('the config round-trips through flannel\'s JSON', (t) => {
  const c = parseOverlayConfig('{"Network":"198.18.0.0/16","SubnetLen":25,"Backend":{"Type":"vxlan","VNI":3}}');
  t.deepEqual(parseOverlayConfig(formatOverlayConfig(c)), c);
});

const bad: Array<[string, RegExp]> = [
  ['not json', /config \/coreos\.com\/network\/config: the value is not JSON/],
  ['[]', /the value is not a JSON object/],
  ['{"Backend":{"Type":"vxlan"}}', /: Network is missing/],
  ['{"Network":"198.18.0.1/16","Backend":{"Type":"vxlan"}}', /Network "198\.18\.0\.1\/16" is not an IPv4 network/],
  ['{"Network":"198.18.0.0/29","Backend":{"Type":"vxlan"}}', /Network 198\.18\.0\.0\/29 is smaller than a \/28/],
  ['{"Network":"198.18.0.0/16","SubnetLen":31,"Backend":{"Type":"vxlan"}}', /SubnetLen 31 is above 30/],
  ['{"Network":"198.18.0.0/16","SubnetLen":17,"Backend":{"Type":"vxlan"}}', /SubnetLen 17 leaves fewer than 4 subnets/],
  ['{"Network":"198.18.0.0/16","SubnetLen":"24","Backend":{"Type":"vxlan"}}', /SubnetLen is "24", not a whole number/],
  ['{"Network":"198.18.0.0/16","SubnetMin":"198.19.0.0","Backend":{"Type":"vxlan"}}', /SubnetMin 198\.19\.0\.0 is outside Network/],
  ['{"Network":"198.18.0.0/16","SubnetMax":"198.18.3.7","Backend":{"Type":"vxlan"}}', /SubnetMax 198\.18\.3\.7 is not the start of a \/24/],
  ['{"Network":"198.18.0.0/16","SubnetMin":"198.18.9.0","SubnetMax":"198.18.3.0","Backend":{"Type":"vxlan"}}', /SubnetMin 198\.18\.9\.0 is above SubnetMax/],
  ['{"Network":"198.18.0.0/16"}', /Backend is missing/],
  ['{"Network":"198.18.0.0/16","Backend":{"Type":"udp"}}', /Backend\.Type is "udp": Skiff's overlay is vxlan only/],
  ['{"Network":"198.18.0.0/16","Backend":{"Type":"vxlan","VNI":16777216}}', /Backend\.VNI is 16777216, not a whole number in 0\.\.16777215/],
  ['{"Network":"198.18.0.0/16","Backend":{"Type":"vxlan","MTU":100}}', /Backend\.MTU 100 leaves less than IPv4's 68 bytes/],
  ['{"Network":"198.18.0.0/16","Backend":{"Type":"vxlan","GBP":true}}', /Backend\.GBP is not supported/],
  ['{"Network":"198.18.0.0/16","EnableIPv6":true,"Backend":{"Type":"vxlan"}}', /asks for IPv6/],
];
for (const [text, re] of bad) {
  test(`refused, naming the key and the field: ${text}`, (t) => {
    const err = t.throws(() => parseOverlayConfig(text, KEY), { instanceOf: UsageError });
    t.regex(err!.message, re);
    t.regex(err!.message, /^overlay config \/coreos\.com\/network\/config: /);
    t.false(err!.message.includes('\n'));
  });
}
