import test from 'ava';
import { progressFor, ttyProgress } from '../../runtime/cli/fetch-progress.js';

function fakeStream(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const stream = {
    isTTY,
    columns: 100,
    text: '',
    write(chunk: string) {
      stream.text += chunk;
      return true;
    },
  };
  return stream as unknown as NodeJS.WriteStream & { text: string };
}

const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;

test('on a TTY every layer gets a bar with bytes and rate, redrawn in place', (t) => {
  const out = fakeStream(true);
  const p = ttyProgress(out);
  p.layerStart?.(A, 'download', 2 * 1024 * 1024);
  p.layerStart?.(B, 'download', 1024);
  p.layerDone?.(B, { downloaded: true, unpacked: true, bytes: 1024, seconds: 0.5 });
  p.layerProgress?.(A, 'unpack', 1024 * 1024);
  p.layerDone?.(A, { downloaded: true, unpacked: true, bytes: 2 * 1024 * 1024, seconds: 1 });
  t.regex(out.text, /aaaaaaaaaaaa download +\[ +\] 0 B\/2\.0 MiB/);
  t.regex(out.text, /bbbbbbbbbbbb done +1\.0 KiB in 0\.50 s/);
  t.regex(out.text, /aaaaaaaaaaaa done +2\.0 MiB in 1\.00 s/);
  t.regex(out.text, /\x1b\[2A/, 'moves the cursor up over its two bars to redraw them');
});

test('without a TTY one line per layer when it is done; --quiet prints nothing', (t) => {
  const out = fakeStream(false);
  const p = progressFor(false, out);
  p.layerStart?.(A, 'download', 10);
  p.layerProgress?.(A, 'download', 5);
  p.layerDone?.(A, { downloaded: true, unpacked: true, bytes: 3 * 1024 * 1024, seconds: 2 });
  p.layerDone?.(B, { downloaded: false, unpacked: false, bytes: 10, seconds: 0 });
  t.is(out.text, 'layer aaaaaaaaaaaa: fetched and unpacked, 3.0 MiB in 2.00 s (1.5 MiB/s)\nlayer bbbbbbbbbbbb: already in store, 10 B\n');
  const quiet = fakeStream(true);
  const q = progressFor(true, quiet);
  q.layerStart?.(A, 'download', 10);
  q.layerDone?.(A, { downloaded: true, unpacked: true, bytes: 10, seconds: 1 });
  t.is(quiet.text, '');
});
