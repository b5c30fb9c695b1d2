/**
 * Socket activation through the handoff: when systemd (or systemd-socket-activate) started this
 * `skiff run` with listening sockets (fds 3…, LISTEN_FDS, LISTEN_FDNAMES, LISTEN_PID = our pid),
 * stage1, exec'd in place under the same pid, takes them on to the pod's first app
 * (native/stage1/listen-fds.c). As sd_listen_fds(3) does, a LISTEN_PID other than ours means the
 * variables were meant for another process (a parent's, inherited): nothing is passed. Like
 * NOTIFY_SOCKET these belong to the invocation, never to a pod's config or a run plan.
 */

/** The first listen fd (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

export interface ListenFds {
  /** LISTEN_* for stage1's environment. */
  env: string[];
  /** The fds to keep open across the exec. */
  fds: number[];
}

export function listenFdsFromEnv(env: NodeJS.ProcessEnv, pid: number): ListenFds {
  const count = env['LISTEN_FDS'];
  if (env['LISTEN_PID'] !== String(pid) || count === undefined || !/^\d{1,3}$/.test(count)) return { env: [], fds: [] };
  const names = env['LISTEN_FDNAMES'];
  return {
    env: [`LISTEN_PID=${pid}`, `LISTEN_FDS=${count}`, ...(names === undefined ? [] : [`LISTEN_FDNAMES=${names}`])],
    fds: Array.from({ length: Number(count) }, (_, i) => LISTEN_FDS_START + i),
  };
}
