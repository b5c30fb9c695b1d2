/** gc's side of the host hooks (runtime/pods/pod-host-hooks.ts): the same placeholders as stage1's host-hooks.c. */
import test from 'ava';
import { expandHookArg, hostDownCommands } from '../../runtime/pods/pod-host-hooks.js';

const values = { netns: '', uuid: 'u-1', podDir: '/var/lib/skiff/pods/run/u-1', ips: new Map([['default', '198.18.4.2']]) };

test('placeholders are replaced; other braces and an unknown network stay literal / empty as stage1 does', (t) => {
  t.is(expandHookArg('{netns}|{uuid}|{pod-dir}|{ip:default}', values), '|u-1|/var/lib/skiff/pods/run/u-1|198.18.4.2');
  t.is(expandHookArg('{"cniVersion":"1.0.0"}', values), '{"cniVersion":"1.0.0"}');
  t.is(expandHookArg('--to={ip:default}:80{ip:other}', values), '--to=198.18.4.2:80');
  t.is(expandHookArg('skiff:{uuid}', values), 'skiff:u-1');
});

test('host-down argvs come out split on tabs, last first; host-up values are not downs', (t) => {
  const config: Array<[string, string]> = [
    ['uuid', 'u-1'], ['host-up', '/bin/up\t{uuid}'], ['host-down', '/bin/d1\t{ip:default}'], ['host-down', '/bin/d2\ta b\t{uuid}'],
  ];
  t.deepEqual(hostDownCommands(config, values), [['/bin/d2', 'a b', 'u-1'], ['/bin/d1', '198.18.4.2']]);
});
