/** The IP check of host-names.ts (ours, to keep node:net off the run path) agrees with node's isIP. */
import test from 'ava';
import { isIP } from 'node:net';
import { isIpAddress } from '../../runtime/pods/host-names.js';

const CASES = [
  '1.2.3.4', '0.0.0.0', '255.255.255.255', '256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', ' 1.2.3.4', '1.2.3.4\n',
  '::', '::1', '1::', 'fe80::1%eth0', 'fe80::1%a b', 'fe80::%', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::',
  '::ffff:1.2.3.4', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '1::2::3', ':1::', ':::', '12345::', 'g::1',
  '1.2.3.4::', '::1.2.3.4', '::1.2.3.04', '1::1.2.3.4:5', '1.2.3.4:1::', '1:2::3:4:5:6:7', '1:2::3:4:5:6:7:8', '',
  'FD00::AbC', '1:2:3:4:5:6:7:8%x', '::1\n6.6.6.6',
];

test('isIpAddress agrees with node:net isIP', (t) => {
  for (const c of CASES) t.is(isIpAddress(c), isIP(c) !== 0, JSON.stringify(c));
});
