// The batch phase (issue 17): with N streams open in one Herald process, (a) POST /alarms/batch
// at several batch sizes — alarms per second committed (answered 201) and delivered (every one
// received by its user's stream, none lost), against the batch size; (b) one fan-out (POST /alarms
// with userIds) to every connected user — from the request sent to the last event received.
// Bounded in count and time; the Herald it starts is stopped.
import type { LoadWorker, StreamsPhaseDeps } from './phase'
import { percentiles } from './report'

export type BatchBench = {
  /** Streams held while publishing (users u0…u<streams - 1>). */
  streams: number
  /** Alarms per POST /alarms/batch, one run each. */
  sizes: number[]
  /** How long each size publishes. */
  seconds: number
  /** Fan-outs to every connected user, one after the other. */
  fanOuts: number
}

/** One point of the curve: alarms per second at a batch size. */
export type BatchPoint = {
  size: number
  /** Alarms answered 201, per second of publishing. */
  perSecond: number
  /** Alarms received by their streams, per second from the first request sent to the last event. */
  deliveredPerSecond: number
  alarms: number
  lost: number
  failedRequests: number
  /** From the alarm's request sent to its event received. */
  p50Ms: number
  p99Ms: number
  /** Herald's CPU (user + system) per 1,000 alarms, publishing and delivering. */
  cpuMsPer1000: number
}

/** The load processes hold the streams; the last one also publishes. */
export type BatchDeps<W extends LoadWorker> = StreamsPhaseDeps<W>

const MESSAGES = { ko: 'KE17편이 40분 지연됩니다', en: 'Flight KE17 is 40 minutes late', ja: 'KE17便は40分遅れています' }
/** Clients per batch size: enough requests in flight to keep Herald's two bulk transactions busy, small ones grouped. */
const CONCURRENCY: Record<number, number> = { 1: 32, 10: 16, 100: 4, 1000: 3 }
const MAX_ALARMS_PER_SIZE = 300_000
const DELIVERY_GRACE_MS = 60_000

const now = () => performance.timeOrigin + performance.now() // the load processes' clock

export async function measureBatch<W extends LoadWorker>(
  options: BatchBench,
  deps: BatchDeps<W>,
): Promise<{ measures: Record<string, number | string>; curve: BatchPoint[] }> {
  const url = await deps.freshDatabase('herald_bench_batch')
  const herald = await deps.startHerald(url)
  const m: Record<string, number | string> = {}
  const curve: BatchPoint[] = []
  try {
    const ready = await deps.open(herald.port, options.streams)
    m.streams = ready
    deps.log(`batch: ${ready} of ${options.streams} streams open`)
    const users = Array.from({ length: options.streams }, (_, i) => `u${i}`)
    const publisher = deps.workers[deps.workers.length - 1]!
    for (const size of options.sizes) {
      await deps.forget()
      const cpu0 = await deps.cpuSeconds(herald.pid)
      const reply = await deps.ask(
        publisher,
        { type: 'batch', url: `http://127.0.0.1:${herald.port}/alarms/batch`, size, seconds: options.seconds, maxAlarms: MAX_ALARMS_PER_SIZE, concurrency: CONCURRENCY[size] ?? 4, users },
        'batched',
      )
      const expected = new Map<number, number>()
      for (let i = 0; i < reply.stored.length; i += 2) expected.set(reply.stored[i]!, reply.stored[i + 1]!)
      const delivered = await deps.awaitDeliveries(expected, DELIVERY_GRACE_MS)
      const cpu = (await deps.cpuSeconds(herald.pid)) - cpu0
      const p = percentiles(delivered.latencies)
      const point: BatchPoint = {
        size,
        perSecond: (expected.size / reply.ms) * 1000,
        deliveredPerSecond: ((expected.size - delivered.lost) / Math.max(1, delivered.lastArrival - reply.firstSent)) * 1000,
        alarms: expected.size,
        lost: delivered.lost,
        failedRequests: reply.failed,
        p50Ms: p.p50,
        p99Ms: p.p99,
        cpuMsPer1000: (cpu * 1000 * 1000) / Math.max(1, expected.size),
      }
      curve.push(point)
      deps.log(
        `batch size ${size}: ${Math.round(point.perSecond)} alarms/s committed, ${Math.round(point.deliveredPerSecond)}/s delivered, ` +
          `${point.lost} lost of ${point.alarms}, ${point.failedRequests} requests failed, p99 ${Math.round(point.p99Ms)} ms, Herald CPU ${point.cpuMsPer1000.toFixed(0)} ms per 1,000`,
      )
    }

    // One fan-out to every connected user, a few times: request sent → last event received.
    const lasts: number[] = []
    const answers: number[] = []
    let lost = 0
    for (let run = 0; run < options.fanOuts; run++) {
      await deps.forget()
      const body = JSON.stringify({ userIds: users, messages: MESSAGES, data: { run } })
      const sent = now()
      const res = await fetch(`http://127.0.0.1:${herald.port}/alarms`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(30_000),
      })
      const answered = now()
      if (res.status !== 201) throw new Error(`fan-out: ${res.status} ${await res.text()}`)
      const { alarms } = (await res.json()) as { alarms: { id: number }[] }
      const delivered = await deps.awaitDeliveries(new Map(alarms.map((alarm) => [alarm.id, sent])), 30_000)
      lost += delivered.lost
      lasts.push(delivered.lastArrival - sent)
      answers.push(answered - sent)
      deps.log(`fan-out to ${users.length}: answered in ${Math.round(answered - sent)} ms, last event at ${Math.round(delivered.lastArrival - sent)} ms, ${delivered.lost} lost`)
    }
    const last = percentiles(lasts)
    const answer = percentiles(answers)
    Object.assign(m, {
      fanout_users: users.length,
      fanout_last_p50_ms: last.p50,
      fanout_last_max_ms: last.max,
      fanout_answer_p50_ms: answer.p50,
      fanout_lost: lost,
      fanout_runs: options.fanOuts,
    })
    const best = curve.reduce((a, b) => (b.deliveredPerSecond > a.deliveredPerSecond ? b : a), curve[0]!)
    if (best) Object.assign(m, { best_size: best.size, best_per_s: best.perSecond, best_delivered_per_s: best.deliveredPerSecond })
    await deps.closeAll()
  } finally {
    await herald.stop()
  }
  return { measures: m, curve }
}
