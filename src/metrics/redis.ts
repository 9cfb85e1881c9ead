import { Counter, Gauge, type Registry } from 'prom-client'
import { FastHistogram, type HistogramSeries } from './fast-histogram.js'

/**
 * Redis series: command latency and errors by command class and connection role, connection
 * state, reconnects and connection errors by role. Roles are the `role` of createRedisClient
 * (persistence, publish, subscribe, registry, ...): a handful per pod.
 */

/** Command classes: a fixed, small label set (never the command's keys). */
export const REDIS_COMMAND_CLASSES = ['read', 'write', 'pubsub', 'script', 'transaction', 'other'] as const
export type RedisCommandClass = typeof REDIS_COMMAND_CLASSES[number]

const CLASS_OF = new Map<string, number>()
function classify (cls: RedisCommandClass, names: string): void {
  const index = REDIS_COMMAND_CLASSES.indexOf(cls)
  for (const name of names.split(' ')) CLASS_OF.set(name, index)
}
classify('read', 'get mget getrange strlen exists type ttl pttl hget hmget hgetall hlen hexists hkeys hvals hstrlen hscan scan sscan zscan smembers sismember smismember scard srandmember llen lrange lindex lpos zrange zrangebyscore zrangebylex zrevrange zrevrangebyscore zrevrangebylex zscore zmscore zcard zcount zlexcount zrank dbsize')
classify('write', 'set setnx setex psetex mset msetnx getset getdel getex append del unlink hset hsetnx hmset hdel hincrby hincrbyfloat rpush lpush rpushx lpushx lrem lpop rpop lmove ltrim lset linsert sadd srem spop smove zadd zrem zremrangebyscore zremrangebylex zremrangebyrank zincrby zpopmin zpopmax expire pexpire expireat pexpireat persist incr incrby incrbyfloat decr decrby rename renamenx copy')
classify('pubsub', 'publish spublish subscribe psubscribe ssubscribe unsubscribe punsubscribe sunsubscribe pubsub')
classify('script', 'eval evalsha eval_ro evalsha_ro fcall fcall_ro script function')
classify('transaction', 'multi exec discard watch unwatch')
const OTHER = REDIS_COMMAND_CLASSES.indexOf('other')

/** Seconds: a pipelined command on a LAN answers in 0.1-1 ms; an outage holds commands for seconds. */
const COMMAND_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]

/** The ioredis client surface used here (Redis and Cluster both have it). */
export interface ObservedRedisClient {
  readonly status: string
  sendCommand (...args: unknown[]): unknown
  on (event: string, listener: (...args: unknown[]) => void): unknown
}

/** The ioredis Command fields used here. */
interface ObservedCommand {
  readonly name: string
  readonly args?: readonly unknown[]
  resolve: (value: unknown) => unknown
  reject: (err: Error) => unknown
  [SENT_AT]?: number
}

const SENT_AT = Symbol('starling.redis.sentAt')

/** ioredis' own CLIENT SETINFO on connect, which Redis before 7.2 refuses and ioredis ignores. */
function expectedFailure (command: ObservedCommand): boolean {
  return command.name === 'client' && String(command.args?.[0]).toUpperCase() === 'SETINFO'
}

export class RedisMetrics {
  readonly commandDuration: FastHistogram
  readonly commandErrors: Counter<'class' | 'role'>
  readonly connectionErrors: Counter<'role'>
  readonly reconnects: Counter<'role'>
  readonly connected: Gauge<'role'>
  /** The latest client of each role (a restarted registry replaces its entry). */
  readonly #clients = new Map<string, ObservedRedisClient>()

  constructor (registry: Registry) {
    const registers = [registry]
    const clients = this.#clients
    this.commandDuration = new FastHistogram({
      name: 'starling_redis_command_duration_seconds',
      help: 'Redis command latency, from sending to the reply, by command class and connection role',
      buckets: COMMAND_BUCKETS,
      registry
    })
    this.commandErrors = new Counter({ name: 'starling_redis_command_errors_total', help: 'Redis commands that failed (error reply, connection lost, retries exhausted), by command class and role', labelNames: ['class', 'role'], registers })
    this.connectionErrors = new Counter({ name: 'starling_redis_connection_errors_total', help: 'Redis connection errors, by role', labelNames: ['role'], registers })
    this.reconnects = new Counter({ name: 'starling_redis_reconnects_total', help: 'Redis reconnect attempts, by role', labelNames: ['role'], registers })
    this.connected = new Gauge({
      name: 'starling_redis_connected',
      help: '1 while the Redis connection of this role is ready for commands, else 0',
      labelNames: ['role'],
      registers,
      collect () {
        for (const [role, client] of clients) this.set({ role }, client.status === 'ready' ? 1 : 0)
      }
    })
  }

  /**
   * Measures every command sent through `client` and follows its connection. A command is
   * timed from its first send (a command retried after a reconnect keeps its start) to its
   * reply; its promise is not touched (no handler added), only its resolve/reject.
   */
  observe (client: ObservedRedisClient, role: string): void {
    this.#clients.set(role, client)
    const latency: HistogramSeries[] = REDIS_COMMAND_CLASSES.map((cls) => this.commandDuration.series({ class: cls, role }))
    const errors = REDIS_COMMAND_CLASSES.map((cls) => this.commandErrors.labels(cls, role))
    const reconnects = this.reconnects.labels(role)
    const connectionErrors = this.connectionErrors.labels(role)
    // Every series at 0 from the start, so rates and alerts have something to read.
    for (const counter of [...errors, reconnects, connectionErrors]) counter.inc(0)
    client.on('reconnecting', () => reconnects.inc())
    client.on('error', () => connectionErrors.inc())

    const send = client.sendCommand
    // ioredis: Redis#sendCommand(command, stream), Cluster#sendCommand(command, stream, node).
    client.sendCommand = function sendObserved (this: unknown, command: ObservedCommand, stream?: unknown, node?: unknown): unknown {
      if (command[SENT_AT] === undefined) {
        const start = performance.now()
        command[SENT_AT] = start
        const index = CLASS_OF.get(command.name) ?? OTHER
        const series = latency[index] as HistogramSeries
        const failures = errors[index] as (typeof errors)[number]
        const resolve = command.resolve
        const reject = command.reject
        command.resolve = (value) => {
          series.observe((performance.now() - start) / 1000)
          return resolve(value)
        }
        command.reject = (err) => {
          if (!expectedFailure(command)) failures.inc()
          return reject(err)
        }
      }
      return send.call(this, command, stream, node)
    }
  }
}
