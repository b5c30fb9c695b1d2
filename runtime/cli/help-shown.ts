/** Thrown after commander printed help; carries the exit code to use. */
export class HelpShown {
  constructor(readonly exitCode: number) {}
}
