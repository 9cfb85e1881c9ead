import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { outgoingQueueKeys, pluginRetainedKey, pluginRetainedKeyPrefix, pluginWillKey, podOfPluginWillKey, topicOfPluginRetainedKey } from '../../src/cluster/keys.js'

const src = new URL('../../src/', import.meta.url).pathname

function sourceFiles (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : []
  })
}

test('a session queue\'s three keys share one hash tag (one Redis Cluster slot), whatever the client id', () => {
  const keys = outgoingQueueKeys('a{b}:c/d')
  const tags = keys.map((key) => /\{([^}]*)\}/.exec(key)?.[1])
  assert.equal(new Set(tags).size, 1)
  assert.ok(!tags[0]?.includes('{'), 'a brace in the client id does not end the tag early')
})

test('the pod and the topic come back out of the plugin keys built here', () => {
  const willKey = pluginWillKey('pod-1', 'client:with:colons')
  assert.equal(podOfPluginWillKey(willKey), 'pod-1')
  const prefix = 'starling:v1:' + pluginRetainedKeyPrefix()
  assert.equal(topicOfPluginRetainedKey('starling:v1:' + pluginRetainedKey('a/b c/#%'), prefix), 'a/b c/#%')
})

test('Redis key and channel names are built only in src/cluster/keys.ts', () => {
  // Key-shaped literals: a hash tag, a Starling namespace, or a known key family with a separator.
  const keyShaped = /['`](?:starling:v\d|\{[a-z]+\}:|(?:oq|client|retained|will|wills|share|clients):)/
  const offenders: string[] = []
  for (const file of sourceFiles(src)) {
    if (file.endsWith('cluster/keys.ts')) continue
    readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      if (/^\s*(\*|\/\/|\/\*)/.test(line)) return
      if (keyShaped.test(line)) offenders.push(`${file.slice(src.length)}:${i + 1}: ${line.trim()}`)
    })
  }
  assert.deepEqual(offenders, [])
})
