/**
 * The CLI bundle in CommonJS's module wrapper, as Node wraps a .cjs file: the
 * text the build makes V8's code cache for (build-bundle.ts) and the text the
 * entry runs (code-cache-loader.ts). A cache is only taken for the same text.
 */
export function wrapBundle(source: string): string {
  // A #! line is only allowed at a script's very start: made a comment, the line numbers stay.
  return `(function (exports, require, module, __filename, __dirname) { ${source.replace(/^#!/, '//')}\n});`;
}
