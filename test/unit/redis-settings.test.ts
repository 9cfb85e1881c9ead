import assert from 'node:assert/strict'
import { test } from 'node:test'
import { emitterChannelPrefix, persistenceKeyPrefix } from '../../src/cluster/keys.js'
import { redisSettings, retryDelayMs } from '../../src/cluster/redis.js'
import { loadConfig } from '../../src/config/load.js'
import { isStarlingError } from '../../src/errors.js'

const settingsOf = (overrides: Record<string, unknown>) => redisSettings(loadConfig({ overrides }).redis)

test('no URL, sentinels or cluster nodes: embedded mode', () => {
  assert.equal(settingsOf({}), undefined)
})

test('a standalone URL gives host, port, db and decoded credentials; the description hides them', () => {
  const s = settingsOf({ 'redis.url': 'redis://user:p%40ss%3Aword@10.0.0.5:6380/2' })
  assert.ok(s !== undefined)
  assert.deepEqual([s.mode, s.server, s.db, s.username, s.password, s.tls], ['standalone', { host: '10.0.0.5', port: 6380 }, 2, 'user', 'p@ss:word', false])
  assert.equal(s.describe, 'redis standalone 10.0.0.5:6380/2')
  assert.doesNotMatch(s.describe, /p@ss|user/)
  const tls = settingsOf({ 'redis.url': 'rediss://:secret@cache.example:6379' })
  assert.deepEqual([tls?.tls, tls?.password, tls?.username, tls?.server.port], [true, 'secret', undefined, 6379])
})

test('sentinels and cluster nodes choose the topology; the URL then carries only credentials and TLS', () => {
  const sentinel = settingsOf({ 'redis.url': 'rediss://:pw@ignored', 'redis.sentinels': ['s1:26379', 's2:26380'], 'redis.name': 'main' })
  assert.deepEqual([sentinel?.mode, sentinel?.sentinelName, sentinel?.sentinels, sentinel?.password, sentinel?.tls],
    ['sentinel', 'main', [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }], 'pw', true])
  const cluster = settingsOf({ 'redis.cluster.nodes': ['n1:7000', '[::1]:7001'], 'redis.sentinels': ['s1:26379'] })
  assert.deepEqual([cluster?.mode, cluster?.clusterNodes], ['cluster', [{ host: 'n1', port: 7000 }, { host: '::1', port: 7001 }]])
})

test('a URL with another scheme or a bad host:port is a configuration error', () => {
  for (const overrides of [{ 'redis.url': 'http://127.0.0.1:6379' }, { 'redis.sentinels': ['nohost'] }, { 'redis.cluster.nodes': ['a:b'] }]) {
    assert.throws(() => settingsOf(overrides), (err: unknown) => isStarlingError(err, 'STARLING_ERR_CONFIG_INVALID'))
  }
  const env = loadConfig({ env: { STARLING_REDIS_SENTINELS: '["a:1","b:2"]', STARLING_REDIS_CLUSTER_NODES: '[]' } })
  assert.deepEqual(env.redis.sentinels, ['a:1', 'b:2'])
})

test('reconnect delays grow from ~50 ms to at most ~2 s and never stop', () => {
  assert.equal(retryDelayMs(1, () => 0.5), 50)
  assert.equal(retryDelayMs(2, () => 0.5), 100)
  for (const times of [7, 50, 10000]) {
    const d = retryDelayMs(times, () => 1)
    assert.ok(d > 0 && d <= 2400, `${times}: ${d}`)
  }
})

test('Redis keys and channels live under one versioned prefix', () => {
  assert.equal(persistenceKeyPrefix(), 'starling:v1:')
  assert.ok(emitterChannelPrefix().startsWith(persistenceKeyPrefix()))
})
