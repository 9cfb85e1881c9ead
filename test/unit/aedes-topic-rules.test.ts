import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { TARGET, topicRulesModule } from '../../scripts/aedes-topic-rules.js'
import type * as topics from '../../src/broker/topics.js'

type Rules = Pick<typeof topics, 'isValidFilter' | 'isValidTopicName' | 'startsWithWildcard' | 'filterMatches'>

test('aedes runs src/broker/topics.ts: lib/topic-rules.js is its compiled output (regenerate with scripts/aedes-topic-rules.ts)', () => {
  assert.equal(readFileSync(TARGET, 'utf8'), topicRulesModule())
})

test('aedes topic-match.js hands its handlers the compiled rules, not a copy', async () => {
  // aedes' package exports hide the subpaths: import the files.
  const matcher = await import(new URL('../../node_modules/aedes/lib/topic-match.js', import.meta.url).href) as Rules
  const compiled = await import(new URL('../../node_modules/aedes/lib/topic-rules.js', import.meta.url).href) as Rules
  for (const name of ['isValidFilter', 'isValidTopicName', 'startsWithWildcard', 'filterMatches'] as const) {
    assert.equal(matcher[name], compiled[name], name)
  }
  // [MQTT-4.7.2-1] no `$` topic through a wildcard-first filter; [MQTT-4.7.1-2] `a/#` matches `a`.
  assert.equal(matcher.filterMatches('#', '$SYS/x'), false)
  assert.equal(matcher.filterMatches('$SYS/#', '$SYS/x'), true)
  assert.equal(matcher.filterMatches('a/#', 'a'), true)
  assert.equal(matcher.isValidFilter('a/#/b'), false)
  assert.equal(matcher.isValidTopicName('a/+'), false)
})
