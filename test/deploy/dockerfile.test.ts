import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { DockerfileParser, type Copy, type Instruction } from 'dockerfile-ast'
import { parse } from 'yaml'
import { configFields } from '../../src/config/fields.js'
import { startTestNode } from '../helpers/node.js'
import { isIgnored, parseDockerignore } from './dockerignore.js'

/** A lint of the Dockerfile (no engine runs here): structure, pinning, user, signals, contents. */

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const dockerfile = DockerfileParser.parse(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))
const ignore = parseDockerignore(readFileSync(join(ROOT, '.dockerignore'), 'utf8'))

interface Stage { readonly name: string, readonly image: string, readonly instructions: Instruction[] }

function stages (): Stage[] {
  const out: Array<{ name: string, image: string, instructions: Instruction[] }> = []
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const args = instruction.getArguments().map((a) => a.getValue())
      out.push({ name: args[2] ?? String(out.length), image: args[0] ?? '', instructions: [] })
    }
    out.at(-1)?.instructions.push(instruction)
  }
  return out
}

const all = stages()
const final = all.at(-1) as Stage
const build = all[0] as Stage
const args = (i: Instruction): string[] => i.getArguments().map((a) => a.getValue())
const of = (stage: Stage, keyword: string): Instruction[] => stage.instructions.filter((i) => i.getKeyword() === keyword)
const runText = (stage: Stage): string[] => of(stage, 'RUN').map((i) => i.getArgumentsContent() ?? '')
const fromStage = (i: Instruction): string | undefined => (i as Copy).getFromFlag?.()?.getValue() ?? undefined
const jsonArgs = (i: Instruction): string[] => JSON.parse(i.getArgumentsContent() ?? '[]') as string[]
const defaultOf = (path: string): unknown => configFields().find((f) => f.path === path)?.defaultValue

test('multi-stage, every base image pinned to an exact version or a digest', () => {
  assert.ok(all.length >= 2, 'a build stage and a runtime stage')
  const stageNames = new Set(all.map((s) => s.name))
  for (const stage of all) {
    if (stageNames.has(stage.image)) continue
    assert.match(stage.image, /@sha256:[0-9a-f]{64}$|:\d+\.\d+\.\d+[^:@]*$/, `${stage.image}: pin an exact version or a digest`)
    const nodeMajor = /^node:(\d+)\./.exec(stage.image)?.[1]
    // An LTS line (even major through 26) that is still supported: Node 20 reached its end of life
    // on 2026-04-30. The tests themselves run on whatever Node this machine has (engines >= 20).
    if (nodeMajor !== undefined) assert.ok(Number(nodeMajor) >= 22 && Number(nodeMajor) % 2 === 0, `${stage.image}: a supported Node LTS line`)
  }
})

test('the build stage applies the patches before compiling, and leaves only production dependencies', () => {
  const steps = build.instructions.map((i) => `${i.getKeyword()} ${i.getArgumentsContent() ?? ''}`)
  const at = (re: RegExp): number => steps.findIndex((s) => re.test(s))
  const copyPatches = at(/^COPY patches\//)
  const install = at(/^RUN .*npm ci/)
  const patch = at(/^RUN .*patch-package --error-on-fail/)
  const compile = at(/^RUN .*npm run build/)
  const prune = at(/^RUN .*npm prune --omit=dev/)
  assert.ok(copyPatches >= 0 && copyPatches < install, 'patches/ is copied before npm ci')
  assert.ok(install >= 0 && install <= patch, 'patch-package runs after the install and fails the build when a patch does not apply')
  assert.ok(compile >= 0 && compile <= prune, 'dev dependencies are pruned after the build')
  // Every patched package is a production dependency, so the prune keeps its patched files.
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean, hasInstallScript?: boolean }> }
  // `npm ci --ignore-scripts` is only safe while no package the image or the build runs needs its
  // install scripts (a native addon would need `npm rebuild`); dev tools such as esbuild (tsx)
  // never run in the image build.
  if (/--ignore-scripts/.test(steps[install] ?? '')) {
    const scripted = Object.entries(lock.packages)
      .filter(([path, p]) => path !== '' && p.hasInstallScript === true && (p.dev !== true || path === 'node_modules/typescript'))
      .map(([path]) => path)
    assert.deepEqual(scripted, [], 'packages with install scripts: add `npm rebuild` after npm ci --ignore-scripts')
  }
  for (const file of readdirSync(join(ROOT, 'patches'))) {
    const name = file.replace(/\+[^+]+\.patch$/, '').replace('+', '/')
    const entry = lock.packages[`node_modules/${name}`]
    assert.ok(entry !== undefined && entry.dev !== true, `${name} (patched) is a production package`)
  }
})

test('the final stage holds dist/, bin/ and production packages only', () => {
  for (const run of runText(final)) assert.doesNotMatch(run, /npm (ci|install|i)\b(?!.*--omit=dev)/, 'no install with dev dependencies')
  const copies = of(final, 'COPY').map((i) => args(i).filter((a) => !a.startsWith('--')))
  const sources = copies.flatMap((c) => c.slice(0, -1))
  assert.deepEqual(sources.map((s) => s.replace(/^\/app\//, '').replace(/\/$/, '')).sort(), ['bin', 'dist', 'node_modules', 'package.json'])
  const fromBuild = of(final, 'COPY').filter((i) => fromStage(i) === build.name).map((i) => args(i).filter((a) => !a.startsWith('--')).at(-2))
  assert.ok(fromBuild.includes('/app/node_modules'), 'node_modules comes from the pruned build stage')
  assert.ok(of(final, 'ENV').some((i) => /NODE_ENV=production/.test(i.getArgumentsContent() ?? '')))
  // What dist/ imports at run time must be in the production tree (not only a dev dependency).
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> }
  const walk = (dir: string): string[] => readdirSync(dir).flatMap((f) => statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)])
  for (const file of walk(join(ROOT, 'src')).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(/^import (?!type )[^'"]*?(?:from )?'([^'.][^']*)'|import\('([^'.][^']*)'\)/gm)) {
      const spec = (match[1] ?? match[2]) as string
      if (spec.startsWith('node:')) continue
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0] as string
      const entry = lock.packages[`node_modules/${name}`]
      assert.ok(entry !== undefined && entry.dev !== true, `${relative(ROOT, file)} imports ${name}, which is not a production package`)
    }
  }
})

test('runs as a non-root user that matches the chart, behind an init, stopped with SIGTERM', () => {
  const user = of(final, 'USER').at(-1)
  assert.ok(user !== undefined, 'a USER in the final stage')
  const [uid, gid] = (args(user)[0] ?? '').split(':')
  assert.ok(uid !== undefined && uid !== 'root' && uid !== '0', 'not root')
  assert.match(uid, /^\d+$/, 'a numeric uid, so Kubernetes can verify runAsNonRoot')
  const values = parse(readFileSync(join(ROOT, 'helm/starling/values.yaml'), 'utf8')) as { podSecurityContext: { runAsUser: number, runAsGroup: number } }
  assert.deepEqual([values.podSecurityContext.runAsUser, values.podSecurityContext.runAsGroup], [Number(uid), Number(gid ?? uid)], 'the chart runs the image\'s user')

  assert.deepEqual(dockerfile.getInstructions().filter((i) => i.getKeyword() === 'STOPSIGNAL').map((i) => args(i)), [['SIGTERM']])
  const entrypoint = of(final, 'ENTRYPOINT').at(-1)
  assert.ok(entrypoint !== undefined)
  const [init, ...rest] = jsonArgs(entrypoint)
  assert.equal(init, '/usr/bin/tini', 'tini is PID 1 (exec form, so no shell sits in between)')
  assert.ok(runText(final).some((r) => /apt-get install[^&]*\btini=/.test(r)), 'tini is installed (pinned) in the final stage')
  assert.deepEqual(rest, ['--', 'node', 'bin/starling.js'])
  assert.deepEqual(jsonArgs(of(final, 'CMD').at(-1) as Instruction), ['serve'])
})

test('the embedded mode\'s data directory exists, belongs to the image\'s user and is the chart\'s dataDir', () => {
  const env = of(final, 'ENV').map((i) => i.getArgumentsContent() ?? '').join('\n')
  const dir = /STARLING_DATA_DIR=(\S+)/.exec(env)?.[1]
  assert.ok(dir !== undefined, 'STARLING_DATA_DIR is set')
  const user = args(of(final, 'USER').at(-1) as Instruction)[0] ?? ''
  const run = runText(final).find((r) => r.includes(`mkdir -p ${dir}`))
  assert.ok(run !== undefined, `${dir} is created`)
  assert.match(run, new RegExp(`chown ${user} ${dir}`), `${dir} belongs to ${user}`)
  const helpers = readFileSync(join(ROOT, 'helm/starling/templates/_helpers.tpl'), 'utf8')
  assert.ok(helpers.includes(`define "starling.dataDir" -}}${dir}{{`), 'the chart mounts its volume at the same path')
})

test('EXPOSE lists Starling\'s default ports (from the config schema)', () => {
  const exposed = of(final, 'EXPOSE').flatMap((i) => args(i)).map((p) => Number(p.replace(/\/tcp$/, ''))).sort()
  const defaults = ['mqtt.port', 'tls.port', 'ws.port', 'wss.port', 'http.port'].map((p) => Number(defaultOf(p))).sort()
  assert.deepEqual(exposed, defaults)
})

test('HEALTHCHECK asks /healthz: exit 0 from a live node, 1 when nothing answers', async (t) => {
  const healthcheck = of(final, 'HEALTHCHECK').at(-1)
  assert.ok(healthcheck !== undefined, 'a HEALTHCHECK')
  const content = healthcheck.getArgumentsContent() ?? ''
  const command = JSON.parse(content.slice(content.indexOf('['))) as string[]
  assert.equal(command[0], 'node')
  assert.ok(command.join(' ').includes(`|| ${String(defaultOf('http.port'))}`), 'defaults to the schema\'s HTTP port')
  const run = (port: number): Promise<number> => new Promise((resolve) => {
    execFile(process.execPath, command.slice(1), { cwd: ROOT, env: { STARLING_HTTP_PORT: String(port) }, timeout: 10000 },
      (err) => resolve(err === null ? 0 : typeof err.code === 'number' ? err.code : -1))
  })
  const { httpPort, node } = await startTestNode(t)
  assert.equal(await run(httpPort), 0)
  await node.close()
  assert.equal(await run(httpPort), 1)
})

test('.dockerignore keeps the context to what the Dockerfile copies', () => {
  for (const path of ['node_modules/aedes/aedes.js', '.git/HEAD', 'test/unit/config.test.ts', 'dist/main.js', '.tmp/CONTEXT.md', 'helm/starling/values.yaml', 'loadtest/bench/cli.ts', 'deploy/local-cluster/start.sh', 'README.md', '.ci/run', 'src/x.test.ts', 'patches/node_modules/x']) {
    assert.ok(isIgnored(ignore, path), `${path} is kept out of the build context`)
  }
  // Every COPY source from the context exists and is not ignored (all of it, for folders).
  for (const stage of all) {
    for (const copy of of(stage, 'COPY')) {
      const a = args(copy)
      if (fromStage(copy) !== undefined) continue
      for (const source of a.filter((x) => !x.startsWith('--')).slice(0, -1)) {
        const path = source.replace(/\/$/, '')
        assert.ok(existsSync(join(ROOT, path)), `COPY ${source}: exists`)
        const files = statSync(join(ROOT, path)).isDirectory()
          ? readdirSync(join(ROOT, path), { recursive: true }).map((f) => `${path}/${String(f)}`).filter((f) => statSync(join(ROOT, f)).isFile())
          : [path]
        for (const file of files) assert.ok(!isIgnored(ignore, file), `${file} (COPY ${source}) is in the build context`)
      }
    }
  }
})
