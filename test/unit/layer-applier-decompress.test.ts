import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { decoderDigest, decompressedLayerStream } from '../../image/applier/decompress.js';
import { createIsalGunzip } from '../../image/applier/isal-gunzip.js';
import { STREAM_CHUNK } from '../../image/stream-chunk.js';
import { DOCKER_LAYER_GZIP, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD } from '../../image/media-types.js';
import { ImageError } from '../../runtime/errors.js';
import { testWhen } from '../support/host-condition.js';

/** The stored blob as a stream of `chunk`-byte pieces. */
function blob(data: Buffer, chunk = 4096): Readable {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += chunk) parts.push(data.subarray(i, i + chunk));
  return Readable.from(parts);
}

async function collect(stream: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of stream) out.push(c as Buffer);
  return Buffer.concat(out);
}

const payload = Buffer.concat(Array.from({ length: 64 }, (_, i) => Buffer.alloc(10_000, i)));

// Every gzip rule holds for both inflaters: ISA-L where the host has it, zlib everywhere (SKIFF_INFLATE=zlib).
for (const inflater of ['isal', 'zlib'] as const) {
  const env = inflater === 'zlib' ? { SKIFF_INFLATE: 'zlib' } : {};
  const gzipTest: ReturnType<typeof testWhen> = inflater === 'isal' ? testWhen('isal') : (title, fn) => test(title, fn);

  gzipTest(`${inflater}: gzip (OCI and Docker media types) decompresses`, async (t) => {
    for (const type of [OCI_LAYER_GZIP, DOCKER_LAYER_GZIP]) {
      t.true((await collect(decompressedLayerStream(blob(gzipSync(payload)), type, env))).equals(payload));
    }
  });

  gzipTest(`${inflater}: concatenated gzip members are one valid stream`, async (t) => {
    const two = Buffer.concat([gzipSync(payload.subarray(0, 1000)), gzipSync(payload.subarray(1000))]);
    t.true((await collect(decompressedLayerStream(blob(two, 333), OCI_LAYER_GZIP, env))).equals(payload));
  });

  for (const [name, garbage] of [
    ['text', Buffer.from('GARBAGE')],
    ['NUL bytes (which zlib alone ignores)', Buffer.alloc(1000)],
    ['a bogus gzip magic', Buffer.from([0x1f, 0x8b, 1, 2, 3])],
  ] as const) {
    gzipTest(`${inflater}: gzip with trailing garbage is refused: ${name}`, async (t) => {
      for (const chunk of [7, 4096, 1 << 20]) {
        const err = await t.throwsAsync(collect(decompressedLayerStream(blob(Buffer.concat([gzipSync(payload), garbage]), chunk), OCI_LAYER_GZIP, env)));
        t.true(err instanceof ImageError, String(err));
        t.regex(err!.message, /trailing garbage/);
      }
    });
  }

  gzipTest(`${inflater}: a stream that is not gzip at all is called corrupt, not trailing garbage`, async (t) => {
    const err = await t.throwsAsync(collect(decompressedLayerStream(blob(Buffer.from('plain text, no gzip')), OCI_LAYER_GZIP, env)), { instanceOf: ImageError });
    t.regex(err!.message, /^gzip layer is corrupt: incorrect header check$/);
  });

  gzipTest(`${inflater}: truncated and empty gzip streams are refused`, async (t) => {
    const gz = gzipSync(payload);
    await t.throwsAsync(collect(decompressedLayerStream(blob(gz.subarray(0, gz.length - 10)), OCI_LAYER_GZIP, env)), { instanceOf: ImageError });
    await t.throwsAsync(collect(decompressedLayerStream(blob(gz.subarray(0, 100)), OCI_LAYER_GZIP, env)), { instanceOf: ImageError });
    await t.throwsAsync(collect(decompressedLayerStream(blob(Buffer.alloc(0)), OCI_LAYER_GZIP, env)), { instanceOf: ImageError });
  });

  gzipTest(`${inflater}: a damaged CRC-32, length or deflate data is refused`, async (t) => {
    const gz = gzipSync(payload);
    for (const at of [gz.length - 8, gz.length - 2, 40]) {
      const bad = Buffer.from(gz);
      bad[at] = (bad[at] ?? 0) ^ 0x5a;
      const err = await t.throwsAsync(collect(decompressedLayerStream(blob(bad), OCI_LAYER_GZIP, env)), { instanceOf: ImageError });
      t.regex(err!.message, /^gzip layer is corrupt: /);
    }
  });
}

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

testWhen('isal')('isal: the shim hashes what it inflates (the diffID), with every chunking and over concatenated members', async (t) => {
  const two = Buffer.concat([gzipSync(payload.subarray(0, 1000)), gzipSync(payload.subarray(1000))]);
  for (const chunk of [1, 4096, 1 << 20]) {
    for (const gz of [gzipSync(payload), two]) {
      const stream = decompressedLayerStream(blob(gz, chunk), OCI_LAYER_GZIP);
      const digest = decoderDigest(stream);
      t.truthy(digest, 'this host has a libcrypto in the process: the shim hashes');
      t.is(digest!(), undefined, 'no digest before the end');
      t.true((await collect(stream)).equals(payload));
      t.is(digest!(), sha256(payload));
    }
  }
  // A failed stream has no digest to trust.
  const cut = gzipSync(payload);
  const broken = decompressedLayerStream(blob(cut.subarray(0, cut.length - 4)), OCI_LAYER_GZIP);
  await t.throwsAsync(collect(broken));
  t.is(decoderDigest(broken)!(), undefined);
});

test('decoders that do not hash say so: the caller hashes (zlib, plain tar)', (t) => {
  t.is(decoderDigest(decompressedLayerStream(blob(gzipSync(payload)), OCI_LAYER_GZIP, { SKIFF_INFLATE: 'zlib' })), undefined);
  t.is(decoderDigest(decompressedLayerStream(blob(payload), OCI_LAYER)), undefined);
});

testWhen('isal')('isal: a consumer that does not read holds the inflater back (one small chunk of a gzip bomb does not fill memory)', async (t) => {
  // 64 MiB of zeros deflate to ~64 KiB: one input chunk that inflates a thousandfold.
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
  t.true(bomb.length < 128 * 1024);
  const inflater = createIsalGunzip()!;
  inflater.end(bomb);
  // Nobody reads: let it run until its output stops growing (without backpressure: all 64 MiB).
  let held = -1;
  for (let still = 0; still < 10; ) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    still = inflater.readableLength === held ? still + 1 : 0;
    held = inflater.readableLength;
  }
  t.true(held <= 4 * STREAM_CHUNK, `${held} bytes made while nobody read`);
  t.true((await collect(inflater)).equals(Buffer.alloc(64 * 1024 * 1024)));
});

test('uncompressed layers pass through', async (t) => {
  t.true((await collect(decompressedLayerStream(blob(payload), OCI_LAYER))).equals(payload));
});

test('an unknown media type is refused by name, and the stored stream is closed', (t) => {
  const stored = blob(payload);
  const err = t.throws(() => decompressedLayerStream(stored, 'application/vnd.oci.image.layer.v1.tar+lz4'), { instanceOf: ImageError });
  t.regex(err!.message, /unsupported layer media type "application\/vnd\.oci\.image\.layer\.v1\.tar\+lz4"/);
  t.true(stored.destroyed);
});

const zstdCli = ['/usr/bin/zstd', '/bin/zstd'].find((p) => existsSync(p));
const zstdTest = testWhen('zstd-cli');

zstdTest('zstd (through libzstd) decompresses; garbage after the frame and a cut frame are refused', async (t) => {
  const z = execFileSync(zstdCli!, ['-c', '-q'], { input: payload });
  for (const chunk of [5, 4096, 1 << 20]) {
    t.true((await collect(decompressedLayerStream(blob(z, chunk), OCI_LAYER_ZSTD))).equals(payload));
  }
  const garbage = await t.throwsAsync(collect(decompressedLayerStream(blob(Buffer.concat([z, Buffer.from('GARBAGE!')])), OCI_LAYER_ZSTD)));
  t.true(garbage instanceof ImageError);
  const cut = await t.throwsAsync(collect(decompressedLayerStream(blob(z.subarray(0, z.length - 5)), OCI_LAYER_ZSTD)));
  t.true(cut instanceof ImageError);
  t.regex(cut!.message, /truncated|corrupt/);
});
