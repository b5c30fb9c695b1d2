/**
 * The pod's root as images make it: very deep images (overlayfs takes up to
 * 500 lower layers; mount(2)'s one page of options only ~44 of ours), and
 * images whose /etc files are symlinks (stage1 puts the pod's own files
 * there). Through `skiff run` and, for the deep image, its replay.
 */
import test from 'ava';
import { join } from 'node:path';
import { probeRootfs, PROBE_CONFIG } from '../support/fixture-images.js';
import { buildImage, buildLayer, type Layer } from '../support/oci-image.js';
import { writeOciLayout } from '../support/oci-layout.js';
import { podStore, type PodStore } from '../support/pod-store.js';
import { runSkiff } from '../support/skiff-cli.js';
import type { TarEntry } from '../support/tar-writer.js';
import { tempDir, type Teardown } from '../support/temp-dir.js';

/** Writes an image of these layers (bottom first) as an OCI layout and fetches it into the store. */
async function fetchImage(t: Teardown, s: PodStore, layers: Layer[]): Promise<string> {
  const layout = join(tempDir(t, 'skiff-test-layout-'), 'layout');
  await writeOciLayout(layout, [{ ref: 'test', image: buildImage({ layers, config: PROBE_CONFIG }) }]);
  const ref = `oci:${layout}:test`;
  const fetched = await s.skiff(['fetch', '--quiet', ref]);
  if (fetched.code !== 0) throw new Error(`fetch ${ref}: ${fetched.stderr}`);
  return ref;
}

const file = (path: string, content: string): TarEntry => ({ path, type: 'file', content });

test('an image of 128 layers runs (CLI and replay): the app sees the bottom layer, every middle one and the top one', async (t) => {
  const s = await podStore(t);
  const layers = [buildLayer([...(await probeRootfs()), file('bottom', 'bottom\n'), file('which', 'layer 0\n')])];
  for (let i = 1; i < 128; i++) {
    layers.push(buildLayer([{ path: 'layers/', type: 'dir' }, file(`layers/${i}`, ''), file('which', `layer ${i}\n`), ...(i === 127 ? [file('top', 'top\n')] : [])]));
  }
  const image = await fetchImage(t, s, layers);
  const args = ['run', image, '--exec', '/bin/sh', '--', '-c', 'cat /bottom /top /which; ls /layers | wc -l'];
  for (const path of ['node', 'replay']) {
    const r = await runSkiff(['--dir', s.dir, ...args], { env: { ...s.env, SKIFF_LAUNCH_TRACE: '1' } });
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, new RegExp(`^skiff launch: ${path} `, 'm'));
    t.deepEqual(r.stdout.trim().split('\n').map((l) => l.trim()), ['bottom', 'top', 'layer 127', '127'], path);
  }
});

test('an image whose /etc/hosts and /etc/resolv.conf are symlinks (dangling or not) gets the pod\'s own files there; the image is untouched', async (t) => {
  const s = await podStore(t);
  const links: TarEntry[] = [
    { path: 'etc/hosts', type: 'symlink', linkname: '../run/missing/hosts' }, // dangling, parent missing
    { path: 'etc/resolv.conf', type: 'symlink', linkname: '/etc/resolv.real' }, // to an image file
    file('etc/resolv.real', 'nameserver 203.0.113.9\n'),
    { path: 'etc/hostname', type: 'symlink', linkname: '/proc/sys/kernel/hostname' }, // would mount over procfs
  ];
  const image = await fetchImage(t, s, [buildLayer(await probeRootfs()), buildLayer(links)]);
  const script = 'cat /etc/hosts /etc/resolv.conf /etc/hostname /etc/resolv.real; for f in hosts resolv.conf hostname; do test -L /etc/$f && echo "link $f"; done; test -e /run/missing && echo made; true';
  const r = await s.skiff(['run', '--hostname', 'linked', '--dns', '198.18.0.53', image, '--exec', '/bin/sh', '--', '-c', script]);
  t.is(r.code, 0, r.stderr);
  const out = r.stdout;
  t.regex(out, /^127\.0\.1\.1\tlinked$/m, 'the pod\'s /etc/hosts');
  t.regex(out, /^nameserver 198\.18\.0\.53$/m, 'the pod\'s /etc/resolv.conf');
  t.regex(out, /^linked$/m, 'the pod\'s /etc/hostname');
  t.regex(out, /^nameserver 203\.0\.113\.9$/m, 'the link\'s old target is left as it was');
  t.notRegex(out, /^link |^made$/m, 'no symlink left, nothing made where the links pointed');
});
