/**
 * sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET (an AF_UNIX path, or an
 * abstract name written with a leading '@'). Node has no AF_UNIX datagram sockets, so this goes
 * through libc (socket, sendto, close). Without NOTIFY_SOCKET it does nothing, as sd_notify does.
 */
import { check, libc } from './libc.js';

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SUN_PATH = 108;

const socketFn = libc.func('int socket(int domain, int type, int protocol)');
const sendtoFn = libc.func('long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)');
const closeFn = libc.func('int close(int fd)');

/** Sends `state` (e.g. "READY=1\nSTATUS=…"); false when there is no NOTIFY_SOCKET. Errors throw (NativeError). */
export function sdNotify(state: string, socketPath = process.env['NOTIFY_SOCKET']): boolean {
  if (socketPath === undefined || socketPath === '') return false;
  const name = Buffer.from(socketPath.startsWith('@') ? `\0${socketPath.slice(1)}` : socketPath);
  if (name.length >= SUN_PATH) throw new RangeError(`NOTIFY_SOCKET is longer than ${SUN_PATH - 1} bytes`);
  const addr = Buffer.alloc(2 + name.length + (socketPath.startsWith('@') ? 0 : 1));
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, 2);
  const fd = check('socket', socketFn(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) as number);
  try {
    const message = Buffer.from(state);
    check('sendto', Number(sendtoFn(fd, message, message.length, 0, addr, addr.length)), socketPath);
  } finally {
    closeFn(fd);
  }
  return true;
}
