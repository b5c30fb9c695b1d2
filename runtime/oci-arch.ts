/** Node's arch names differ from OCI's for a few platforms (x64 → amd64). Its own file: the run path and `version` both need it, and nothing else of either. */
import { arch } from 'node:os';

export function ociArch(nodeArch: string = arch()): string {
  const map: Record<string, string> = { x64: 'amd64', ia32: '386', arm: 'arm', arm64: 'arm64' };
  return map[nodeArch] ?? nodeArch;
}
