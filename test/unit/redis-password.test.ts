import assert from 'node:assert/strict'
import { test } from 'node:test'
import { redisSettings } from '../../src/cluster/redis.js'
import { loadConfig } from '../../src/config/load.js'

// `redis.password` lets a Kubernetes Secret feed the password (STARLING_REDIS_PASSWORD) while the
// URL, which lives in a ConfigMap, carries none.

test('redis.password replaces the URL password, for standalone and Sentinel, and stays out of the description', () => {
  const fromEnv = redisSettings(loadConfig({ env: { STARLING_REDIS_URL: 'redis://app@10.0.0.5:6379/1', STARLING_REDIS_PASSWORD: 's3cr@t:/pw' } }).redis)
  assert.deepEqual([fromEnv?.mode, fromEnv?.username, fromEnv?.password, fromEnv?.db], ['standalone', 'app', 's3cr@t:/pw', 1])
  assert.doesNotMatch(fromEnv?.describe ?? '', /s3cr/)

  const overridesUrl = redisSettings(loadConfig({ overrides: { 'redis.url': 'redis://:old@h:6379', 'redis.password': 'new' } }).redis)
  assert.equal(overridesUrl?.password, 'new')

  const sentinel = redisSettings(loadConfig({ overrides: { 'redis.sentinels': ['s1:26379'], 'redis.password': 'pw' } }).redis)
  assert.deepEqual([sentinel?.mode, sentinel?.password], ['sentinel', 'pw'])
})

test('without redis.password the URL password is used; a password alone does not turn on cluster mode', () => {
  assert.equal(redisSettings(loadConfig({ overrides: { 'redis.url': 'redis://:inurl@h:6379' } }).redis)?.password, 'inurl')
  assert.equal(redisSettings(loadConfig({ overrides: { 'redis.url': 'redis://h:6379' } }).redis)?.password, undefined)
  assert.equal(redisSettings(loadConfig({ env: { STARLING_REDIS_PASSWORD: 'pw' } }).redis), undefined)
})
