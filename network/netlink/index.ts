/**
 * Skiff's rtnetlink layer: the Netlink interface (types.ts), its kernel
 * implementation opened with openNetlink() (in any network namespace), an
 * in-memory FakeNetlink for unit tests, and the contract both satisfy.
 *
 * Importing this index does not load the native binding; open-netlink.ts
 * does, on first use of openNetlink through a dynamic import.
 */
export * from './types.js';
export { NetlinkError, isGone } from './netlink-error.js';
export { canonicalCidr, cidrContains, networkOf, parseCidr, randomMac } from './inet.js';
export type { OpenNetlinkOptions } from './open-netlink.js';
export { FakeNetlink } from './fake-netlink.js';
export { FakeNamespace, FakeNetworkWorld } from './fake-world.js';

import type { OpenNetlinkOptions } from './open-netlink.js';
import type { Netlink } from './types.js';

/** Opens a Netlink on the kernel, in this namespace or in `netnsPath`'s. */
export async function openNetlink(options: OpenNetlinkOptions = {}): Promise<Netlink> {
  const { openNetlink: open } = await import('./open-netlink.js');
  return open(options);
}
