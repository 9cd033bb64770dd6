// The single phase (issue 17 item 3): one Herald process holding N streams, POST /alarms one at a
// time at a steady pace to random connected users — the path one alarm takes when nothing else is
// happening. Per alarm: the answer (request sent → 201) and the delivery (request sent → event
// parsed on its user's stream), on one clock; and Herald's CPU per published alarm, its CPU over
// the publishing window minus what an equal window at rest costs (heartbeats). Bounded in count and
// time; the Herald it starts is stopped.
//
// Then the floor, on the same machine at the same pace: what the database alone takes for a
// `select 1` and for the same alarm (3 texts) as one plain SQL statement and its commit, sent from
// here to a user with no stream — a publish cannot answer sooner than that, whatever Herald does;
// and a POST /alarms Herald refuses (400, nothing stored) at the same pace: how long the answer
// takes and the CPU it costs — what receiving and answering one request costs a process that is
// otherwise asleep.
import type postgres from 'postgres'
import type { LoadWorker, StreamsPhaseDeps } from './phase'
import { percentiles } from './report'

export type SingleBench = {
  /** Streams held (users u0…u<streams - 1>), all on the first load process. */
  streams: number
  /** POST /alarms per second. */
  rate: number
  /** How long it publishes; the window at rest is as long. */
  seconds: number
}

/** The load processes: the first holds the streams, the last publishes (another process, when there are two). */
export type SingleDeps<W extends LoadWorker> = StreamsPhaseDeps<W> & { connect(url: string): postgres.Sql }

/** Requests in flight at most: more means Herald fell behind the pace, and the request is counted failed. */
const MAX_IN_FLIGHT = 50
const DELIVERY_GRACE_MS = 10_000
const SETTLE_MS = 2000

export async function measureSingle<W extends LoadWorker>(options: SingleBench, deps: SingleDeps<W>): Promise<Record<string, number>> {
  const url = await deps.freshDatabase('herald_bench_single')
  const herald = await deps.startHerald(url)
  const m: Record<string, number> = {}
  try {
    const ready = await deps.open(herald.port, options.streams)
    m.streams = ready
    deps.log(`single: ${ready} of ${options.streams} streams open`)
    const users = Array.from({ length: ready }, (_, i) => `u${i}`)
    await Bun.sleep(SETTLE_MS) // the openings' work done before the window at rest begins

    // At rest: what the streams cost without publishing (their heartbeats), per second.
    const idle0 = await deps.cpuSeconds(herald.pid)
    const idleT0 = performance.now()
    await Bun.sleep(options.seconds * 1000)
    const idlePerSecond = ((await deps.cpuSeconds(herald.pid)) - idle0) / ((performance.now() - idleT0) / 1000)

    await deps.forget()
    const publisher = deps.workers[deps.workers.length - 1]!
    const cpu0 = await deps.cpuSeconds(herald.pid)
    const t0 = performance.now()
    const count = Math.round(options.rate * options.seconds)
    const reply = await deps.ask(
      publisher,
      { type: 'single', url: `http://127.0.0.1:${herald.port}/alarms`, rate: options.rate, count, seconds: options.seconds + 5, maxInFlight: MAX_IN_FLIGHT, users },
      'singled',
    )
    const expected = new Map<number, number>()
    const acks: number[] = []
    for (let i = 0; i < reply.stored.length; i += 3) {
      expected.set(reply.stored[i]!, reply.stored[i + 1]!)
      acks.push(reply.stored[i + 2]! - reply.stored[i + 1]!)
    }
    const delivered = await deps.awaitDeliveries(expected, DELIVERY_GRACE_MS)
    const cpu = (await deps.cpuSeconds(herald.pid)) - cpu0
    const wall = (performance.now() - t0) / 1000
    const ack = percentiles(acks)
    const event = percentiles(delivered.latencies)
    Object.assign(m, {
      rate: options.rate,
      alarms: expected.size,
      failed: reply.failed,
      lost: delivered.lost,
      duplicates: delivered.duplicates,
      ack_p50_ms: ack.p50,
      ack_p99_ms: ack.p99,
      event_p50_ms: event.p50,
      event_p99_ms: event.p99,
      event_max_ms: event.max,
      idle_cpu_ms_per_s: idlePerSecond * 1000,
      cpu_ms_per_alarm: ((cpu - idlePerSecond * wall) * 1000) / Math.max(1, expected.size),
    })
    deps.log(
      `single: ${expected.size} alarms at ${options.rate}/s, ack p50/p99 ${ack.p50.toFixed(2)} / ${ack.p99.toFixed(2)} ms, ` +
        `start → event p50/p99 ${event.p50.toFixed(2)} / ${event.p99.toFixed(2)} ms, ${delivered.lost} lost, ${reply.failed} failed, ` +
        `CPU ${m.cpu_ms_per_alarm!.toFixed(2)} ms per alarm (at rest ${m.idle_cpu_ms_per_s!.toFixed(2)} ms/s)`,
    )
    await deps.closeAll()

    const refusedCount = Math.min(count, 200)
    const cpuR0 = await deps.cpuSeconds(herald.pid)
    const tR0 = performance.now()
    const refusals = await deps.ask(
      publisher,
      { type: 'single', url: `http://127.0.0.1:${herald.port}/alarms`, rate: options.rate, count: refusedCount, seconds: refusedCount / options.rate + 5, maxInFlight: MAX_IN_FLIGHT, users, refused: true },
      'singled',
    )
    const cpuR = (await deps.cpuSeconds(herald.pid)) - cpuR0
    const wallR = (performance.now() - tR0) / 1000
    const refusal = percentiles(refusals.refusals)
    m.refused_cpu_ms_per_request = ((cpuR - idlePerSecond * wallR) * 1000) / Math.max(1, refusal.count)
    m.refused_answer_p50_ms = refusal.p50
    deps.log(
      `single: ${refusal.count} refused publishes (400) at ${options.rate}/s: answered p50 ${refusal.p50.toFixed(2)} ms, ` +
        `Herald CPU ${m.refused_cpu_ms_per_request!.toFixed(2)} ms each`,
    )

    const sql = deps.connect(url)
    try {
      const floorCount = Math.min(count, 200)
      const trip = await paced(options.rate, floorCount, () => sql`select 1`)
      const insert = await paced(options.rate, floorCount, (i) => insertPlain(sql, `floor${i % 1000}`))
      Object.assign(m, { floor_roundtrip_p50_ms: trip.p50, floor_insert_p50_ms: insert.p50, floor_insert_p99_ms: insert.p99 })
      deps.log(`single: floor at ${options.rate}/s: select 1 p50 ${trip.p50.toFixed(2)} ms, plain insert + commit p50/p99 ${insert.p50.toFixed(2)} / ${insert.p99.toFixed(2)} ms`)
    } finally {
      await sql.end()
    }
  } finally {
    await herald.stop()
  }
  return m
}

const MESSAGES = { ko: '예약에 성공했습니다!', 'en-US': 'I have successfully made a reservation.', ja: '予約に成功しました' }

/** The same alarm as the publishes, as a direct writer stores it: one statement, one commit. */
function insertPlain(sql: postgres.Sql, user: string) {
  return sql`
    with a as (insert into alarms (user_id, data) values (${user}, '{"n":1}') returning id)
    insert into alarm_messages (alarm_id, locale, message)
    select a.id, m.key, m.value from a, jsonb_each_text(${sql.json(MESSAGES)}) m`
}

/** `count` calls at `rate` per second, one at a time; the percentiles of their durations. */
async function paced(rate: number, count: number, call: (i: number) => Promise<unknown>) {
  const took: number[] = []
  const started = performance.now()
  for (let i = 0; i < count; i++) {
    const wait = started + (i * 1000) / rate - performance.now()
    if (wait > 0) await Bun.sleep(wait)
    const t = performance.now()
    await call(i)
    took.push(performance.now() - t)
  }
  return percentiles(took)
}
