import { createServer, type AddressInfo } from 'node:net'

/**
 * Ports and the HAProxy configuration of `starling local-cluster`. With a base port P:
 * HAProxy's MQTT frontend P, Redis P+1, HAProxy stats P+2, pod i (1-based) MQTT P+10i, WebSocket
 * P+10i+1, HTTP P+10i+2. Base port 0: every port is a free one picked at start.
 */
export interface PodPlan {
  readonly id: string
  readonly mqttPort: number
  readonly wsPort: number
  readonly httpPort: number
}

export interface ClusterPlan {
  readonly mqttPort: number
  readonly redisPort: number
  readonly statsPort: number
  readonly pods: readonly PodPlan[]
}

/** A free loopback port (bound, read, released). */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

export async function planCluster (pods: number, basePort: number): Promise<ClusterPlan> {
  const port = basePort === 0 ? async () => await freePort() : async (offset: number) => basePort + offset
  const plan: PodPlan[] = []
  for (let i = 1; i <= pods; i++) {
    plan.push({ id: `pod-${i}`, mqttPort: await port(10 * i), wsPort: await port(10 * i + 1), httpPort: await port(10 * i + 2) })
  }
  return { mqttPort: await port(0), redisPort: await port(1), statsPort: await port(2), pods: plan }
}

/**
 * TCP round robin over the pods' MQTT ports with PROXY protocol v2, each server checked with
 * `GET /readyz` on its HTTP port (a draining or Redis-less pod leaves the rotation). Client and
 * server timeouts exceed MQTT's usual keep alives, so idle clients are not cut.
 */
export function haproxyConfig (plan: ClusterPlan): string {
  return [
    'global',
    '  maxconn 4000',
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    '  timeout client 15m',
    '  timeout server 15m',
    '  timeout check 1s',
    'frontend mqtt',
    `  bind 127.0.0.1:${plan.mqttPort}`,
    '  default_backend pods',
    'backend pods',
    '  balance roundrobin',
    '  option httpchk GET /readyz',
    '  http-check expect status 200',
    ...plan.pods.map((pod) => `  server ${pod.id} 127.0.0.1:${pod.mqttPort} send-proxy-v2 check port ${pod.httpPort} inter 1s fall 2 rise 1`),
    'frontend stats',
    '  mode http',
    `  bind 127.0.0.1:${plan.statsPort}`,
    '  stats enable',
    '  stats uri /',
    ''
  ].join('\n')
}
