/**
 * vagrant/ (README "Multi-host networking"): three Debian 12 VMs need VirtualBox or libvirt,
 * which these machines do not have, so what can be checked here is checked: Debian's
 * `vagrant validate` loads the Vagrantfile (no VM, no network: --ignore-provider, a throwaway
 * VAGRANT_HOME and dotfile dir), `shellcheck` passes every script (the daemon's unit,
 * dist/systemd/skiff-net.service, is verified with the other units in systemd-units.test.ts), and the overlay config the VMs store in etcd is one `skiff net config set`
 * accepts, on the project's ranges.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseCidr } from '../../network/ipv4.js';
import { parseOverlayConfig } from '../../network/overlay/flannel-config.js';
import { packageRoot } from '../../runtime/install-paths.js';
import { testWhen } from '../support/host-condition.js';
import { tempDir, type Teardown } from '../support/temp-dir.js';

const execFileAsync = promisify(execFile);
const vagrantDir = join(packageRoot(), 'vagrant');

/** The files of vagrant/ that are shell scripts (a #! line naming bash or sh). */
function shellScripts(): string[] {
  return readdirSync(vagrantDir)
    .filter((name) => statSync(join(vagrantDir, name)).isFile())
    .filter((name) => /^#!.*\b(bash|sh)\b/.test(readFileSync(join(vagrantDir, name), 'utf8').split('\n', 1)[0] ?? ''))
    .sort();
}

interface Run {
  code: number;
  output: string;
}

async function run(cmd: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileAsync(cmd, args, { ...options, timeout: 120_000 });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 254, output: `${e.stdout ?? ''}${e.stderr ?? ''}${typeof e.code === 'string' ? e.code : ''}` };
  }
}

/** `vagrant validate` in `dir`, offline and leaving nothing behind: no ~/.vagrant.d, no .vagrant/. */
function vagrantValidate(t: Teardown, dir: string): Promise<Run> {
  return run('vagrant', ['validate', '--ignore-provider'], {
    cwd: dir,
    env: {
      ...process.env,
      VAGRANT_HOME: tempDir(t, 'skiff-test-vagrant-home-'),
      VAGRANT_DOTFILE_PATH: join(tempDir(t, 'skiff-test-vagrant-dot-'), '.vagrant'),
      VAGRANT_CHECKPOINT_DISABLE: '1',
    },
  });
}

testWhen('vagrant-cli')('vagrant validate accepts vagrant/Vagrantfile (three VMs node1..3), and fails on a Vagrantfile whose provisioning script is missing', async (t) => {
  const ok = await vagrantValidate(t, vagrantDir);
  t.is(ok.code, 0, ok.output);
  t.regex(ok.output, /Vagrantfile validated successfully/);
  for (const node of ['node1', 'node2', 'node3']) t.true(ok.output.includes(`${node}:`), `${node} is defined: ${ok.output}`);

  // The same files without one script: validate must name it (it checks what the VMs would run).
  const copy = join(tempDir(t, 'skiff-test-vagrant-copy-'), 'vagrant');
  cpSync(vagrantDir, copy, { recursive: true, filter: (src) => !src.includes('/.vagrant') });
  rmSync(join(copy, 'provision-overlay'));
  const broken = await vagrantValidate(t, copy);
  t.not(broken.code, 0, broken.output);
  t.regex(broken.output, /provision-overlay/);
});

testWhen('shellcheck-cli')('shellcheck passes every script in vagrant/, and each is executable', async (t) => {
  const scripts = shellScripts();
  for (const expected of ['check', 'check-pod', 'provision-etcd', 'provision-node', 'provision-overlay', 'provision-skiff']) {
    t.true(scripts.includes(expected), `vagrant/${expected} is a shell script: found ${scripts.join(', ')}`);
  }
  for (const name of scripts) t.true((statSync(join(vagrantDir, name)).mode & 0o111) !== 0, `vagrant/${name} is executable`);
  const r = await run('shellcheck', ['--shell=bash', '--external-sources', ...scripts], { cwd: vagrantDir });
  t.is(r.code, 0, r.output);
});

test('vagrant/overlay.json is an overlay config skiff accepts, on 198.18.0.0/16 with a subnet per VM', (t) => {
  const config = parseOverlayConfig(readFileSync(join(vagrantDir, 'overlay.json'), 'utf8'), 'vagrant/overlay.json');
  t.deepEqual(config.network, parseCidr('198.18.0.0/16'));
  t.is(config.backend.type, 'vxlan');
  t.is(config.subnetLen, 24, 'a /24 per host');
});

test('vagrant/Vagrantfile puts the VMs on 198.19.56.0/24 and etcd on node1, as vagrant/check expects', (t) => {
  const vagrantfile = readFileSync(join(vagrantDir, 'Vagrantfile'), 'utf8');
  const check = readFileSync(join(vagrantDir, 'check'), 'utf8');
  const ips = [...vagrantfile.matchAll(/"(node\d)" => "([\d.]+)"/g)].map((m) => [m[1], m[2]]);
  t.deepEqual(ips, [['node1', '198.19.56.11'], ['node2', '198.19.56.12'], ['node3', '198.19.56.13']]);
  t.regex(vagrantfile, /ETCD_ENDPOINT = "http:\/\/#\{NODES\.fetch\("node1"\)\}:2379"/);
  t.regex(check, /^ETCD=http:\/\/198\.19\.56\.11:2379$/m);
  t.regex(check, /^NODES=\(node1 node2 node3\)$/m);
});
