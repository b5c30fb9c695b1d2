/**
 * `skiff list` and `skiff status`: they only read pod dirs, so they live apart
 * from stop/rm/gc (pods.ts) and load none of the teardown code. The launcher
 * prints the same itself (native/launcher/pod-query.c, pod-read.c): change
 * both, test/integration/launcher-queries.test.ts compares them.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidStateError } from '../../errors.js';
import { podInfo, type PodInfo } from '../../pods/pod-info.js';
import { listPodLocations, resolvePodUuid } from '../../pods/pod-uuid.js';
import type { GlobalOptions } from '../global-options.js';
import { printResult, renderTable } from '../output.js';
import { describePort } from '../../../network/port-forward.js';

/** rkt's --uuid-file: the UUID read from a file (`run --uuid-file-save` wrote it). */
export function uuidsFrom(args: string[], uuidFile: string | undefined): string[] {
  return uuidFile === undefined ? args : [...args, readFileSync(uuidFile, 'utf8').trim()];
}

/** rkt's NETWORKS column: `default:ip4=198.18.0.2`, or the name alone before the pod has an address. */
function networksText(pod: PodInfo): string {
  return pod.networks.map((n) => (n.ip === undefined ? n.name : `${n.name}:ip4=${n.ip}`)).join(',');
}

export function list(global: GlobalOptions, flags: { full: boolean; noLegend: boolean }): void {
  const pods = listPodLocations(global.dir).map((l) => podInfo(global.dir, l));
  printResult(global.format, pods, (all) => {
    const rows = [['UUID', 'APP', 'IMAGE NAME', 'STATE', 'CREATED', 'STARTED', 'NETWORKS']];
    for (const pod of all) {
      const apps = pod.apps.length === 0 ? [{ name: '-', image: '-' }] : pod.apps;
      apps.forEach((app, i) => {
        rows.push([
          i === 0 ? (flags.full ? pod.uuid : pod.uuid.slice(0, 8)) : '',
          app.name,
          app.image,
          i === 0 ? (pod.exitCode === null ? `${pod.state} (status unknown)` : pod.state) : '',
          i === 0 ? (pod.created ?? '') : '',
          i === 0 ? (pod.started ?? '') : '',
          i === 0 ? networksText(pod) : '',
        ]);
      });
    }
    return renderTable(rows, !flags.noLegend);
  });
}

function renderStatus(pod: PodInfo): string {
  const lines = [`state=${pod.state}`, `created=${pod.created ?? ''}`, `started=${pod.started ?? ''}`, `networks=${networksText(pod)}`];
  if (pod.ports.length > 0) lines.push(`ports=${pod.ports.map(describePort).join(',')}`);
  if (pod.pid !== undefined) lines.push(`pid=${pod.pid}`);
  const exited = pod.state === 'exited' || pod.state.startsWith('exited ');
  lines.push(`exited=${exited}`);
  for (const app of pod.apps) if (app.exit !== undefined) lines.push(`app-${app.name}=${app.exit.code}`);
  if (pod.exitCode !== undefined) lines.push(`exit-code=${pod.exitCode ?? 'unknown'}`);
  if (pod.reason !== undefined) lines.push(`reason=${pod.reason}`);
  if (pod.error !== undefined) lines.push(`error=${pod.error}`);
  return lines.join('\n');
}

export async function status(global: GlobalOptions, query: string, flags: { waitMs: number | undefined }): Promise<void> {
  const { uuid } = resolvePodUuid(global.dir, query);
  let pod = podInfo(global.dir, resolvePodUuid(global.dir, uuid));
  if (flags.waitMs !== undefined) {
    const deadline = Date.now() + flags.waitMs;
    while (pod.state === 'running' || pod.state === 'preparing' || pod.state === 'prepared' || pod.state === 'embryo') {
      if (Date.now() >= deadline) {
        throw new InvalidStateError(`pod ${uuid} has not exited after ${flags.waitMs} ms`, { input: uuid, hint: 'wait longer or stop it' });
      }
      await sleep(50);
      pod = podInfo(global.dir, resolvePodUuid(global.dir, uuid));
    }
  }
  printResult(global.format, pod, renderStatus);
}
