import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CNI_RESOLV_CONF, recordCniResolvConf, resolvConfOf } from '../../network/cni/cni-resolv-conf.js';
import { tempDir } from '../support/temp-dir.js';

test('a result\'s DNS in resolv.conf(5) order', (t) => {
  t.is(resolvConfOf({ nameservers: ['198.18.0.53', 'fd00::53'], domain: 'a.example', search: ['a.example', 'b.example'], options: ['ndots:2', 'rotate'] }),
    'domain a.example\nsearch a.example b.example\nnameserver 198.18.0.53\nnameserver fd00::53\noptions ndots:2 rotate\n');
  t.is(resolvConfOf({ nameservers: [], search: [], options: ['ndots:1'] }), undefined, 'options alone say nothing');
});

test('a plugin\'s words with whitespace or newlines, and non-addresses, are dropped', (t) => {
  t.is(resolvConfOf({ nameservers: ['198.18.0.53\nnameserver 6.6.6.6', 'resolver'], search: ['a b', 'ok.example'], options: ['x\ny'], domain: 'd e' }),
    'search ok.example\n');
});

test('the first CNI network with DNS writes the file; later ones leave it', (t) => {
  const dir = tempDir(t);
  recordCniResolvConf(dir, undefined);
  recordCniResolvConf(dir, { nameservers: ['198.18.0.1'], search: [], options: [] });
  recordCniResolvConf(dir, { nameservers: ['198.18.0.2'], search: [], options: [] });
  t.is(readFileSync(join(dir, CNI_RESOLV_CONF), 'utf8'), 'nameserver 198.18.0.1\n');
});
