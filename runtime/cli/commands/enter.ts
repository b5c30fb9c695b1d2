/** `skiff enter [--app NAME] UUID [CMD...]`: stage1 joins the running pod and runs CMD (default /bin/sh). */
import { execInPlace } from '../../../native/bindings/exec.js';
import { InvalidStateError } from '../../errors.js';
import { STAGE1_PATH_ENV, stage1Path } from '../../install-paths.js';
import { podDir } from '../../pods/pod-dirs.js';
import { podState, readPodPid } from '../../pods/pod-state.js';
import { resolvePodUuid } from '../../pods/pod-uuid.js';
import type { GlobalOptions } from '../global-options.js';

export default function enter(global: GlobalOptions, query: string, command: string[], flags: { app: string | undefined }): never {
  const location = resolvePodUuid(global.dir, query);
  const state = podState(global.dir, location);
  const dir = podDir(global.dir, location.state, location.uuid);
  const pid = readPodPid(dir);
  if (state !== 'running' || pid === undefined) {
    throw new InvalidStateError(`pod ${location.uuid} is ${state}${state === 'running' ? ' but its apps have not started yet' : ''}`, {
      input: location.uuid,
      hint: 'enter works on a running pod',
    });
  }
  const argv = ['skiff-stage1', 'enter', dir, String(pid), ...(flags.app === undefined ? [] : ['--app', flags.app]), '--', ...command];
  const env = [STAGE1_PATH_ENV, ...(process.env['TERM'] === undefined ? [] : [`TERM=${process.env['TERM']}`])];
  return execInPlace(stage1Path(), argv, env);
}
