/**
 * Code-unit order for sorting. Not localeCompare: its first call loads ICU's
 * collation data, 9-21 ms of `skiff run`'s start-up here (bench/start), and
 * paths, timestamps and protocol names need no locale.
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
