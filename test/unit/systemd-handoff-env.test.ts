/** What stage0 takes through the handoff from systemd (runtime/pods/listen-fds.ts, watchdog-env.ts): only what is ours, as sd_listen_fds(3) and sd_watchdog_enabled(3) say. */
import test from 'ava';
import { listenFdsFromEnv } from '../../runtime/pods/listen-fds.js';
import { watchdogEnvFromEnv } from '../../runtime/pods/watchdog-env.js';

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

test('WATCHDOG_USEC passed on when WATCHDOG_PID is ours or unset, else not', (t) => {
  t.deepEqual(watchdogEnvFromEnv({ WATCHDOG_USEC: '3000000', WATCHDOG_PID: '42' }, 42), ['WATCHDOG_USEC=3000000', 'WATCHDOG_PID=42']);
  t.deepEqual(watchdogEnvFromEnv({ WATCHDOG_USEC: '3000000' }, 42), ['WATCHDOG_USEC=3000000']);
  t.deepEqual(watchdogEnvFromEnv({ WATCHDOG_USEC: '3000000', WATCHDOG_PID: '41' }, 42), []);
  t.deepEqual(watchdogEnvFromEnv({ WATCHDOG_USEC: '3s' }, 42), []);
  t.deepEqual(watchdogEnvFromEnv({}, 42), []);
});
