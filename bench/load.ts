// One load process: holds SSE streams from one source address, records when each alarm arrived,
// supersedes streams on request, and drives POST /alarms. Commands come over IPC from bench/run.ts;
// every loop here is bounded in count and time.
import { openStream, type SseStream, type StreamEvents } from './sse-client'
import type { Command, Reply } from './protocol'

const now = () => performance.timeOrigin + performance.now() // one clock for every process on the machine

/** Open streams by user, or by "user device" for a device's stream. */
const streams = new Map<string, SseStream>()
const keyOf = (user: string, device?: string) => (device === undefined ? user : `${user} ${device}`)
const pathOf = (user: string, lang: string, device?: string) =>
  `/connection/${user}?lang=${lang}${device === undefined ? '' : `&device=${device}`}`
let receipts: number[] = [] // flat pairs: alarm id, arrival time
let opening: { pending: number; done: () => void } | undefined
const supersedeWaits = new Map<SseStream, (t: number) => void>()

const events: StreamEvents = {
  onReady() {
    settleOne()
  },
  onAlarm(_stream, id) {
    receipts.push(id, now())
  },
  onEnd(stream) {
    const wait = supersedeWaits.get(stream)
    if (wait) {
      supersedeWaits.delete(stream)
      wait(now())
    }
    if (!stream.ready) settleOne()
    if (streams.get(stream.user) === stream) streams.delete(stream.user)
  },
}

function settleOne() {
  if (opening && --opening.pending === 0) opening.done()
}

const send = (reply: Reply) => process.send!(reply)

async function open(command: Extract<Command, { type: 'open' }>) {
  const started = now()
  const { users, port, localAddress, lang, device } = command
  // Open in waves so the listen backlog is not overrun: at most `wave` handshakes in flight.
  const wave = 500
  for (let i = 0; i < users.length; i += wave) {
    const slice = users.slice(i, i + wave)
    await new Promise<void>((done) => {
      opening = { pending: slice.length, done }
      const timer = setTimeout(done, 30_000)
      opening.done = () => {
        clearTimeout(timer)
        done()
      }
      for (const user of slice)
        streams.set(keyOf(user, device), openStream({ hostname: '127.0.0.1', port, localAddress, user: keyOf(user, device), path: pathOf(user, lang, device) }, events))
    })
  }
  opening = undefined
  let ready = 0
  for (const user of users) if (streams.get(keyOf(user, device))?.ready) ready++
  send({ type: 'opened', ready, failed: users.length - ready, ms: now() - started })
}

async function supersede({ users, port, localAddress, lang, concurrency, device }: Extract<Command, { type: 'supersede' }>) {
  const samples: number[] = []
  const reasons: string[] = []
  let missing = 0
  for (let i = 0; i < users.length; i += concurrency) {
    await Promise.all(
      users.slice(i, i + concurrency).map(async (user) => {
        const older = streams.get(keyOf(user, device))
        if (!older || older.ended) return void (missing++, reasons.push(`${user}: no open stream to supersede`))
        const ended = new Promise<number>((resolve) => supersedeWaits.set(older, resolve))
        const started = now()
        const newer = openStream({ hostname: '127.0.0.1', port, localAddress, user: keyOf(user, device), path: pathOf(user, lang, device) }, events)
        streams.set(keyOf(user, device), newer)
        const end = await Promise.race([ended, Bun.sleep(15_000).then(() => NaN)])
        if (Number.isNaN(end)) {
          missing++
          reasons.push(`${user}: not ended in 15 s (${older.superseded ? 'its superseded event came' : 'no superseded event'}; newer ${newer.ready ? 'ready' : newer.ended ? 'ended' : 'not ready'})`)
        }
        else samples.push(end - started)
      }),
    )
  }
  send({ type: 'superseded', samples, missing, reasons: reasons.slice(0, 10) })
}

async function publish({ url, seconds, maxCount, concurrency, users, template }: Extract<Command, { type: 'publish' }>) {
  const deadline = performance.now() + seconds * 1000
  let ok = 0
  let failed = 0
  let issued = 0
  const started = performance.now()
  async function client() {
    while (performance.now() < deadline && issued < maxCount) {
      const user = users[issued++ % users.length]
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(
          template
            ? { userId: user, template: template.key, params: template.params, data: { n: issued } }
            : { userId: user, messages: { ko: '예약에 성공했습니다!', 'en-US': 'I have successfully made a reservation.', ja: '予約に成功しました' }, data: { n: issued } },
        ),
        signal: AbortSignal.timeout(5_000), // a stuck server fails the request, not the benchmark
      }).catch(() => undefined)
      if (res?.status === 201) ok++
      else failed++
      await res?.arrayBuffer().catch(() => undefined)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, client))
  send({ type: 'published', ok, failed, ms: performance.now() - started })
}

/** Batches of `size` alarms for random users; reports every stored alarm's id with its request's send time. */
async function publishBatches({ url, size, seconds, maxAlarms, concurrency, users }: Extract<Command, { type: 'batch' }>) {
  const deadline = performance.now() + seconds * 1000
  const stored: number[] = []
  let failed = 0
  let issued = 0
  const firstSent = now()
  const started = performance.now()
  async function client() {
    while (performance.now() < deadline && issued < maxAlarms) {
      const alarms = Array.from({ length: size }, () => ({
        userId: users[Math.floor(Math.random() * users.length)],
        messages: { ko: '예약에 성공했습니다!', 'en-US': 'I have successfully made a reservation.', ja: '予約に成功しました' },
        data: { n: issued++ },
      }))
      const sent = now()
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ alarms }),
        signal: AbortSignal.timeout(30_000), // a stuck server fails the request, not the benchmark
      }).catch(() => undefined)
      if (res?.status !== 201) {
        failed++
        await res?.arrayBuffer().catch(() => undefined)
        continue
      }
      const body = (await res.json()) as { alarms: { id: number }[] }
      for (const alarm of body.alarms) stored.push(alarm.id, sent)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, client))
  send({ type: 'batched', stored, failed, ms: performance.now() - started, firstSent })
}

/** POST /alarms paced at `rate`/s for random users; reports every stored alarm's id, send and answer times. */
async function publishSingles({ url, rate, count, seconds, maxInFlight, users, refused: refuse = false }: Extract<Command, { type: 'single' }>) {
  const stored: number[] = []
  let failed = 0
  const refusals: number[] = []
  let inFlight = 0
  const started = performance.now()
  const deadline = started + seconds * 1000
  const requests: Promise<void>[] = []
  async function one(n: number) {
    const body = JSON.stringify({
      userId: users[Math.floor(Math.random() * users.length)],
      ...(refuse ? {} : { messages: { ko: '예약에 성공했습니다!', 'en-US': 'I have successfully made a reservation.', ja: '予約に成功しました' } }),
      data: { n },
    })
    inFlight++
    const sent = now()
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(5_000), // a stuck server fails the request, not the benchmark
      }).catch(() => undefined)
      const acked = now()
      if (res?.status !== 201) {
        if (refuse && res?.status === 400) refusals.push(acked - sent)
        else failed++
        await res?.arrayBuffer().catch(() => undefined)
        return
      }
      const { id } = (await res.json()) as { id: number }
      stored.push(id, sent, acked)
    } finally {
      inFlight--
    }
  }
  for (let i = 0; i < count && performance.now() < deadline; i++) {
    const wait = started + (i * 1000) / rate - performance.now()
    if (wait > 0) await Bun.sleep(wait)
    if (inFlight >= maxInFlight) {
      failed++ // the server fell behind the pace: counted, not queued
      continue
    }
    requests.push(one(i))
  }
  await Promise.all(requests)
  send({ type: 'singled', stored, failed, refusals, ms: performance.now() - started })
}

let cpuMark = process.cpuUsage()
let wallMark = performance.now()

process.on('message', async (command: Command) => {
  switch (command.type) {
    case 'open':
      return open(command)
    case 'collect': {
      const out = receipts
      receipts = []
      return send({ type: 'receipts', receipts: out, open: [...streams.values()].filter((s) => s.ready && !s.ended).length })
    }
    case 'supersede':
      return supersede(command)
    case 'publish':
      return publish(command)
    case 'batch':
      return publishBatches(command)
    case 'single':
      return publishSingles(command)
    case 'cpu': {
      const cpu = process.cpuUsage(cpuMark)
      const wall = performance.now() - wallMark
      cpuMark = process.cpuUsage()
      wallMark = performance.now()
      return send({ type: 'cpu', percent: ((cpu.user + cpu.system) / 1000 / wall) * 100 })
    }
    case 'close': {
      for (const stream of streams.values()) stream.close()
      streams.clear()
      return send({ type: 'closed' })
    }
  }
})

send({ type: 'hello' })
