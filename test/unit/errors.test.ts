import test from 'ava';
import { asSkiffError, formatErrorLine, ImageError, NativeError, SkiffError, UsageError, VerifyError } from '../../runtime/errors.js';
import { exitCodeFor } from '../../runtime/exit-codes.js';

test('usage errors exit 2, everything else 254', (t) => {
  t.is(exitCodeFor(new UsageError('bad flag')), 2);
  t.is(exitCodeFor(new ImageError('no such image')), 254);
  t.is(exitCodeFor(asSkiffError(new Error('boom'))), 254);
});

test('the line names the input and the hint, once', (t) => {
  const err = new ImageError('manifest unknown', { input: 'docker://127.0.0.1:5000/app:1', hint: 'check the tag' });
  t.is(formatErrorLine(err, 'fetch'), 'skiff fetch: docker://127.0.0.1:5000/app:1 manifest unknown; check the tag');
  const inMessage = new ImageError('cannot read docker://x/y', { input: 'docker://x/y' });
  t.is(formatErrorLine(inMessage), 'skiff: cannot read docker://x/y');
});

test('the line is one line even when a message has newlines', (t) => {
  t.is(formatErrorLine(new SkiffError('E_INTERNAL', 'a\nb')), 'skiff: a b');
});

test('verify errors say expected and got', (t) => {
  const err = new VerifyError('blob digest mismatch', 'sha256:aa', 'sha256:bb', { input: 'sha256:aa' });
  t.is(err.code, 'E_VERIFY');
  t.regex(err.message, /expected sha256:aa, got sha256:bb/);
});

test('Node system errors become NativeErrors with syscall, path and errno name', (t) => {
  const sys = Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT', syscall: 'open', path: '/nope', errno: -2 });
  const err = asSkiffError(sys);
  t.true(err instanceof NativeError);
  t.is(err.message, 'open /nope: ENOENT');
  t.is((err as NativeError).errno, 2);
  t.is(err.cause, sys);
});

test('unknown throwables become internal errors that ask for a report', (t) => {
  const err = asSkiffError('weird');
  t.is(err.code, 'E_INTERNAL');
  t.regex(formatErrorLine(err), /report/);
});
