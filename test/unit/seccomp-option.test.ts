import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseInsecureOptions } from '../../runtime/cli/global-options.js';
import { UsageError } from '../../runtime/errors.js';
import { packageRoot } from '../../runtime/install-paths.js';
import { parseSeccompOption, seccompSetting } from '../../runtime/pods/seccomp-option.js';
import { SYSCALL_NAMES } from '../../runtime/pods/syscall-names.js';

test('rkt\'s syntax becomes stage1\'s MODE\\tERRNO\\tNAMES, the errno as its number', (t) => {
  t.is(parseSeccompOption('mode=remove,errno=EPERM,keyctl,socket'), 'remove\t1\tkeyctl,socket');
  t.is(parseSeccompOption('mode=retain,errno=ENOSYS,@docker/default-whitelist,mount'), 'retain\t38\t@docker/default-whitelist,mount');
  t.is(parseSeccompOption('errno=EOPNOTSUPP,mode=remove,socket'), 'remove\t95\tsocket', 'in any order');
});

test('without errno= the value says so (empty): a refused call kills the app, as rkt\'s isolators', (t) => {
  t.is(parseSeccompOption('mode=retain,@docker/default-whitelist'), 'retain\t\t@docker/default-whitelist');
});

test('mistakes are usage errors naming the part', (t) => {
  const cases: [string, RegExp][] = [
    ['keyctl', /has no mode=/],
    ['mode=keep,keyctl', /mode "keep" is not retain or remove/],
    ['mode=remove,errno=EWHAT,keyctl', /errno "EWHAT" is not an errno name/],
    ['mode=remove', /names no syscall/],
    ['mode=remove,keyctll', /"keyctll" is not a syscall or a group of mode=remove/],
    ['mode=remove,@docker/default-whitelist', /"@docker\/default-whitelist" is not a syscall or a group of mode=remove/],
    ['mode=retain,@docker/default-blacklist', /group of mode=retain/],
  ];
  for (const [text, message] of cases) {
    const err = t.throws(() => parseSeccompOption(text), { instanceOf: UsageError }, text);
    t.regex(err?.message ?? '', message, text);
  }
});

test('--insecure-options=seccomp turns the filter off, and still checks the flag', (t) => {
  t.is(seccompSetting(undefined, false), undefined, 'no flag: the default filter');
  t.is(seccompSetting(undefined, true), 'none');
  t.is(seccompSetting('mode=remove,keyctl', true), 'none');
  t.throws(() => seccompSetting('mode=remove,nope', true), { instanceOf: UsageError });
  t.true(parseInsecureOptions('seccomp').has('seccomp'));
  t.true(parseInsecureOptions('all-run').has('seccomp'));
  t.true(parseInsecureOptions('all').has('seccomp'));
  t.false(parseInsecureOptions('all-fetch').has('seccomp'));
});

test('the names are exactly skiff-stage1\'s table (native/stage1/seccomp-syscalls.c)', (t) => {
  const source = readFileSync(join(packageRoot(), 'native', 'stage1', 'seccomp-syscalls.c'), 'utf8');
  const inTable = [...source.matchAll(/^\t.*$/gm)]
    .flatMap((line) => [...line[0].matchAll(/\b[ACDX]\((\w+)/g)].map((m) => m[1] as string));
  t.true(inTable.length > 300);
  t.deepEqual([...SYSCALL_NAMES].sort(), [...new Set(inTable)].sort());
  t.is(new Set(inTable).size, inTable.length, 'each name once in the table');
});
