// `bun run bench [--quick]`: Herald and the seed-style baseline, one after the other, against the
// same PostgreSQL, driven by the same load processes. Prints one table and writes
// bench/results/<date>.json. Every phase is bounded in count and time.
import { parseArgs } from 'node:util'
import { cpus, totalmem } from 'node:os'
import postgres from 'postgres'
import type { Subprocess } from 'bun'
import { migrate } from '../src/migrate'
import type { Command, Reply } from './protocol'
import { formatTable, percentiles, type Row } from './report'

const { values: args } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    quick: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    max: { type: 'string' },
    'idle-seconds': { type: 'string' },
    alarms: { type: 'string' },
    only: { type: 'string' },
  },
})

const quick = args.quick!
const MAX_TARGET = Number(args.max ?? 19_900)
const SIZES = (args.sizes ?? (quick ? '1000,5000' : '1000,10000,max')).split(',').map((s) => (s === 'max' ? MAX_TARGET : Number(s)))
const IDLE_SECONDS = Number(args['idle-seconds'] ?? (quick ? 8 : 30))
const LATENCY_ALARMS = Number(args.alarms ?? (quick ? 400 : 1000))
const LATENCY_RATE = 200 // alarms per second, spread over users
const LATENCY_SIZES = new Set(SIZES.filter((n) => n <= 10_000))
const SUPERSEDE_SAMPLES = quick ? 25 : 200
const PUBLISH_SECONDS = quick ? 3 : 10
const PER_WORKER = 5000
const STATS_SETTLE_MS = 11_000
const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const BUN = process.execPath
const ROOT = new URL('..', import.meta.url).pathname

const now = () => performance.timeOrigin + performance.now()
const log = (...parts: unknown[]) => console.error('bench:', ...parts)

type Target = { name: 'herald' | 'baseline'; command: string[]; env: Record<string, string> }

const TARGETS: Target[] = [
  {
    name: 'herald',
    command: [BUN, 'src/main.ts'],
    env: {
      HOST: '127.0.0.1',
      // The load opens thousands of streams per second from few users' worth of buckets.
      HERALD_RECONNECT_BURST: '10000',
      HERALD_RECONNECT_PER_MINUTE: '600000',
      HERALD_PUBLISH_RATE: '0',
    },
  },
  { name: 'baseline', command: [BUN, 'bench/baselines/polling.ts'], env: {} },
]

// ---------------------------------------------------------------- processes

type Worker = { proc: Subprocess; address: string; waiters: ((reply: Reply) => void)[] }

function startWorker(index: number): Promise<Worker> {
  return new Promise((resolve) => {
    const worker: Worker = {
      address: `127.0.0.${2 + index}`, // its own source address: ~28k ephemeral ports each
      waiters: [],
      proc: Bun.spawn([BUN, 'bench/load.ts'], {
        cwd: ROOT,
        stdio: ['ignore', 'inherit', 'inherit'],
        ipc(reply: Reply) {
          if (reply.type === 'hello') return resolve(worker)
          worker.waiters.shift()?.(reply)
        },
      }),
    }
  })
}

function ask<T extends Reply['type']>(worker: Worker, command: Command, _expect: T): Promise<Extract<Reply, { type: T }>> {
  return new Promise((resolve) => {
    worker.waiters.push(resolve as (reply: Reply) => void)
    worker.proc.send(command)
  })
}

async function startTarget(target: Target, databaseUrl: string) {
  const proc = Bun.spawn(target.command, {
    cwd: ROOT,
    env: { ...process.env, ...target.env, DATABASE_URL: databaseUrl, PORT: '0' },
    stdout: 'pipe',
    stderr: 'inherit',
  })
  const reader = proc.stdout.getReader()
  let out = ''
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const { value, done } = await reader.read()
    if (done) break
    out += new TextDecoder().decode(value)
    const match = /listening on http:\/\/[^:]+:(\d+)/.exec(out)
    if (match) {
      void drain(reader)
      return { proc, port: Number(match[1]) }
    }
  }
  proc.kill()
  throw new Error(`${target.name} did not start:\n${out}`)
}

async function drain(reader: ReadableStreamDefaultReader<Uint8Array>) {
  while (!(await reader.read()).done);
}

async function rssKiB(pid: number): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text()
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1])
}

// ---------------------------------------------------------------- database

async function freshDatabase(admin: postgres.Sql, name: string): Promise<string> {
  await admin.unsafe(`drop database if exists ${name} with (force)`)
  await admin.unsafe(`create database ${name}`)
  const url = new URL(ADMIN_URL)
  url.pathname = `/${name}`
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} })
  await migrate(sql as never)
  await sql.end()
  return url.toString()
}

async function transactions(admin: postgres.Sql, database: string): Promise<number> {
  const [row] = await admin`select xact_commit + xact_rollback as n from pg_stat_database where datname = ${database}`
  return Number(row!.n)
}

const MESSAGES = { ko: '예약에 성공했습니다!', 'en-US': 'I have successfully made a reservation.', ja: '予約に成功しました' }

/** One alarm in one statement (one transaction); resolves with its id once committed. */
async function insertAlarm(sql: postgres.Sql, user: string): Promise<number> {
  const [row] = await sql`
    with a as (insert into alarms (user_id) values (${user}) returning id)
    insert into alarm_messages (alarm_id, locale, message)
    select a.id, m.key, m.value from a, jsonb_each_text(${sql.json(MESSAGES)}) m
    returning alarm_id`
  return Number(row!.alarm_id)
}

// ---------------------------------------------------------------- phases

type Streams = { workers: Worker[]; port: number; open: number }

async function openUpTo(s: Streams, total: number): Promise<{ ready: number; ms: number }> {
  const started = now()
  const jobs: Promise<Extract<Reply, { type: 'opened' }>>[] = []
  for (const [w, worker] of s.workers.entries()) {
    const from = Math.max(s.open, w * PER_WORKER)
    const to = Math.min(total, (w + 1) * PER_WORKER)
    if (from >= to) continue
    const users = Array.from({ length: to - from }, (_, i) => `u${from + i}`)
    jobs.push(ask(worker, { type: 'open', users, port: s.port, localAddress: worker.address, lang: 'ko' }, 'opened'))
  }
  await Promise.all(jobs)
  s.open = total
  const ready = await countOpen(s)
  return { ready, ms: now() - started }
}

async function collect(s: Streams): Promise<{ receipts: Map<number, number>; duplicates: number; open: number }> {
  const receipts = new Map<number, number>()
  let duplicates = 0
  let open = 0
  for (const reply of await Promise.all(s.workers.map((w) => ask(w, { type: 'collect' }, 'receipts')))) {
    open += reply.open
    for (let i = 0; i < reply.receipts.length; i += 2) {
      if (receipts.has(reply.receipts[i]!)) duplicates++
      else receipts.set(reply.receipts[i]!, reply.receipts[i + 1]!)
    }
  }
  return { receipts, duplicates, open }
}

async function countOpen(s: Streams) {
  return (await collect(s)).open
}

/** Waits (bounded) until every expected alarm has arrived; returns arrival times and what is missing. */
async function awaitDeliveries(s: Streams, expected: Map<number, number>, timeoutMs: number) {
  const arrived = new Map<number, number>()
  let duplicates = 0
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    const batch = await collect(s)
    duplicates += batch.duplicates
    for (const [id, t] of batch.receipts) {
      if (arrived.has(id)) duplicates++
      else if (expected.has(id)) arrived.set(id, t)
    }
    if (arrived.size >= expected.size) break
    await Bun.sleep(100) // the load processes are asked again; arrivals are timestamped where they happen
  }
  const latencies = [...arrived].map(([id, t]) => t - expected.get(id)!)
  return { latencies, lost: expected.size - arrived.size, duplicates, lastArrival: Math.max(0, ...arrived.values()) }
}

async function latencyPhase(s: Streams, sql: postgres.Sql, n: number, graceMs: number) {
  await collect(s) // drop anything earlier
  const expected = new Map<number, number>()
  const started = performance.now()
  const inserts: Promise<void>[] = []
  for (let i = 0; i < LATENCY_ALARMS; i++) {
    const due = started + (i * 1000) / LATENCY_RATE
    const wait = due - performance.now()
    if (wait > 0) await Bun.sleep(wait)
    const user = `u${Math.floor(Math.random() * n)}`
    inserts.push(insertAlarm(sql, user).then((id) => void expected.set(id, now())))
  }
  await Promise.all(inserts)
  return awaitDeliveries(s, expected, graceMs)
}

async function burstPhase(s: Streams, sql: postgres.Sql, n: number, graceMs: number) {
  await collect(s)
  const begun = now()
  const rows = await sql`
    with a as (
      insert into alarms (user_id) select 'u' || i from generate_series(0, ${n - 1}::int) i returning id
    )
    insert into alarm_messages (alarm_id, locale, message) select id, 'ko', 'burst' from a
    returning alarm_id`
  const committed = now()
  const expected = new Map(rows.map((r) => [Number(r.alarm_id), committed]))
  const result = await awaitDeliveries(s, expected, graceMs)
  return {
    ...result,
    ms: result.lastArrival ? result.lastArrival - committed : NaN,
    insertMs: committed - begun,
    delivered: expected.size - result.lost,
  }
}

async function supersedePhase(s: Streams) {
  const users = Array.from({ length: SUPERSEDE_SAMPLES }, (_, i) => `u${i}`) // all on worker 0
  const worker = s.workers[0]!
  const reply = await ask(worker, { type: 'supersede', users, port: s.port, localAddress: worker.address, lang: 'ko', concurrency: 25 }, 'superseded')
  return reply
}

async function publishPhase(s: Streams, port: number) {
  const users = Array.from({ length: 1000 }, (_, i) => `p${i}`)
  const reply = await ask(s.workers[s.workers.length - 1]!, { type: 'publish', url: `http://127.0.0.1:${port}/alarms`, seconds: PUBLISH_SECONDS, maxCount: 200_000, concurrency: 32, users }, 'published')
  return { perSecond: (reply.ok / reply.ms) * 1000, failed: reply.failed }
}

// ---------------------------------------------------------------- one target

type Measures = Record<string, number | string>

async function measure(target: Target, admin: postgres.Sql, workers: Worker[]): Promise<Measures> {
  const database = `herald_bench_${target.name}`
  const url = await freshDatabase(admin, database)
  const m: Measures = {}
  const server = await startTarget(target, url)
  const writer = postgres(url, { max: 4, onnotice: () => {} })
  const s: Streams = { workers, port: server.port, open: 0 }
  const grace = target.name === 'herald' ? 5_000 : 12_000 // the baseline polls every 5 s
  try {
    await Bun.sleep(1000)
    const rss0 = await rssKiB(server.proc.pid)
    m.rss_start_mib = rss0 / 1024
    for (const [index, n] of SIZES.entries()) {
      const opened = await openUpTo(s, n)
      log(target.name, `${opened.ready} of ${n} streams open in ${Math.round(opened.ms)} ms`)
      m[`held_${n}`] = opened.ready
      const measureIdle = !quick || index === SIZES.length - 1
      // PostgreSQL publishes an idle backend's counters up to 10 s late: let earlier phases' land first.
      await Bun.sleep(measureIdle ? STATS_SETTLE_MS : 2000)
      if (measureIdle) {
        const before = await transactions(admin, database)
        const t0 = performance.now()
        await Bun.sleep(IDLE_SECONDS * 1000)
        m[`idle_tps_${n}`] = ((await transactions(admin, database)) - before) / ((performance.now() - t0) / 1000)
      }
      // After the idle window where there is one: the cost of a stream at rest, not of its opening.
      m[`rss_per_stream_kib_${n}`] = ((await rssKiB(server.proc.pid)) - rss0) / Math.max(1, opened.ready)

      if (index === 0) {
        const sup = await supersedePhase(s)
        const p = percentiles(sup.samples)
        m.supersede_p50_ms = p.p50
        m.supersede_p99_ms = p.p99
        m.supersede_missing = sup.missing
      }
      if (LATENCY_SIZES.has(n)) {
        await Promise.all(workers.map((w) => ask(w, { type: 'cpu' }, 'cpu')))
        const lat = await latencyPhase(s, writer, n, grace)
        const cpu = await Promise.all(workers.map((w) => ask(w, { type: 'cpu' }, 'cpu')))
        const p = percentiles(lat.latencies)
        Object.assign(m, {
          [`latency_p50_ms_${n}`]: p.p50,
          [`latency_p95_ms_${n}`]: p.p95,
          [`latency_p99_ms_${n}`]: p.p99,
          [`latency_max_ms_${n}`]: p.max,
          [`latency_lost_${n}`]: lat.lost,
          [`latency_duplicates_${n}`]: lat.duplicates,
          [`load_cpu_percent_${n}`]: Math.max(...cpu.map((c) => c.percent)),
        })
      }
      const burst = await burstPhase(s, writer, opened.ready === n ? n : Math.min(n, opened.ready), grace + 10_000)
      m[`burst_ms_${n}`] = burst.ms
      m[`burst_delivered_${n}`] = `${burst.delivered}/${burst.delivered + burst.lost}`
      m[`burst_insert_ms_${n}`] = burst.insertMs
      log(target.name, `n=${n}: burst ${Math.round(burst.ms)} ms, ${burst.delivered} delivered, ${burst.lost} lost`)
    }
    const loaded = await publishPhase(s, server.port)
    m.publish_with_streams_per_s = loaded.perSecond
    m.publish_with_streams_failed = loaded.failed
    await Promise.all(workers.map((w) => ask(w, { type: 'close' }, 'closed')))
    s.open = 0
    await Bun.sleep(1000)
    const alone = await publishPhase(s, server.port)
    m.publish_without_streams_per_s = alone.perSecond
    m.publish_without_streams_failed = alone.failed
  } finally {
    await writer.end()
    server.proc.kill('SIGTERM')
    await Promise.race([server.proc.exited, Bun.sleep(15_000)])
    server.proc.kill('SIGKILL')
  }
  return m
}

// ---------------------------------------------------------------- main

const admin = postgres(ADMIN_URL, { max: 2, onnotice: () => {} })
const workerCount = Math.max(2, Math.ceil(Math.max(...SIZES) / PER_WORKER))
const workers = await Promise.all(Array.from({ length: workerCount }, (_, i) => startWorker(i)))
const started = Date.now()
const results: Record<string, Measures> = {}
const [postgresVersion] = await admin<{ server_version: string }[]>`show server_version`
try {
  for (const target of TARGETS) {
    if (args.only && args.only !== target.name) continue
    log(`measuring ${target.name}`)
    results[target.name] = await measure(target, admin, workers)
  }
} finally {
  for (const worker of workers) worker.proc.kill()
  await admin.end()
}

const machine = {
  cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
  memory_gib: Math.round(totalmem() / 2 ** 30),
  bun: Bun.version,
  postgres: postgresVersion?.server_version,
  open_files: (await Bun.$`sh -c 'ulimit -n'`.text()).trim(),
}
const rows: Row[] = buildRows(results.herald ?? {}, results.baseline ?? {})
console.log(formatTable(rows))
console.log(`\n${machine.cpus}, ${machine.memory_gib} GiB, Bun ${machine.bun}, open-file limit ${machine.open_files}; ${quick ? 'quick' : 'full'} run, ${Math.round((Date.now() - started) / 1000)} s`)
const date = new Date().toISOString().slice(0, 10)
const file = new URL(`results/${date}${quick ? '-quick' : ''}.json`, import.meta.url)
await Bun.write(file, JSON.stringify({ date: new Date().toISOString(), quick, machine, sizes: SIZES, idleSeconds: IDLE_SECONDS, results, table: rows }, null, 2) + '\n')
console.log(`results: ${file.pathname.replace(ROOT, '')}`)

function buildRows(h: Measures, b: Measures): Row[] {
  for (const m of [h, b])
    if (m.publish_without_streams_failed !== undefined) m.publish_failed = `${m.publish_without_streams_failed} / ${m.publish_with_streams_failed}`
  const rows: Row[] = []
  const add = (label: string, key: string, unit: string, better: Row['better']) => rows.push({ label, herald: h[key], baseline: b[key], unit, better })
  for (const n of SIZES) {
    add(`streams held (asked ${n})`, `held_${n}`, '', 'higher')
    add(`RSS per stream at ${n}`, `rss_per_stream_kib_${n}`, 'KiB', 'lower')
    add(`idle DB load at ${n} streams`, `idle_tps_${n}`, 'tx/s', 'lower')
  }
  for (const n of SIZES.filter((n) => LATENCY_SIZES.has(n))) {
    add(`latency p50 at ${n}, ${LATENCY_RATE}/s`, `latency_p50_ms_${n}`, 'ms', 'lower')
    add(`latency p95 at ${n}`, `latency_p95_ms_${n}`, 'ms', 'lower')
    add(`latency p99 at ${n}`, `latency_p99_ms_${n}`, 'ms', 'lower')
    add(`latency max at ${n}`, `latency_max_ms_${n}`, 'ms', 'lower')
    add(`alarms lost of ${LATENCY_ALARMS} at ${n}`, `latency_lost_${n}`, '', 'lower')
    add(`load process CPU at ${n} (busiest)`, `load_cpu_percent_${n}`, '%', 'none')
  }
  for (const n of SIZES) {
    add(`burst: 1 alarm × ${n} users, last at`, `burst_ms_${n}`, 'ms', 'lower')
    add(`burst: delivered at ${n}`, `burst_delivered_${n}`, '', 'higher')
    add(`burst: the insert statement took (context)`, `burst_insert_ms_${n}`, 'ms', 'none')
  }
  add('supersede → older ended, p50', 'supersede_p50_ms', 'ms', 'lower')
  add('supersede → older ended, p99', 'supersede_p99_ms', 'ms', 'lower')
  add('publish POST /alarms, no streams', 'publish_without_streams_per_s', '/s', 'higher')
  add(`publish POST /alarms, ${SIZES.at(-1)} streams`, 'publish_with_streams_per_s', '/s', 'higher')
  add('publish requests failed (no streams / streams)', 'publish_failed', '', 'none')
  return rows
}
