// Cluster mode as an operator runs it: `HERALD_WORKERS=2 bun src/cli/main.ts`, real processes on one port.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { alive, freePort } from '../src/cli/process'
import { testDb, type TestDb } from './helpers/db'
import { ready, until } from './helpers/herald'
import { connectionOwners, spawnEntry, within } from './helpers/process'
import { readSse } from './helpers/sse'

let db: TestDb
beforeAll(async () => {
  db = await testDb('cluster')
})
afterAll(async () => {
  await db[Symbol.asyncDispose]()
  const redis = new Bun.RedisClient(MACHINE_REDIS)
  const keys = (await redis.send('KEYS', [`${BACKENDS[1]![1].HERALD_REDIS_PREFIX}*`])) as string[]
  if (keys.length) await redis.send('DEL', keys)
  redis.close()
})

/** Redis only when `env` asks for it: a REDIS_URL in the developer's shell must not leak in. */
function startCluster(port: number, env: Record<string, string> = {}) {
  const { REDIS_URL: _url, HERALD_REDIS_PREFIX: _prefix, ...inherited } = process.env
  return spawnEntry('src/cli/main.ts', {
    env: { ...inherited, DATABASE_URL: db.url, PORT: String(port), HOST: '127.0.0.1', HERALD_WORKERS: '2', ...env },
  })
}

const MACHINE_REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

test('two workers share a port; a killed worker is restarted; streams supersede across workers; SIGTERM stops all', async () => {
  const port = freePort()
  const url = `http://127.0.0.1:${port}`
  const cluster = startCluster(port)
  try {
    await cluster.waitFor(/listening on/, 2)
    const pids = (await cluster.waitFor(/worker \d started \(pid (\d+)\)/, 2)).map((m) => Number(m[1]))
    expect(new Set(pids).size).toBe(2)
    const health = await Promise.all(Array.from({ length: 20 }, () => fetch(`${url}/health`).then((r) => r.status)))
    expect(health.every((status) => status === 200)).toBe(true)

    // One user, streams opened one after another: wherever each lands, the newer ends the older.
    let older = readSse(await fetch(`${url}/connection/clustered?lang=ko`))
    await ready(older)
    for (let i = 0; i < 4; i++) {
      const newer = readSse(await fetch(`${url}/connection/clustered?lang=ko`))
      await ready(newer)
      expect((await older.nextEvent())?.event).toBe('superseded')
      older = newer
    }
    await older.cancel()

    process.kill(pids[0]!, 'SIGKILL')
    await cluster.waitFor(/exited with SIGKILL; restarting/)
    const restarted = await cluster.waitFor(/worker \d started \(pid (\d+)\)/, 3)
    expect(Number(restarted[2]![1])).not.toBe(pids[0])
    await cluster.waitFor(/listening on/, 3)
    expect((await fetch(`${url}/health`)).status).toBe(200)

    cluster.proc.kill('SIGTERM')
    expect(await cluster.proc.exited).toBe(0)
    const workers = [pids[1]!, Number(restarted[2]![1])]
    await until(() => workers.every((pid) => !alive(pid)), 'every worker to exit', 5000)
  } finally {
    await cluster.stop()
  }
}, 60_000)

/**
 * One alarm for `userId` per round, sent again on a network error (say, on a pooled connection to
 * the killed worker) or a 5xx: its key makes a retry whose first attempt did commit return that alarm
 * (200) instead of storing a second one.
 */
async function publish(url: string, userId: string, round: number): Promise<number> {
  const body = JSON.stringify({ userId, messages: { en: `round ${round}` }, data: { round }, key: `round-${round}` })
  let failure: unknown
  for (let attempt = 0; attempt < 10; attempt++) {
    if (attempt > 0) await Bun.sleep(20 * attempt) // the publisher's back-off, not a wait for an event
    try {
      const response = await fetch(`${url}/alarms`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(5000),
      })
      if (response.status === 201 || response.status === 200) return ((await response.json()) as { seq: number }).seq
      failure = new Error(`POST /alarms for ${userId}: ${response.status} ${await response.text()}`)
      if (response.status < 500) break
    } catch (error) {
      failure = error
    }
  }
  throw failure
}

const MAX_FAILURES_IN_A_ROW = 10
const MAX_STREAMS = 20

/**
 * A client that behaves like `EventSource`: when its stream ends or fails, it connects again to the
 * same address with `Last-Event-ID` set to the last `id:` it received (before any alarm: the `since`
 * of its first `ready`), after a short back-off, at most MAX_FAILURES_IN_A_ROW times in a row.
 * `offlineUntil` holds its first reconnect, as a client whose network is down: the test decides when
 * it comes back, instead of racing a timer.
 */
function resumingClient(url: string, userId: string, offlineUntil: Promise<void>) {
  const controller = new AbortController()
  const aborted = new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve()))
  let lastEventId: string | null = null
  const client = {
    userId,
    /** Every alarm, and which of the client's streams (0 = the first) brought it. */
    received: [] as { seq: number; round: number; stream: number }[],
    /** Every stream that opened: the cursor the client resumed after, the `since` its `ready` gave. */
    streams: [] as { lastEventId: string | null; since: number }[],
    /** Open streams that ended or failed under the client. */
    cuts: 0,
    /** What a correct cluster never does here: a superseded or expired stream, retries run out. */
    problems: [] as string[],
    done: Promise.resolve(),
    close() {
      controller.abort()
      return client.done
    },
  }
  const failures: string[] = []
  client.done = (async () => {
    const more = () => failures.length < MAX_FAILURES_IN_A_ROW && client.streams.length < MAX_STREAMS
    while (!controller.signal.aborted && more()) {
      let open = false
      try {
        const headers: Record<string, string> = lastEventId === null ? {} : { 'last-event-id': lastEventId }
        const response = await fetch(`${url}/connection/${userId}`, { headers, signal: controller.signal })
        if (response.status !== 200) throw new Error(`${response.status} ${await response.text()}`)
        const sse = readSse(response)
        for (let event = await sse.nextEvent(); event; event = await sse.nextEvent()) {
          if (event.event === 'ready') {
            const { since } = JSON.parse(event.data!) as { since: number }
            client.streams.push({ lastEventId, since })
            lastEventId ??= String(since)
            open = true
            failures.length = 0
          } else if (event.event === 'alarm') {
            const alarm = JSON.parse(event.data!) as { seq: number; data: { round: number } }
            const stream = client.streams.length - 1
            client.received.push({ seq: alarm.seq, round: alarm.data.round, stream })
            lastEventId = event.id!
          } else if (event.event !== 'badge') {
            client.problems.push(`unexpected event: ${event.raw}`)
            return
          }
        }
        failures.push('the stream ended')
      } catch (error) {
        if (controller.signal.aborted) return
        failures.push(String(error))
      }
      if (open && ++client.cuts === 1) await Promise.race([offlineUntil, aborted])
      // The client's own back-off (an EventSource waits the server's `retry:`, 2 s; this one less, so
      // the test stays short). Nothing is synchronised by it.
      if (!controller.signal.aborted) await Bun.sleep(Math.min(20 * 2 ** failures.length, 500))
    }
    if (!controller.signal.aborted) client.problems.push(`gave up: ${failures.join('; ')}`)
  })()
  return client
}

type Client = ReturnType<typeof resumingClient>

// /proc tells which worker accepted each stream; and only Linux spreads a reusePort group's
// connections between its processes.
// Once with each backend for the signals between the workers.
const BACKENDS: [string, Record<string, string>][] = [
  ['PostgreSQL', {}],
  ['Redis', { REDIS_URL: MACHINE_REDIS, HERALD_REDIS_PREFIX: `herald-test-${crypto.randomUUID()}:` }],
]
test.skipIf(process.platform !== 'linux').each(BACKENDS)(
  'clients of a worker killed with SIGKILL reconnect to another and resume: every alarm once, in order (%s signals)',
  async (backend, env) => {
    const port = freePort()
    const url = `http://127.0.0.1:${port}`
    const cluster = startCluster(port, env)
    const clients: Client[] = []
    const offline = Promise.withResolvers<void>()
    try {
      await cluster.waitFor(/listening on/, 2)
      const pids = (await cluster.waitFor(/worker \d+ started \(pid (\d+)\)/, 2)).map((m) => Number(m[1]))
      const [victim, survivor] = pids as [number, number]

      // Streams opened one at a time, each on a new connection (the ones before it are busy
      // streaming): the one connection that appears with it is its own, and its owner its worker.
      const workerOf = new Map<Client, number>()
      let before = connectionOwners(port, pids)
      for (let i = 0; i < 40; i++) {
        const client = resumingClient(url, `resumer-${backend}-${i}`, offline.promise)
        clients.push(client)
        const settled = () => client.streams.length > 0 || client.problems.length > 0
        await until(settled, `${client.userId}'s stream`, 5000)
        expect(client.problems).toEqual([])
        const after = connectionOwners(port, pids)
        const appeared = [...after].filter(([clientPort]) => !before.has(clientPort))
        expect(appeared).toHaveLength(1)
        workerOf.set(client, appeared[0]![1])
        before = after
      }
      // Asked only now: its keep-alive connection would have been taken for a stream above.
      const health = (await (await fetch(`${url}/health`)).json()) as { signals: string }
      expect(health.signals).toBe(env.REDIS_URL ? 'redis' : 'postgres')
      const onVictim = clients.filter((client) => workerOf.get(client) === victim)
      const onSurvivor = clients.filter((client) => workerOf.get(client) === survivor)
      // The kernel hashes each connection to a worker: 40 all on one would be a 1 in 2^39 chance.
      expect(onVictim.length).toBeGreaterThan(0)
      expect(onSurvivor.length).toBeGreaterThan(0)

      const published = new Map<string, number[]>(clients.map((client) => [client.userId, []]))
      const publishRound = (round: number) =>
        Promise.all(
          clients.map(async ({ userId }) => {
            published.get(userId)![round - 1] = await publish(url, userId, round)
          }),
        )
      const delivered = (count: number) =>
        until(
          () => clients.every((client) => client.received.length >= count || client.problems.length > 0),
          `${count} alarms on every client`,
          15_000,
        )

      await publishRound(1)
      await delivered(1)
      await publishRound(2) // committed, but not awaited on the streams: the kill may beat some
      process.kill(victim, 'SIGKILL')
      await cluster.waitFor(/exited with SIGKILL; restarting/)
      await until(() => onVictim.every((client) => client.cuts > 0), "the killed worker's streams to end", 5000)
      // While those clients are offline (and the killed worker, most likely, not back yet: nothing
      // depends on it): they can only get these by resuming.
      await publishRound(3)
      offline.resolve()
      await delivered(3)
      const restarted = await cluster.waitFor(/worker \d+ started \(pid (\d+)\)/, 3)
      expect(Number(restarted[2]![1])).not.toBe(victim)
      await cluster.waitFor(/listening on/, 3)
      await publishRound(4) // both workers up again
      await delivered(4)
      await Promise.all(clients.map((client) => client.close()))

      // Every user: each alarm published for it, once, in seq order, whichever worker served it.
      expect(
        clients.map(({ userId, received, problems }) => ({
          userId,
          seqs: received.map((alarm) => alarm.seq),
          rounds: received.map((alarm) => alarm.round),
          problems,
        })),
      ).toEqual(
        clients.map(({ userId }) => ({ userId, seqs: published.get(userId)!, rounds: [1, 2, 3, 4], problems: [] })),
      )
      // The killed worker's streams were cut, and resumed exactly after the last id each had: the
      // alarms of round 3 came on the resumed stream. The survivor's streams never noticed.
      for (const client of onVictim) {
        expect(client.cuts).toBe(1)
        expect(client.streams).toHaveLength(2)
        const lastBeforeCut = client.received.filter((alarm) => alarm.stream === 0).at(-1)!.seq
        expect(client.streams[1]!.lastEventId).toBe(String(lastBeforeCut))
        expect(client.streams[1]!.since).toBe(lastBeforeCut)
        expect(client.received.find((alarm) => alarm.round === 3)?.stream).toBe(1)
      }
      for (const client of onSurvivor) {
        expect(client.cuts).toBe(0)
        expect(client.streams).toHaveLength(1)
      }
      expect(await cluster.stop()).toBe(0)
    } finally {
      offline.resolve()
      await Promise.all(clients.map((client) => client.close()))
      await cluster.stop()
    }
  },
  60_000,
)

test('a supervisor killed with SIGKILL: every worker notices, ends its streams gracefully and exits', async () => {
  const port = freePort()
  const url = `http://127.0.0.1:${port}`
  const cluster = startCluster(port)
  try {
    await cluster.waitFor(/listening on/, 2)
    const pids = cluster.workers().map((w) => w.pid)
    // Ten streams, each on its own connection: the kernel hashes them over both workers.
    const streams = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const sub = readSse(await fetch(`${url}/connection/orphaned-${i}?lang=ko`))
        await ready(sub)
        return sub
      }),
    )
    cluster.proc.kill('SIGKILL')
    await cluster.proc.exited
    await until(() => pids.every((pid) => !alive(pid)), 'every worker to exit', 10_000)
    // Each stream got the graceful stop's last frame (a jittered retry:), not a cut.
    for (const sub of streams) expect((await sub.ended()).some((block) => block.comments.includes('shutting down'))).toBe(true)
    const output = await cluster.finished()
    expect(output.match(/the supervisor \(pid \d+\) is gone, shutting down/g)).toHaveLength(2)
    expect(output.match(/herald: stopped/g)).toHaveLength(2)
  } finally {
    await cluster.stop()
  }
}, 60_000)

/** Its exit code, or null if it still runs `ms` later. */
async function exitWithin(proc: { exited: Promise<number>; exitCode: number | null }, ms: number) {
  await within(proc.exited, ms)
  return proc.exitCode
}

test.skipIf(process.platform !== 'linux')(
  'a supervisor refuses to start beside live workers of a killed one, naming them; once they are gone, one starts',
  async () => {
    const port = freePort()
    const first = startCluster(port)
    const frozen: number[] = []
    const later: ReturnType<typeof startCluster>[] = []
    try {
      await first.waitFor(/listening on/, 2)
      const orphans = first.workers().map((w) => w.pid)
      // Frozen, they cannot notice their supervisor die: orphans that go on holding the port.
      for (const pid of orphans) process.kill(pid, 'SIGSTOP'), frozen.push(pid)
      first.proc.kill('SIGKILL')
      await first.proc.exited

      const refused = startCluster(port)
      later.push(refused)
      expect(await exitWithin(refused.proc, 15_000)).toBe(1)
      const said = await refused.finished()
      for (const pid of orphans) expect(said).toContain(`pid ${pid} (herald worker`)
      expect(said).toContain(`port ${port}`)
      expect(refused.workers()).toEqual([])

      // Thawed, they see their supervisor gone and stop; then the port is free for a new one.
      for (const pid of frozen.splice(0)) process.kill(pid, 'SIGCONT')
      await until(() => orphans.every((pid) => !alive(pid)), 'the orphans to exit', 10_000)
      const next = startCluster(port)
      later.push(next)
      await next.waitFor(/listening on/, 2)
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200)
      expect(await next.stop()).toBe(0)
    } finally {
      for (const pid of frozen) if (alive(pid)) process.kill(pid, 'SIGCONT')
      await Promise.all([first, ...later].map((cluster) => cluster.stop()))
    }
  },
  60_000,
)

test('a supervisor refuses to start when another process holds its port, naming it', async () => {
  const port = freePort()
  const holder = Bun.listen({ hostname: '127.0.0.1', port, socket: { data() {} } })
  const cluster = startCluster(port)
  try {
    expect(await exitWithin(cluster.proc, 15_000)).toBe(1)
    const said = await cluster.finished()
    expect(said).toContain(`port ${port}`)
    if (process.platform === 'linux') expect(said).toContain(`pid ${process.pid}`)
    expect(cluster.workers()).toEqual([])
  } finally {
    holder.stop(true)
    await cluster.stop()
  }
}, 30_000)

test('a worker without a supervisor refuses to start: it could not notice one die', async () => {
  const worker = spawnEntry('src/cli/main.ts', {
    env: { ...process.env, DATABASE_URL: db.url, PORT: String(freePort()), HOST: '127.0.0.1', HERALD_WORKERS: '2', HERALD_WORKER: '1' },
  })
  try {
    expect(await exitWithin(worker.proc, 15_000)).toBe(1)
    expect(await worker.finished()).toContain('HERALD_WORKER: is set by the cluster supervisor')
  } finally {
    await worker.stop()
  }
}, 30_000)

test('cluster mode refuses PORT=0: the workers must share one port', async () => {
  const proc = Bun.spawn([process.execPath, 'src/cli/main.ts'], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { ...process.env, DATABASE_URL: db.url, PORT: '0', HERALD_WORKERS: '2' },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  expect(await proc.exited).toBe(1)
  expect(await new Response(proc.stderr).text()).toContain('HERALD_WORKERS > 1 needs a fixed PORT')
})
