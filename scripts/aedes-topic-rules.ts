/**
 * Compiles src/broker/topics.ts (the topic rules) into the patched aedes as lib/topic-rules.js,
 * so aedes and Starling run the same code and the patch keeps no hand-written copy:
 * `node --import tsx scripts/aedes-topic-rules.ts`, then `npx patch-package aedes`.
 * test/unit/aedes-topic-rules.test.ts checks that the installed file is this output.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
// esbuild is the compiler tsx runs our TypeScript with (TypeScript 7 has no JavaScript API).
import { transformSync } from 'esbuild'

export const SOURCE = fileURLToPath(new URL('../src/broker/topics.ts', import.meta.url))
export const TARGET = fileURLToPath(new URL('../node_modules/aedes/lib/topic-rules.js', import.meta.url))

const HEADER = '// [starling] generated from src/broker/topics.ts by scripts/aedes-topic-rules.ts: do not edit here.\n' +
  '// Topic Name and Topic Filter rules of MQTT §4.7 [MQTT-4.7.1-1..3] [MQTT-4.7.2-1] [MQTT-4.7.3-1].\n'

/** The JavaScript module aedes imports, from the TypeScript source. */
export function topicRulesModule (source = readFileSync(SOURCE, 'utf8')): string {
  const { code } = transformSync(source, { loader: 'ts', format: 'esm', target: 'es2022', sourcefile: 'topics.ts' })
  return HEADER + code
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(TARGET, topicRulesModule())
  process.stdout.write(`wrote ${TARGET}\n`)
}
