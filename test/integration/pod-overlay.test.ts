/**
 * The path most pods take: a plain `skiff run` (overlay, not --no-overlay) of
 * an image of several layers, where upper layers replace a file, white one
 * out and make a directory opaque. The app sees the top layer's view on an
 * overlay root, its writes land in the pod's upper dir, and the store's
 * layers stay byte-for-byte as they were; on the CLI path and replayed.
 * (runtime/pods/stage1-pairs.ts hands overlayfs the layers top first.)
 */
import test from 'ava';
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fixtureImages, PROBE_CONFIG } from '../support/fixture-images.js';
import { buildImage, buildLayer } from '../support/oci-image.js';
import { writeOciLayout } from '../support/oci-layout.js';
import { podStore } from '../support/pod-store.js';
import { runSkiff } from '../support/skiff-cli.js';
import { storeState } from '../support/store-state.js';
import { mountsUnder } from '../support/temp-dir.js';

const file = (path: string, content: string) => ({ path, type: 'file' as const, content });
const dir = (path: string) => ({ path, type: 'dir' as const });

/** The probe image with three layers on top of its own. */
async function layeredImage() {
  const base = (await fixtureImages()).oci.layers[0];
  if (base === undefined) throw new Error('the probe image has no layer');
  return buildImage({
    config: PROBE_CONFIG,
    layers: [
      buildLayer(gunzipSync(base.data)),
      buildLayer([
        dir('etc/'), file('etc/replaced', 'layer 1\n'), file('etc/gone', 'layer 1\n'),
        dir('opt/'), dir('opt/dir/'), file('opt/dir/old', 'layer 1\n'), dir('opt/dir/sub/'), file('opt/dir/sub/deep', 'layer 1\n'),
        file('opt/kept', 'layer 1\n'),
      ]),
      buildLayer([
        dir('etc/'), file('etc/replaced', 'layer 2\n'), file('etc/.wh.gone', ''),
        dir('opt/'), dir('opt/dir/'), file('opt/dir/.wh..wh..opq', ''), file('opt/dir/new', 'layer 2\n'),
      ]),
      buildLayer([dir('etc/'), file('etc/replaced', 'layer 3\n'), file('etc/only-top', 'layer 3\n')]),
    ],
  });
}

const SCRIPT = [
  'cat /etc/replaced /etc/only-top /opt/kept',
  'test -e /etc/gone && echo GONE-IS-VISIBLE',
  'echo "opt/dir: $(ls -A /opt/dir | tr "\\n" " ")"',
  // The app's writes: a new file, a changed file, a removed file of a lower layer.
  'echo written > /written && echo changed > /etc/replaced && rm /opt/dir/new',
  'exec /probe info',
].join('; ');

test('a plain run of a layered image: the top view on an overlay root, writes in the pod\'s upper dir, the store unchanged (CLI and replay)', async (t) => {
  const s = await podStore(t);
  const layout = join(s.dir, '..', 'layered');
  await writeOciLayout(layout, [{ ref: 'layered', image: await layeredImage() }]);
  const image = `oci:${layout}:layered`;
  t.is((await s.skiff(['fetch', '--quiet', image])).code, 0);
  const before = storeState(s.dir);
  // One file for both runs: a replay needs the very same command line.
  const uuidFile = join(s.dir, '..', 'uuid');
  for (const expected of ['node', 'replay']) {
    const r = await runSkiff(['--dir', s.dir, 'run', '--uuid-file-save', uuidFile, image, '--exec', '/bin/sh', '--', '-c', SCRIPT], {
      env: { ...s.env, SKIFF_LAUNCH_TRACE: '1' },
    });
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, new RegExp(`^skiff launch: ${expected}`, 'm'));
    const [replaced, onlyTop, kept, opt, info] = r.stdout.trim().split('\n');
    t.is(replaced, 'layer 3', 'the top layer\'s file wins');
    t.is(onlyTop, 'layer 3');
    t.is(kept, 'layer 1', 'a lower layer\'s file nobody replaced shows through');
    t.is(opt, 'opt/dir: new ', 'the opaque dir hides everything below it');
    t.notRegex(r.stdout, /GONE-IS-VISIBLE/, 'the whited-out file is gone');
    const root = (JSON.parse(info ?? '{}') as { mounts: Array<{ mountpoint: string; fstype: string }> }).mounts.find((m) => m.mountpoint === '/');
    t.is(root?.fstype, 'overlay');

    const uuid = readFileSync(uuidFile, 'utf8').trim();
    const upper = join(s.dir, 'pods', 'run', uuid, 'overlay', 'upper');
    t.is(readFileSync(join(upper, 'written'), 'utf8'), 'written\n');
    t.is(readFileSync(join(upper, 'etc', 'replaced'), 'utf8'), 'changed\n');
    const whiteout = lstatSync(join(upper, 'opt', 'dir', 'new'));
    t.true(whiteout.isCharacterDevice() && whiteout.rdev === 0, 'the removal is a whiteout in the upper dir');
    t.deepEqual(readdirSync(upper).sort(), ['etc', 'opt', 'written'], 'nothing else was written');
    t.is(storeState(s.dir), before, 'the store\'s layers and blobs are byte-for-byte unchanged');
  }
  t.deepEqual(mountsUnder(s.dir), []);
});
