import type { MqttClient } from './clients.js'

/** Publishes `count` QoS 1 messages `<tag>-<i>` to `topic`, `batch` in flight at once. */
export async function publishMany (client: MqttClient, topic: string, tag: string, count: number, batch = 50): Promise<void> {
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i)
    await Promise.all(Array.from({ length: n }, async (_, k) => await client.publishAsync(topic, `${tag}-${i + k}`, { qos: 1 })))
  }
}

/** Sum over the pods' /metrics of one series' samples for `group`. */
export async function sumMetric (pods: ReadonlyArray<{ readonly httpPort: number }>, name: string, group: string): Promise<number> {
  let total = 0
  for (const pod of pods) {
    const text = await (await fetch(`http://127.0.0.1:${pod.httpPort}/metrics`)).text()
    for (const line of text.split('\n')) {
      if (line.startsWith(name + '{') && line.includes(`group="${group}"`)) total += Number(line.slice(line.lastIndexOf(' ') + 1))
    }
  }
  return total
}
