/**
 * One VM of the pair (test/vm/run-pair.sh): which side it plays, its underlay address, and the
 * markers the two VMs leave for each other on the share both mount.
 *
 * The role comes from SKIFF_VM_PAIR_ROLE (a or b), the share from SKIFF_VM_PAIR_DIR. A marker is
 * a file written whole (renamed into place); a wait for the other VM's marker is bounded, and ends
 * at once when the other VM is done without it: its tests over (`over-X`, written by the test
 * file's last hook) or the VM itself gone (`ended-X`, written by run-pair.sh on the host).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Netns, RunResult } from '../../support/netns.js';
import type { OverlayHost } from '../../support/overlay-hosts.js';

const execFileAsync = promisify(execFile);

export type Role = 'a' | 'b';

const role = process.env['SKIFF_VM_PAIR_ROLE'];
const dir = process.env['SKIFF_VM_PAIR_DIR'];
if ((role !== 'a' && role !== 'b') || dir === undefined) {
  throw new Error('SKIFF_VM_PAIR_ROLE (a|b) and SKIFF_VM_PAIR_DIR are unset: this file runs in the VM pair, started by test/vm/run-pair.sh');
}

export const me: Role = role;
export const peer: Role = role === 'a' ? 'b' : 'a';

/** The underlay, 198.19.0.0/24 on each VM's eth0 (its one NIC, the link to the other VM). */
export const UNDERLAY_IP: Record<Role, string> = { a: '198.19.0.1', b: '198.19.0.2' };
export const UNDERLAY_LINK = 'eth0';

/** Leaves a marker (its content: a line of text) for the other VM. */
export function mark(name: string, content = ''): void {
  const path = join(dir!, name);
  writeFileSync(`${path}.tmp`, `${content}\n`);
  renameSync(`${path}.tmp`, path);
}

/** Whether the other VM can no longer write anything: its tests are over, or it is gone (how, or undefined). */
export function peerDone(): string | undefined {
  for (const [file, what] of [[`ended-${peer}`, 'ended (run-pair.sh)'], [`over-${peer}`, 'finished its tests']] as const) {
    if (existsSync(join(dir!, file))) return what;
  }
  return undefined;
}

/** Waits (bounded) for the other VM's marker `name`; its content. */
export async function waitForPeer(name: string, what: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const path = join(dir!, name);
    if (existsSync(path)) return readFileSync(path, 'utf8').trim();
    const done = peerDone();
    if (done !== undefined) throw new Error(`VM ${peer} ${done} without ${what} (marker ${name}): see its output`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for VM ${peer}: ${what} (marker ${name})`);
    await sleep(100);
  }
}

/** Waits (bounded) until the other VM's tests are over or it is gone, whatever their outcome. */
export async function waitForPeerDone(timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (peerDone() === undefined) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/** The VM's own network namespace as a Netns: commands run directly, nsenter joins PID 1's netns (the same). */
const vmNetns: Netns = {
  name: 'vm',
  path: '/proc/1/ns/net',
  async run(command: string, args: string[] = []): Promise<RunResult> {
    try {
      const { stdout, stderr } = await execFileAsync(command, args);
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: unknown; stdout?: string; stderr?: string };
      if (typeof e.code !== 'number') throw err;
      return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  },
  spawn() {
    throw new Error('vm netns: spawn is not used here');
  },
  async destroy() {
    // The VM's own namespace: it goes with the VM.
  },
};

/**
 * This VM as an overlay host of test/support/overlay-hosts.ts, so its helpers (kernel state,
 * daemon logs) serve here: the daemon writes the default subnet.env, which `--net=overlay` reads.
 */
export const vmHost = (r: Role): OverlayHost => ({ name: `vm-${r}`, ns: vmNetns, publicIp: UNDERLAY_IP[r], subnetFile: '/run/skiff/subnet.env' });
