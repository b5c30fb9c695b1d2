/**
 * A unit's WatchdogSec= through the handoff: systemd sets WATCHDOG_USEC (and WATCHDOG_PID, the
 * main PID: ours, and stage1's after the exec in place). stage1 hands the interval to the apps
 * with `--sd-notify=app` (native/stage1/sd-notify.c), whose WATCHDOG=1 it relays. As
 * sd_watchdog_enabled(3) says, a WATCHDOG_PID other than ours means the variables are not ours.
 */
export function watchdogEnvFromEnv(env: NodeJS.ProcessEnv, pid: number): string[] {
  const usec = env['WATCHDOG_USEC'];
  const owner = env['WATCHDOG_PID'];
  if (usec === undefined || !/^\d{1,20}$/.test(usec) || (owner !== undefined && owner !== String(pid))) return [];
  return [`WATCHDOG_USEC=${usec}`, ...(owner === undefined ? [] : [`WATCHDOG_PID=${owner}`])];
}
