/**
 * The line a command prints when it has waited a second for another Skiff
 * command's lock (lockPath's onWait): without it a fetch held up by an
 * `image gc`, or a gc by a long fetch, looks hung.
 */
export function lockWaitNotice(what: string): () => void {
  return () => process.stderr.write(`skiff: waiting for ${what}: another skiff command (fetch, prepare, image gc or rm) is using it\n`);
}
