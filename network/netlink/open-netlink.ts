/**
 * Opens Skiff's Netlink on a real rtnetlink socket, in this process's network
 * namespace or, with `netnsPath`, in another one (netns-socket.ts says why
 * that is safe in Node). The socket keeps that namespace for its life: every
 * request through the returned Netlink acts there.
 *
 * Loading this module loads the `netlink` package's native binding: import it
 * only on paths that change the network (DESIGN.md: every module loaded at
 * start-up counts).
 */
import { createNetlink, Protocol, type NetlinkSocket } from 'netlink';
import { KernelNetlink } from './kernel-netlink.js';
import { fromPackageError } from './netlink-error.js';
import { createInNetns } from './netns-socket.js';
import { DEFAULT_WINDOW, RequestChannel } from './request-channel.js';
import type { Netlink } from './types.js';

export interface OpenNetlinkOptions {
  /** A netns file (/run/netns/NAME, /proc/PID/ns/net); default: this process's namespace. */
  netnsPath?: string;
  /** Requests in flight at once (default 64; see request-channel.ts). */
  window?: number;
}

export function openNetlink(options: OpenNetlinkOptions = {}): Netlink {
  const open = (): NetlinkSocket => {
    try {
      return createNetlink(Protocol.ROUTE);
    } catch (err) {
      throw fromPackageError(`open rtnetlink socket${options.netnsPath === undefined ? '' : ` in ${options.netnsPath}`}`, err);
    }
  };
  const socket = options.netnsPath === undefined ? open() : createInNetns(options.netnsPath, open);
  return new KernelNetlink(new RequestChannel(socket, options.window ?? DEFAULT_WINDOW));
}
