import type { PublisherStats, ReceiverStats, SessionEvents } from './traffic.js'

/** Counting and printing a chaos run: what was acknowledged against what each receiver got. */

export interface FaultRecord {
  readonly kind: string
  readonly target: string
  readonly startedAt: number
  readonly endedAt: number
}

export interface FaultRecovery extends FaultRecord {
  /**
   * From the fault's start until every receiver had, from every publisher, a message published
   * after the fault started (so it includes the fault's own length); null: not within the run.
   */
  readonly recoveredMs: number | null
}

export interface ReceiverCount {
  readonly name: string
  readonly members: number
  /** Acknowledged messages this receiver should have. */
  readonly expected: number
  /** Distinct acknowledged messages it got. */
  readonly delivered: number
  /** Extra copies beyond the first, at QoS 1 and at QoS 2. */
  readonly duplicatesQos1: number
  readonly duplicatesQos2: number
  readonly lost: number
  /** Messages it got that the publisher never saw acknowledged (allowed: the ack was lost). */
  readonly unackedDelivered: number
  /** Up to 10 lost `<publisher>:<sequence>`, to start an investigation from. */
  readonly lostSample: readonly string[]
  /** Up to 10 messages it got more than once at QoS 2. */
  readonly duplicateSample: readonly string[]
  /** When each sampled message was sent (ms since the epoch), to place it among the faults. */
  readonly sampleSentAt: Readonly<Record<string, number>>
  readonly perMember: Readonly<Record<string, number>>
}

export interface Totals {
  readonly sent: number
  readonly acknowledged: number
  readonly failed: number
  readonly expected: number
  readonly delivered: number
  readonly duplicatesQos1: number
  readonly duplicatesQos2: number
  readonly lost: number
  readonly receivers: readonly ReceiverCount[]
  readonly publishers: ReadonlyArray<{ name: string, qos: number, sent: number, acknowledged: number, failed: number }>
}

export interface ChaosResult {
  readonly runId: string
  readonly trafficStartedAt: number
  readonly trafficMs: number
  readonly drainedMs: number
  readonly totals: Totals
  readonly faults: readonly FaultRecovery[]
  readonly events: SessionEvents
  readonly podsAlive: number
  readonly pods: number
}

export function countDeliveries (publishers: readonly PublisherStats[], receivers: readonly ReceiverStats[]): Totals {
  const counts: ReceiverCount[] = receivers.map((r) => {
    let expected = 0
    let delivered = 0
    let duplicatesQos1 = 0
    let duplicatesQos2 = 0
    let lost = 0
    let unackedDelivered = 0
    const lostSample: string[] = []
    const duplicateSample: string[] = []
    const sampleSentAt: Record<string, number> = {}
    for (const p of publishers) {
      for (let seq = 0; seq < p.sentAt.length; seq++) {
        const key = `${p.name}:${seq}`
        const copies = r.copies.get(key) ?? 0
        if (copies > 1) {
          if (p.qos === 2) duplicatesQos2 += copies - 1
          else duplicatesQos1 += copies - 1
          if (p.qos === 2 && duplicateSample.length < 10) {
            duplicateSample.push(key)
            sampleSentAt[key] = p.sentAt[seq] as number
          }
        }
        if (!p.acked.has(seq)) {
          if (copies > 0) unackedDelivered++
          continue
        }
        expected++
        if (copies > 0) delivered++
        else {
          lost++
          if (lostSample.length < 10) {
            lostSample.push(key)
            sampleSentAt[key] = p.sentAt[seq] as number
          }
        }
      }
    }
    return { name: r.name, members: r.members.length, expected, delivered, duplicatesQos1, duplicatesQos2, lost, unackedDelivered, lostSample, duplicateSample, sampleSentAt, perMember: Object.fromEntries(r.perMember) }
  })
  const sum = (f: (c: ReceiverCount) => number): number => counts.reduce((a, c) => a + f(c), 0)
  return {
    sent: publishers.reduce((a, p) => a + p.sentAt.length, 0),
    acknowledged: publishers.reduce((a, p) => a + p.acked.size, 0),
    failed: publishers.reduce((a, p) => a + p.failed, 0),
    expected: sum((c) => c.expected),
    delivered: sum((c) => c.delivered),
    duplicatesQos1: sum((c) => c.duplicatesQos1),
    duplicatesQos2: sum((c) => c.duplicatesQos2),
    lost: sum((c) => c.lost),
    receivers: counts,
    publishers: publishers.map((p) => ({ name: p.name, qos: p.qos, sent: p.sentAt.length, acknowledged: p.acked.size, failed: p.failed }))
  }
}

export function recoveryTimes (faults: readonly FaultRecord[], publishers: readonly PublisherStats[], receivers: readonly ReceiverStats[]): FaultRecovery[] {
  return faults.map((fault) => {
    let worst = 0
    for (const r of receivers) {
      for (const p of publishers) {
        const first = (r.arrivals.get(p.name) ?? []).find(([seq]) => (p.sentAt[seq] ?? 0) >= fault.startedAt)
        if (first === undefined) return { ...fault, recoveredMs: null }
        worst = Math.max(worst, first[1] - fault.startedAt)
      }
    }
    return { ...fault, recoveredMs: worst }
  })
}

const s = (ms: number): string => (ms / 1000).toFixed(1)

export function formatReport (result: ChaosResult, command: string): string {
  const t = result.totals
  const lines = [
    `chaos run ${result.runId}: \`${command}\``,
    `traffic ${s(result.trafficMs)} s, drain ${s(result.drainedMs)} s, pods alive at the end ${result.podsAlive}/${result.pods}; ` +
      `client reconnects ${result.events.reconnects}, subscriber sessions missing on reconnect ${result.events.sessionsLost} ` +
      `(publishers: Session Present 0 on ${result.events.publisherSessionsNotPresent} reconnects, as aedes reports a session without subscriptions)`,
    '',
    '| publisher | QoS | sent | acknowledged | failed |',
    '|---|---|---|---|---|',
    ...t.publishers.map((p) => `| ${p.name} | ${p.qos} | ${p.sent} | ${p.acknowledged} | ${p.failed} |`),
    '',
    '| receiver | members | expected (acked) | delivered | duplicates QoS 1 | duplicates QoS 2 | lost | delivered, not acked |',
    '|---|---|---|---|---|---|---|---|',
    ...t.receivers.map((r) => `| ${r.name} | ${r.members} | ${r.expected} | ${r.delivered} | ${r.duplicatesQos1} | ${r.duplicatesQos2} | ${r.lost} | ${r.unackedDelivered} |`),
    '',
    `**sent ${t.sent}, acknowledged ${t.acknowledged}, delivered ${t.delivered} of ${t.expected} expected, duplicates ${t.duplicatesQos1 + t.duplicatesQos2} (QoS 1: ${t.duplicatesQos1}, QoS 2: ${t.duplicatesQos2}), lost ${t.lost}**`,
    '',
    '| # | fault | target | at (s into the traffic) | fault lasted (s) | recovered after (s, from fault start) |',
    '|---|---|---|---|---|---|',
    ...result.faults.map((f, i) => `| ${i + 1} | ${f.kind} | ${f.target} | ${s(f.startedAt - result.trafficStartedAt)} | ${s(f.endedAt - f.startedAt)} | ${f.recoveredMs === null ? 'not recovered' : s(f.recoveredMs)} |`)
  ]
  if (result.events.lostSessions.length > 0) {
    lines.push('', `subscriber sessions missing on reconnect (client, s into the traffic): ${result.events.lostSessions.map((l) => `${l.clientId.replace(/^chaos-[0-9a-f]+-/, '')} ${s(l.at - result.trafficStartedAt)}`).join(', ')}`)
  }
  for (const r of t.receivers) {
    if (r.members > 1) lines.push('', `${r.name} spread: ${Object.entries(r.perMember).map(([m, n]) => `${m} ${n}`).join(', ')}`)
    const sent = (key: string): string => `${key} (sent ${s((r.sampleSentAt[key] ?? 0) - result.trafficStartedAt)} s)`
    if (r.lost > 0) lines.push('', `${r.name} lost, first ${r.lostSample.length}: ${r.lostSample.map(sent).join(' ')}`)
    if (r.duplicateSample.length > 0) lines.push('', `${r.name} QoS 2 duplicates, first ${r.duplicateSample.length}: ${r.duplicateSample.map(sent).join(' ')}`)
  }
  return lines.join('\n') + '\n'
}
