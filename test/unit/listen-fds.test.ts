/** Socket activation's variables through stage0 (runtime/pods/listen-fds.ts): only when LISTEN_PID is ours, as sd_listen_fds(3) says. */
import test from 'ava';
import { listenFdsFromEnv } from '../../runtime/pods/listen-fds.js';

test('LISTEN_* with our pid: passed on, with fds 3…', (t) => {
  t.deepEqual(listenFdsFromEnv({ LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'web:admin' }, 42), {
    env: ['LISTEN_PID=42', 'LISTEN_FDS=2', 'LISTEN_FDNAMES=web:admin'],
    fds: [3, 4],
  });
  t.deepEqual(listenFdsFromEnv({ LISTEN_PID: '42', LISTEN_FDS: '1' }, 42), { env: ['LISTEN_PID=42', 'LISTEN_FDS=1'], fds: [3] });
});

test('another process\'s LISTEN_PID, none, or a bad count: nothing passed', (t) => {
  const none = { env: [], fds: [] };
  t.deepEqual(listenFdsFromEnv({ LISTEN_PID: '41', LISTEN_FDS: '1' }, 42), none);
  t.deepEqual(listenFdsFromEnv({ LISTEN_FDS: '1' }, 42), none);
  t.deepEqual(listenFdsFromEnv({}, 42), none);
  t.deepEqual(listenFdsFromEnv({ LISTEN_PID: '42', LISTEN_FDS: '-1' }, 42), none);
  t.deepEqual(listenFdsFromEnv({ LISTEN_PID: '42', LISTEN_FDS: '1e3' }, 42), none);
});
