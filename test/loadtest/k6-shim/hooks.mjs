// Test-only module hook: resolves the k6 built-in modules the scripts import to the shims here.
const shims = { 'k6/websockets': 'websockets.ts', 'k6/timers': 'timers.ts', 'k6/metrics': 'metrics.ts' }
export async function resolve (specifier, context, next) {
  const file = shims[specifier]
  // Hand the shim to the next resolver (tsx) so it also loads the TypeScript.
  if (file !== undefined) return next(new URL(file, import.meta.url).href, context)
  return next(specifier, context)
}
