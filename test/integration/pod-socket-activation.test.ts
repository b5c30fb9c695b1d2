/**
 * Socket activation through a pod, with the real systemd-socket-activate listening on
 * 127.0.0.1 inside a test netns and starting `skiff run` on the first connection: the pod's
 * first app gets fd 3 (and no other fd), LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID equal to its
 * own pid as it sees it, serves the waiting client on the socket; the second app gets none of
 * it (native/stage1/listen-fds.c). Both paths: the first run records a plan, the identical
 * second one is replayed (SKIFF_LAUNCH_TRACE), the sockets being the invocation's, not the plan's.
 */
import test from 'ava';
import { podStore } from '../support/pod-store.js';
import { probeBinary } from '../support/probe-binary.js';
import { skiffLauncher } from '../support/skiff-cli.js';
import { testNetns } from '../support/netns.js';
import { testWhen } from '../support/host-condition.js';

const SOCKET_ACTIVATE = '/usr/bin/systemd-socket-activate';

interface ListenFacts {
  pid: number;
  listenPid: string | null;
  listenFds: string | null;
  listenFdNames: string | null;
  openFds: number[];
}

testWhen('socket-activate-cli')(
  'the first app gets the listening socket and LISTEN_* with its own pid, the second none; both paths',
  async (t) => {
    const s = await podStore(t);
    const ns = await testNetns(t, 'ska');
    const probe = await probeBinary();
    const env = Object.entries({ ...s.env, SKIFF_LAUNCH_TRACE: '1', PATH: process.env['PATH'] ?? '/usr/bin:/bin' }).map(([k, v]) => `--setenv=${k}=${v}`);
    for (const expected of ['node', 'replay']) {
      const activator = ns.spawn(SOCKET_ACTIVATE, [
        '--listen=127.0.0.1:8080', '--fdname=web', ...env,
        skiffLauncher(), '--dir', s.dir, 'run',
        s.image, '--name', 'web', '--exec', '/probe', '--', 'serve-listen-fds', '---',
        s.image, '--name', 'side', '--exec', '/probe', '--', 'serve-listen-fds',
      ], { stdio: ['ignore', 'pipe', 'pipe'] });
      t.teardown(() => {
        if (activator.exitCode === null && activator.signalCode === null) activator.kill('SIGKILL');
      });
      let stdout = '';
      let stderr = '';
      activator.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      const listening = new Promise<void>((resolve) => {
        activator.stderr!.setEncoding('utf8').on('data', (d: string) => {
          stderr += d;
          if (/Listening on/.test(stderr)) resolve();
        });
      });
      const exited = new Promise<number | null>((resolve) => activator.on('exit', (code) => resolve(code)));
      await Promise.race([listening, exited]);
      const client = await ns.run(probe, ['fetch', '127.0.0.1', '8080', '60000']);
      t.is(client.code, 0, `${client.stdout} ${stderr}`);
      t.is(await exited, 0, stderr);
      t.regex(stderr, new RegExp(`^skiff launch: ${expected} `, 'm'), stderr);
      const served = JSON.parse((JSON.parse(client.stdout) as { data: string }).data) as ListenFacts;
      const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as ListenFacts);
      const web = lines.find((l) => l.listenFds !== null);
      const side = lines.find((l) => l.listenFds === null);
      // By then it also holds the accepted connection, fd 4.
      t.deepEqual(served, web && { ...web, openFds: [3, 4] }, `${expected}: the client was served by the first app`);
      t.deepEqual(web && { ...web, pid: 0 }, { pid: 0, listenPid: String(web?.pid), listenFds: '1', listenFdNames: 'web', openFds: [3], ok: true } as ListenFacts, expected);
      t.deepEqual(side && { ...side, pid: 0 }, { pid: 0, listenPid: null, listenFds: null, listenFdNames: null, openFds: [], ok: true } as ListenFacts, expected);
    }
  },
);
