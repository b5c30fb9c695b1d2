import test from 'ava';
import { execFileSync } from 'node:child_process';
import { gunzipSync } from 'node:zlib';
import { largeImage } from '../support/large-image.js';
import { sha256 } from '../support/oci-image.js';

test('the large image is built from real host files up to the size asked for', (t) => {
  const target = 4 * 1024 * 1024;
  const image = largeImage(target);
  const layer = image.layers[0];
  if (layer === undefined) return t.fail('no layer');
  const tar = gunzipSync(layer.data);
  const config = JSON.parse(image.config.data.toString()) as { rootfs: { diff_ids: string[] } };
  t.is(config.rootfs.diff_ids[0], sha256(tar));
  t.true(tar.length >= target, `tar is ${tar.length} bytes`);
  const listing = execFileSync('tar', ['-tvf', '-'], { input: tar, encoding: 'utf8', maxBuffer: 64 << 20 });
  const sizes = listing
    .split('\n')
    .filter((l) => l.startsWith('-'))
    .map((l) => Number(l.split(/\s+/)[2]));
  const beforeLast = sizes.slice(0, -1).reduce((a, b) => a + b, 0);
  t.true(beforeLast < target, 'it stops with the file that crosses the target');
  t.regex(listing, /^-\S+ .* usr\/share\/\S+/m, 'holds real files');
  t.regex(listing, /^d.* usr\/share\/$/m, 'with parent dirs');
  t.true(sizes.length > 100, `many files, as in a distro image (${sizes.length})`);
});
