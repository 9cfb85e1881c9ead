import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { ConnackReturnCode, ReasonCode } from '../../src/constants.js'
import { errorSpecs, StarlingError, isStarlingError, type ErrorSpec } from '../../src/errors.js'

test('error codes are well-formed and carry valid MQTT codes', () => {
  for (const [code, spec] of Object.entries(errorSpecs)) {
    assert.match(code, /^STARLING_ERR_[A-Z_]+$/)
    const { reasonCode, returnCode } = spec as { reasonCode?: number, returnCode?: number }
    // 0x00: accepted without being published (our aedes patch; an on-publish hook's drop)
    if (reasonCode !== undefined) assert.ok(reasonCode === 0x00 || (reasonCode >= 0x80 && reasonCode <= 0xa2), `${code} reason code`)
    if (returnCode !== undefined) assert.ok(returnCode >= 1 && returnCode <= 5, `${code} return code`)
  }
})

test('a StarlingError formats its message, keeps its cause and is recognised by code', () => {
  const cause = new Error('EADDRINUSE')
  const err = new StarlingError('STARLING_ERR_LISTEN', ['mqtt 127.0.0.1:1883', 'in use'], { cause })
  assert.equal(err.message, 'cannot listen on mqtt 127.0.0.1:1883: in use')
  assert.equal(err.cause, cause)
  assert.ok(isStarlingError(err, 'STARLING_ERR_LISTEN'))
  assert.ok(!isStarlingError(err, 'STARLING_ERR_CLI_USAGE'))
  assert.equal(new StarlingError('STARLING_ERR_MAX_CONNECTIONS', [5]).reasonCode, 0x97)
})

const srcDir = new URL('../../src/', import.meta.url).pathname

function sources (dir: string): Array<{ file: string, text: string }> {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sources(path)
    return path.endsWith('.ts') ? [{ file: path.slice(srcDir.length), text: readFileSync(path, 'utf8') }] : []
  })
}

test('every code of the registry is raised somewhere in src/ and documented in the README', () => {
  const code = sources(srcDir).filter(({ file }) => file !== 'errors.ts').map(({ text }) => text).join('\n')
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  for (const name of Object.keys(errorSpecs)) {
    assert.ok(code.includes(`'${name}'`), `${name} is never raised: raise it or remove it from src/errors.ts`)
    assert.ok(readme.includes('`' + name + '`'), `${name} is missing from the README errors table`)
  }
})

test('src/ creates no plain errors: every error comes from the registry', () => {
  const plain = /new (Error|RangeError|TypeError|SyntaxError)\(|extends Error\b/
  const offenders = sources(srcDir).flatMap(({ file, text }) => text.split('\n')
    .map((line, i) => ({ where: `${file}:${i + 1}`, line }))
    .filter(({ line }) => plain.test(line) && !/^\s*(\*|\/\/|\/\*)/.test(line))
    .map(({ where, line }) => `${where}: ${line.trim()}`))
  // errors.ts itself: StarlingError extends Error.
  assert.deepEqual(offenders.filter((o) => !o.startsWith('errors.ts:')), [])
})

test('reason and return codes in the registry are named MQTT codes', () => {
  const reasonCodes = new Set<number>(Object.values(ReasonCode))
  const returnCodes = new Set<number>(Object.values(ConnackReturnCode))
  for (const [code, spec] of Object.entries(errorSpecs) as Array<[string, ErrorSpec]>) {
    if (spec.reasonCode !== undefined) assert.ok(reasonCodes.has(spec.reasonCode), `${code}: reason code 0x${spec.reasonCode.toString(16)} is not in src/constants.ts`)
    if (spec.returnCode !== undefined) assert.ok(returnCodes.has(spec.returnCode), `${code}: return code ${spec.returnCode}`)
  }
})
