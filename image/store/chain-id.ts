/**
 * ChainIDs (OCI image-spec, config.md "Layer ChainID"): the identity of a
 * layer together with every layer below it. ChainID(L0) = DiffID(L0);
 * ChainID(L0|…|Ln) = sha256(ChainID(L0|…|Ln-1) + " " + DiffID(Ln)). A layer
 * whose unpacked form depends on the layers below it (hardlinks copied up
 * from them, layer-store.ts) is stored under this, as containerd keys its
 * snapshots.
 */
import { createHash } from 'node:crypto';

/** The chainID of each layer of an image, from its diffIDs (bottom to top). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  let chain: string | undefined;
  for (const diffId of diffIds) {
    chain = chain === undefined ? diffId : `sha256:${createHash('sha256').update(`${chain} ${diffId}`).digest('hex')}`;
    out.push(chain);
  }
  return out;
}
