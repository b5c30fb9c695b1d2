import test from 'ava';
import { hostRuleChecks } from '../../network/host-network-state.js';

test('masquerading networks: the jump into SKIFF-POSTROUTING and each one\'s rule by its comment; ports add the DNAT jumps', (t) => {
  t.deepEqual(hostRuleChecks([{ name: 'default', ipMasq: true }, { name: 'back', ipMasq: false }], false, true), [
    ['nat', 'POSTROUTING', 'SKIFF-POSTROUTING'],
    ['nat', 'SKIFF-POSTROUTING', 'skiff network default'],
  ]);
  t.deepEqual(hostRuleChecks([{ name: 'back', ipMasq: false }], true, true), [
    ['nat', 'POSTROUTING', 'SKIFF-POSTROUTING'],
    ['nat', 'PREROUTING', 'SKIFF-DNAT'],
    ['nat', 'OUTPUT', 'SKIFF-DNAT'],
  ]);
  t.deepEqual(hostRuleChecks([{ name: 'back', ipMasq: false }], false, true), [], 'no NAT, nothing to check');
});

test('a legacy iptables: nothing the launcher could ask the kernel about', (t) => {
  t.deepEqual(hostRuleChecks([{ name: 'default', ipMasq: true }], true, false), []);
});
