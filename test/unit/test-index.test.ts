import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

// test/README.md is the index a newcomer reads to find a feature's tests: it stays true only if
// every test file is in its table, every listed file exists, and helpers stay in test/helpers/.

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TEST_DIR = join(ROOT, 'test')
const INDEX = readFileSync(join(TEST_DIR, 'README.md'), 'utf8')

/** Every file under test/, as a `test/...` path with forward slashes. */
function filesUnder (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort()
}

/** The text of the `## <title>` section below its heading, up to the next `## ` heading. */
function section (title: string): string {
  const heading = `\n## ${title}\n`
  const found = INDEX.indexOf(heading)
  assert.ok(found >= 0, `test/README.md has no "## ${title}" section`)
  const start = found + heading.length
  const end = INDEX.indexOf('\n## ', start)
  return INDEX.slice(start, end < 0 ? undefined : end)
}

/** The `test/...` paths in backticks of a section. */
function listedPaths (text: string): string[] {
  return [...text.matchAll(/`(test\/[^`\s]+)`/g)].map((match) => match[1] as string)
}

const allFiles = filesUnder(TEST_DIR)
const testFiles = allFiles.filter((file) => file.endsWith('.test.ts'))

test('every test file is in the feature table of test/README.md, and every file there exists', () => {
  const table = section('Feature → test files')
  const rows = table.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| Feature'))
  assert.ok(rows.length >= 20, 'the feature table has its rows')
  const listed = new Set(rows.flatMap(listedPaths))
  const missing = testFiles.filter((file) => !listed.has(file))
  assert.deepEqual(missing, [], 'test files missing from the "Feature → test files" table of test/README.md')
  const gone = [...listed].filter((file) => !existsSync(join(ROOT, file)))
  assert.deepEqual(gone, [], 'files in the table of test/README.md that do not exist')
  const notTests = [...listed].filter((file) => !file.endsWith('.test.ts'))
  assert.deepEqual(notTests, [], 'the table lists test files only')
})

test('every helper in test/helpers/ is described in test/README.md, and every one described exists', () => {
  const described = new Set(listedPaths(section('Helpers (`test/helpers/`)')))
  const helpers = allFiles.filter((file) => file.startsWith('test/helpers/'))
  assert.deepEqual(helpers.filter((file) => !described.has(file)), [], 'helpers without their line in test/README.md')
  assert.deepEqual([...described].filter((file) => !helpers.includes(file)), [], 'helpers described in test/README.md that do not exist')
})

test('no helper lives in a tier folder unless test/README.md lists it as an exception with its reason', () => {
  const exceptions = section('Support files outside `test/helpers/`')
    .split('\n')
    .filter((line) => line.startsWith('- `test/'))
    .map((line) => {
      const match = /^- `(test\/[^`]+)`: (.+)$/.exec(line)
      assert.ok(match, `an exception names its file and gives its reason: ${line}`)
      return match[1] as string
    })
  const covered = (file: string): boolean => exceptions.some((entry) => entry.endsWith('/') ? file.startsWith(entry) : file === entry)
  const outside = allFiles.filter((file) => !file.startsWith('test/helpers/') && file !== 'test/README.md' && !file.endsWith('.test.ts'))
  assert.deepEqual(outside.filter((file) => !covered(file)), [],
    'helpers outside test/helpers/: move them there (or list them, with the reason, in test/README.md)')
  const gone = exceptions.filter((entry) => !existsSync(join(ROOT, entry)))
  assert.deepEqual(gone, [], 'exceptions in test/README.md that do not exist')
  const stale = exceptions.filter((entry) => !outside.some((file) => entry.endsWith('/') ? file.startsWith(entry) : file === entry))
  assert.deepEqual(stale, [], 'exceptions in test/README.md that cover no support file')
})

test('the feature word finds the will tests in every tier (the example test/README.md gives)', () => {
  const wills = testFiles.filter((file) => /\/[^/]*wills[^/]*$/.test(file))
  const row = section('Feature → test files').split('\n').find((line) => line.startsWith('| Wills |'))
  assert.ok(row, 'the table has a Wills row')
  assert.deepEqual(listedPaths(row).sort(), wills)
})
