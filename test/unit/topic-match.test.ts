import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as ts from '../../src/broker/topics.js'

/** The plain-JS mirror patched into aedes (lib/topic-match.js); aedes' exports hide the subpath. */
interface AedesTopicMatch {
  isValidFilter: (filter: string) => boolean
  isValidTopicName: (topic: string) => boolean
  filterMatches: (filter: string, topic: string) => boolean
}
const js = await import(new URL('../../node_modules/aedes/lib/topic-match.js', import.meta.url).href) as AedesTopicMatch

const FILTERS = ['#', '+', 'a', 'a/#', 'a/+', 'a/+/c', '+/+', '+/#', '/', '/#', '/+', 'a//c', 'a/', 'a/b/c', '$SYS/#', '$SYS/+', '+/b',
  '$app', 'ab/#', 'a/b', '', 'a/#/b', 'a+', '#/a', 'a/b#', '+a', 'a/+b', '##', 'a\u0000']
const TOPICS = ['a', 'a/b', 'a/b/c', 'a//c', 'a/', '/', '/a', '', 'ab', 'ab/c', '$SYS', '$SYS/x', '$app', '$app/b', 'b', 'x/b', 'a/bc']

test('aedes topic-match.js agrees with src/broker/topics.ts on validity and matching', () => {
  for (const filter of FILTERS) {
    assert.equal(js.isValidFilter(filter), ts.isValidFilter(filter), `valid ${JSON.stringify(filter)}`)
    if (!ts.isValidFilter(filter)) continue
    for (const topic of TOPICS) {
      if (!ts.isValidTopicName(topic)) continue
      assert.equal(js.filterMatches(filter, topic), ts.filterMatches(filter, topic), `${filter} ~ ${topic}`)
    }
  }
  for (const topic of [...TOPICS, 'a/+', '#', 'a\u0000']) {
    if (topic === '') continue // zero-length topics are refused earlier (protocol error / alias)
    assert.equal(js.isValidTopicName(topic), ts.isValidTopicName(topic), `name ${JSON.stringify(topic)}`)
  }
})
