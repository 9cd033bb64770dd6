// `bun run bench [--quick]`: Herald and the seed-style baseline, one after the other, against the
// same PostgreSQL, driven by the same load processes; then Herald in cluster mode (2 and 3 workers
// on one port) and two Herald instances on one database (supersede and delivery across them, with
// PostgreSQL signals and with Redis signals). Prints one table and writes bench/results/<date>.json.
// Every phase is bounded in count and time, and ends every process it started.
//
// Herald's phase also measures template alarms (publish rate, delivery latency), and the render
// phase the cost of one template frame, cached and not (in this process, no server). The batch
// phase publishes POST /alarms/batch at several batch sizes and fans out to every connected user;
// the single phase POST /alarms one at a time at a steady pace (answer, delivery, CPU per alarm).
//
// Options: --quick; --sizes=1000,10000,max --max=19900 --idle-seconds=30 --alarms=1000 (one process);
// --only=herald,baseline,cluster,instances,inbox,devices,render,metrics,batch,single (any of them, comma-separated; default all);
// --workers=2,3 --cluster-max=50000 (--quick: 6000) --cluster-per-worker=19000 (cluster mode: each
// worker count is asked min(cluster-max, workers × cluster-per-worker) streams);
// --signals=postgres,redis (instances); --metrics-streams=10000 (--quick: 5000; the metrics phase:
// idle CPU and RSS per stream, and publishes, with HERALD_METRICS on and off); retention (the
// retention job's deletes with streams reading); --batch-streams=10000 (--quick: 5000)
// --batch-sizes=1,10,100,1000 (the batch phase); --single-streams=1000 --single-rate=20
// --single-seconds=15 (the single phase); --out=<file>
// (instead of bench/results/<date>.json). The curves (bench/curves.ts) go beside it as <name>.svg.
import { parseArgs } from 'node:util'
import { cpus, totalmem } from 'node:os'
import postgres from 'postgres'
import { RedisClient, type Subprocess } from 'bun'
import { migrate } from '../src/store/migrate'
import { openFiles, sampleCpu, startCluster } from './cluster'
import { startEntry, type Started } from '../test/helpers/process'
import type { Command, Reply } from './protocol'
import { measureDevices } from './devices'
import { measureBatch, type BatchPoint } from './batch'
import { measureSingle } from './single'
import type { StreamsPhaseDeps } from './phase'
import { measureInbox } from './inbox'
import { measureRetention } from './retention'
import { formatTable, percentiles, type Row } from './report'
import { benchCharts, drawCharts } from './curves'

const { values: args } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    quick: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    max: { type: 'string' },
    'idle-seconds': { type: 'string' },
    alarms: { type: 'string' },
    only: { type: 'string' },
    workers: { type: 'string' },
    'cluster-max': { type: 'string' },
    'cluster-per-worker': { type: 'string' },
    signals: { type: 'string' },
    'inbox-alarms': { type: 'string' },
    'metrics-streams': { type: 'string' },
    'batch-streams': { type: 'string' },
    'batch-sizes': { type: 'string' },
    'single-streams': { type: 'string' },
    'single-rate': { type: 'string' },
    'single-seconds': { type: 'string' },
    out: { type: 'string' },
  },
})

const PHASES = ['herald', 'baseline', 'cluster', 'instances', 'inbox', 'devices', 'render', 'metrics', 'retention', 'batch', 'single']
const only = new Set((args.only ?? PHASES.join(',')).split(','))
for (const phase of only) if (!PHASES.includes(phase)) usage(`--only: '${phase}' is not one of ${PHASES.join(', ')}`)

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
// Cluster mode: N workers on one port, each with its own 20,000 open files.
const CLUSTER_WORKERS = (args.workers ?? '2,3').split(',').map(Number)
const CLUSTER_MAX = Number(args['cluster-max'] ?? (quick ? 6000 : 50_000))
/** Streams asked of one worker at most: reusePort spreads connections by a hash, not evenly, and one process holds ~19,900. */
const CLUSTER_PER_WORKER = Number(args['cluster-per-worker'] ?? 19_000)
const CLUSTER_PER_LOAD = 10_000 // streams per load process (each has 20,000 open files)
const CLUSTER_BATCH = 10_000 // opened before the next batch starts, from fresh source addresses (each load process opens its share in waves of 500)
const CLUSTER_SETTLE_MS = quick ? 2000 : 5000
const BURST_GRACE_MS = 30_000
const clusterAsked = (workers: number) => Math.min(CLUSTER_MAX, workers * CLUSTER_PER_WORKER)
// Two instances on one database: supersede and delivery across them.
type Signals = 'postgres' | 'redis'
const SIGNALS = (args.signals ?? 'postgres,redis').split(',') as Signals[]
const DELIVERY_SAMPLES = quick ? 200 : 1000
const DELIVERY_RATE = 100 // POST /alarms per second, spread over the streams on A
const DELIVERY_USERS = quick ? 200 : 1000
// The inbox phase: history with this many alarms in the table, spread over this many users.
// The retention phase: streams reading while the job deletes.
const RETENTION_STREAMS = quick ? 2000 : 10_000
const INBOX_ALARMS = Number(args['inbox-alarms'] ?? (quick ? 200_000 : 1_000_000))
const INBOX_USERS = 10_000
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
// Metrics on and off: the same streams at rest, scraped as Prometheus would while on.
const METRICS_STREAMS = Number(args['metrics-streams'] ?? (quick ? 5000 : 10_000))
const SCRAPE_EVERY_MS = 5000
// Heartbeats are the idle streams' only work: a short interval, and a window of whole intervals, so
// both runs send the same beats (each a frame, counted when on) inside it.
const METRICS_HEARTBEAT_MS = 4000
const METRICS_IDLE_MS = Math.ceil((IDLE_SECONDS * 1000) / METRICS_HEARTBEAT_MS) * METRICS_HEARTBEAT_MS
// The batch phase: streams held while batches and fan-outs are published to them.
const BATCH_STREAMS = Number(args['batch-streams'] ?? (quick ? 5000 : 10_000))
const BATCH_SIZES = (args['batch-sizes'] ?? '1,10,100,1000').split(',').map(Number)
const BATCH_SECONDS = quick ? 3 : 5
const FAN_OUTS = quick ? 3 : 5
// The single phase: POST /alarms one at a time, paced, to the streams of one Herald process.
const SINGLE_STREAMS = Number(args['single-streams'] ?? 1000)
const SINGLE_RATE = Number(args['single-rate'] ?? 20)
const SINGLE_SECONDS = Number(args['single-seconds'] ?? 15)
for (const [name, n, most] of [['--single-streams', SINGLE_STREAMS, PER_WORKER], ['--single-rate', SINGLE_RATE, 1000], ['--single-seconds', SINGLE_SECONDS, 60]] as const)
  if (!Number.isInteger(n) || n < 1 || n > most) usage(`${name}: '${n}' is not a whole number from 1 to ${most}`)
for (const n of BATCH_SIZES) if (!Number.isInteger(n) || n < 1 || n > 1000) usage(`--batch-sizes: '${n}' is not a batch size from 1 to 1000`)
if (!Number.isInteger(BATCH_STREAMS) || BATCH_STREAMS < 1 || BATCH_STREAMS > 10_000) usage(`--batch-streams: '${BATCH_STREAMS}' is not from 1 to 10000 (a fan-out's limit)`)
for (const n of CLUSTER_WORKERS)
  if (!Number.isInteger(n) || n < 2 || n > 255) usage(`--workers: '${n}' is not a worker count from 2 to 255`)
for (const [name, n] of [['--cluster-max', CLUSTER_MAX], ['--cluster-per-worker', CLUSTER_PER_WORKER]] as const)
  if (!Number.isInteger(n) || n < 1) usage(`${name}: '${n}' is not a positive whole number`)
for (const signals of SIGNALS) if (signals !== 'postgres' && signals !== 'redis') usage(`--signals: '${signals}' is not postgres or redis`)
const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const BUN = process.execPath
const ROOT = new URL('..', import.meta.url).pathname

const now = () => performance.timeOrigin + performance.now()
const log = (...parts: unknown[]) => console.error('bench:', ...parts)

function usage(message: string): never {
  console.error(`bench: ${message}`)
  process.exit(2)
}

type Target = { name: 'herald' | 'baseline'; entry: string; env: Record<string, string> }

const HERALD_ENV = {
  HOST: '127.0.0.1',
  // The load opens thousands of streams per second from few users' worth of buckets.
  HERALD_RECONNECT_BURST: '10000',
  HERALD_RECONNECT_PER_MINUTE: '600000',
  HERALD_PUBLISH_RATE: '0',
}

const TARGETS: Target[] = [
  { name: 'herald', entry: 'src/cli/main.ts', env: HERALD_ENV },
  { name: 'baseline', entry: 'bench/baselines/polling.ts', env: {} },
]

/** The benchmark's environment without Redis settings: only the Redis run of the instances phase asks for Redis. */
function childEnv(): Record<string, string | undefined> {
  const { REDIS_URL: _url, HERALD_REDIS_PREFIX: _prefix, ...env } = process.env
  return env
}

// ---------------------------------------------------------------- processes

type Waiter = { resolve(reply: Reply): void; reject(error: Error): void }
type Worker = { proc: Subprocess; address: string; waiters: Waiter[] }

/** The longest a load process may take to answer one command (the longest waits for deliveries 30 s). */
const ASK_TIMEOUT_MS = 300_000

/** Every process the benchmark started: a SIGTERM or SIGINT to the benchmark ends them too. */
const children = new Set<Subprocess>()
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.on(signal, () => {
    log(`${signal}: stopping ${children.size} processes`)
    for (const child of children) child.kill('SIGTERM')
    process.exit(signal === 'SIGINT' ? 130 : 143)
  })

function track<P extends Subprocess>(proc: P): P {
  children.add(proc)
  void proc.exited.then(() => children.delete(proc))
  return proc
}

function startWorker(index: number): Promise<Worker> {
  return new Promise((resolve, reject) => {
    const worker: Worker = {
      address: `127.0.0.${2 + index}`, // its own source address: ~28k ephemeral ports each
      waiters: [],
      proc: track(
        Bun.spawn([BUN, 'bench/load.ts'], {
          cwd: ROOT,
          stdio: ['ignore', 'inherit', 'inherit'],
          ipc(reply: Reply) {
            if (reply.type === 'hello') return resolve(worker)
            worker.waiters.shift()?.resolve(reply)
          },
          // A load process that dies fails what was asked of it, instead of hanging the run.
          onExit(_proc, code, signal) {
            const error = new Error(`load process ${index} exited (${signal ?? code})`)
            reject(error)
            for (const waiter of worker.waiters.splice(0)) waiter.reject(error)
          },
        }),
      ),
    }
  })
}

function ask<T extends Reply['type']>(worker: Worker, command: Command, _expect: T): Promise<Extract<Reply, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`load process ${worker.address} did not answer '${command.type}' in ${ASK_TIMEOUT_MS / 1000} s`)),
      ASK_TIMEOUT_MS,
    )
    worker.waiters.push({
      resolve: (reply) => (clearTimeout(timer), resolve(reply as Extract<Reply, { type: T }>)),
      reject: (error) => (clearTimeout(timer), reject(error)),
    })
    worker.proc.send(command)
  })
}

/** Started and listening; its stdout is read to the end (so its pipe never fills), its stderr shown. */
async function startTarget(target: Target, databaseUrl: string): Promise<Started> {
  const env = { ...childEnv(), ...target.env, DATABASE_URL: databaseUrl, PORT: '0' }
  try {
    return await startEntry(target.entry, { cwd: ROOT, env, stderr: 'inherit', timeoutMs: 30_000, onSpawn: track })
  } catch (error) {
    throw new Error(`${target.name} did not start: ${(error as Error).message}`)
  }
}

async function stopProcess(server: Started) {
  await server.stop(15_000)
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

/** The seed's reservation as a template: what the template rows publish and stream. */
const TEMPLATE_KEY = 'reservation.confirmed'
const TEMPLATE = {
  en: '{seats, plural, one {# seat} other {# seats}} reserved for {at, date, medium}, {at, time, short}',
  ko: '{at, date, medium} {at, time, short}에 {seats}석이 예약되었습니다',
  ja: '{at, date, medium} {at, time, short}に{seats}席を予約しました',
  ru: '{seats, plural, one {# место} few {# места} many {# мест} other {# места}} на {at, date, medium}, {at, time, short}',
}
const TEMPLATE_PARAMS = { seats: 3, at: '2026-12-12T10:30:00Z' }

async function putTemplate(port: number) {
  const res = await fetch(`http://127.0.0.1:${port}/templates/${TEMPLATE_KEY}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages: TEMPLATE }),
    signal: AbortSignal.timeout(5_000),
  })
  if (res.status !== 201 && res.status !== 200) throw new Error(`PUT /templates/${TEMPLATE_KEY}: ${res.status} ${await res.text()}`)
}

/** A template alarm in one statement, as a direct writer would insert it. */
async function insertTemplateAlarm(sql: postgres.Sql, user: string): Promise<number> {
  const [row] = await sql`
    insert into alarms (user_id, template_key, params) values (${user}, ${TEMPLATE_KEY}, ${sql.json({ ...TEMPLATE_PARAMS, seats: 1 + (user.length % 7) })})
    returning id`
  return Number(row!.id)
}

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

type Streams = {
  workers: Worker[]
  port: number
  open: number
  /** Which load process holds user u<i>: by default blocks of PER_WORKER, so u0… are on the first. */
  owner?: (i: number) => number
  /** Source address of each load process, when not its own (a phase of its own, fresh ephemeral ports). */
  addresses?: string[]
}

async function openUpTo(s: Streams, total: number): Promise<{ ready: number; ms: number }> {
  const started = now()
  const owner = s.owner ?? ((i: number) => Math.floor(i / PER_WORKER))
  const users = s.workers.map((): string[] => [])
  for (let i = s.open; i < total; i++) users[owner(i)]!.push(`u${i}`)
  await Promise.all(
    s.workers.map((worker, w) => {
      if (users[w]!.length === 0) return
      const localAddress = s.addresses?.[w] ?? worker.address
      return ask(worker, { type: 'open', users: users[w]!, port: s.port, localAddress, lang: 'ko' }, 'opened')
    }),
  )
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

async function latencyPhase(s: Streams, sql: postgres.Sql, n: number, graceMs: number, insert = insertAlarm) {
  await collect(s) // drop anything earlier
  const expected = new Map<number, number>()
  const started = performance.now()
  const inserts: Promise<void>[] = []
  for (let i = 0; i < LATENCY_ALARMS; i++) {
    const due = started + (i * 1000) / LATENCY_RATE
    const wait = due - performance.now()
    if (wait > 0) await Bun.sleep(wait)
    const user = `u${Math.floor(Math.random() * n)}`
    inserts.push(insert(sql, user).then((id) => void expected.set(id, now())))
  }
  await Promise.all(inserts)
  return { ...(await awaitDeliveries(s, expected, graceMs)), ids: [...expected.keys()] }
}

/**
 * A change of state for alarms the latency phase delivered: one SQL UPDATE per alarm at the same
 * rate; time from its commit to the state event on the stream (the load processes count a state
 * event's ids negated).
 */
async function stateLatencyPhase(s: Streams, sql: postgres.Sql, ids: number[], graceMs: number) {
  await collect(s)
  const expected = new Map<number, number>()
  const started = performance.now()
  const updates: Promise<void>[] = []
  for (const [i, id] of ids.entries()) {
    const wait = started + (i * 1000) / LATENCY_RATE - performance.now()
    if (wait > 0) await Bun.sleep(wait)
    updates.push(sql`update alarms set read_at = now() where id = ${id}`.then(() => void expected.set(-id, now())))
  }
  await Promise.all(updates)
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

async function publishPhase(s: Streams, port: number, template?: { key: string; params: Record<string, unknown> }) {
  const users = Array.from({ length: 1000 }, (_, i) => `p${i}`)
  const command = { type: 'publish', url: `http://127.0.0.1:${port}/alarms`, seconds: PUBLISH_SECONDS, maxCount: 200_000, concurrency: 32, users, template } as const
  const reply = await ask(s.workers[s.workers.length - 1]!, command, 'published')
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
  const templated = target.name === 'herald'
  try {
    await Bun.sleep(1000)
    if (templated) await putTemplate(server.port)
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
        if (sup.reasons.length) log(target.name, 'supersede missed', sup.reasons)
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
        if (target.name === 'herald') {
          const state = await stateLatencyPhase(s, writer, lat.ids, grace)
          const q = percentiles(state.latencies)
          Object.assign(m, { [`state_p50_ms_${n}`]: q.p50, [`state_p99_ms_${n}`]: q.p99, [`state_lost_${n}`]: state.lost })
        }
        // The same, with template alarms (written by SQL, rendered when read) at the largest size.
        if (templated && n === Math.max(...LATENCY_SIZES)) {
          const t = await latencyPhase(s, writer, n, grace, insertTemplateAlarm)
          const q = percentiles(t.latencies)
          Object.assign(m, {
            template_latency_n: n,
            template_latency_p50_ms: q.p50,
            template_latency_p99_ms: q.p99,
            template_latency_max_ms: q.max,
            template_latency_lost: t.lost,
          })
          log(target.name, `n=${n}: template latency p50 ${q.p50.toFixed(2)} ms, p99 ${q.p99.toFixed(2)} ms, ${t.lost} lost`)
        }
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
    if (templated) {
      await Bun.sleep(1000)
      const byTemplate = await publishPhase(s, server.port, { key: TEMPLATE_KEY, params: TEMPLATE_PARAMS })
      m.publish_template_per_s = byTemplate.perSecond
      m.publish_template_failed = byTemplate.failed
    }
  } finally {
    await writer.end()
    await stopProcess(server)
  }
  return m
}

// ---------------------------------------------------------------- cluster mode

/**
 * `HERALD_WORKERS=<workers>` on one port: how many streams it holds past one process's open-file
 * limit, what they cost (RSS summed over the workers), and whether every one still receives.
 */
async function measureCluster(workers: number, admin: postgres.Sql, load: Worker[]): Promise<Measures> {
  const asked = clusterAsked(workers)
  if (Math.ceil(asked / load.length) > CLUSTER_PER_LOAD) throw new Error(`${asked} streams need more than ${load.length} load processes`)
  const url = await freshDatabase(admin, 'herald_bench_cluster')
  const cluster = await startCluster({ workers, cwd: ROOT, env: { ...childEnv(), ...HERALD_ENV, DATABASE_URL: url }, track })
  const writer = postgres(url, { max: 4, onnotice: () => {} })
  const s: Streams = {
    workers: load,
    port: cluster.port,
    open: 0,
    owner: (i) => i % load.length, // every batch spread over every load process
  }
  const pids = () => [...cluster.pids.values()]
  const m: Measures = { workers, asked }
  try {
    await Bun.sleep(1000)
    const rss0 = sum(await Promise.all(pids().map(rssKiB)))
    const files0 = new Map(pids().map((pid) => [pid, openFiles(pid)]))
    m.rss_start_mib = rss0 / 1024
    const started = now()
    for (let batch = 1, n = Math.min(CLUSTER_BATCH, asked); ; batch++, n = Math.min(n + CLUSTER_BATCH, asked)) {
      // Fresh source addresses for every batch: bind() looks for a free port per address, and
      // gets slow (kernel time in the load processes) once thousands of an address's are taken.
      s.addresses = load.map((_, i) => `127.${workers}.${batch}.${2 + i}`)
      const { ready } = await openUpTo(s, n)
      log(`cluster of ${workers}: ${ready} of ${n} streams open after ${Math.round(now() - started)} ms`)
      if (n === asked) break
    }
    m.open_ms = now() - started
    await Bun.sleep(CLUSTER_SETTLE_MS)
    m.held = await countOpen(s)
    m.rss_per_stream_kib = (sum(await Promise.all(pids().map(rssKiB))) - rss0) / Math.max(1, m.held)
    m.streams_per_worker = pids()
      .map((pid) => (openFiles(pid) - (files0.get(pid) ?? 0)).toLocaleString('en-US'))
      .join(' / ')
    // The burst twice: first as the workers' first (their code for it not yet compiled), then
    // again, as a server that has been up for a while runs it.
    for (const [prefix, label] of [['burst', 'burst'], ['burst_warm', 'second burst']] as const) {
      const burst = await clusterBurst(s, writer, asked, pids, load)
      m[`${prefix}_ms`] = burst.ms
      m[`${prefix}_delivered`] = `${burst.delivered}/${asked}`
      m[`${prefix}_insert_ms`] = burst.insertMs
      m[`${prefix}_duplicates`] = burst.duplicates
      m[`${prefix}_p50_ms`] = burst.p50
      m[`${prefix}_p99_ms`] = burst.p99
      const { cpu } = burst
      m[`${prefix}_cpu_wall_s`] = cpu.wall
      m[`${prefix}_cpu_herald_s`] = cpu.herald
      m[`${prefix}_cpu_load_s`] = cpu.load
      m[`${prefix}_cpu_postgres_s`] = cpu.postgres
      m[`${prefix}_cpu_other_s`] = cpu.other
      log(`cluster of ${workers}: ${label} ${Math.round(burst.ms)} ms (p50 ${Math.round(burst.p50)}), ${burst.delivered} delivered, ${burst.lost} lost`)
      log(`cluster of ${workers}: ${label} CPU over ${cpu.wall.toFixed(2)} s: Herald ${cpu.herald.toFixed(2)} s, load ${cpu.load.toFixed(2)} s, PostgreSQL ${cpu.postgres.toFixed(2)} s, rest ${cpu.other.toFixed(2)} s`)
    }
    m.burst_cpu_cores = cpus().length
    m.still_open = await countOpen(s)
    m.restarts = cluster.restarts
    log(`cluster of ${workers}: ${m.held} held (${m.streams_per_worker}), ${m.restarts} restarts`)
  } finally {
    await Promise.all(load.map((w) => ask(w, { type: 'close' }, 'closed')))
    await writer.end()
    await cluster.stop()
  }
  return m
}

/**
 * One burst to every stream, and where the CPU went from its commit to its last event: Herald's
 * workers, the load processes, PostgreSQL, the rest (the benchmark itself, the kernel's threads).
 * A machine busy on every core for the whole window means the cores bound it.
 */
async function clusterBurst(s: Streams, writer: postgres.Sql, asked: number, pids: () => number[], load: Worker[]) {
  const cpu = sampleCpu(pids, load.map((w) => w.proc.pid))
  const begun = now()
  const burst = await burstPhase(s, writer, asked, BURST_GRACE_MS).finally(() => cpu.stop())
  const { p50, p99 } = percentiles(burst.latencies)
  return { ...burst, p50, p99, cpu: cpu.between(begun + burst.insertMs, begun + burst.insertMs + burst.ms) }
}

/** "3.3 / 1.2 / 1.0 / 0.4 (3.0)": a burst's CPU seconds by where they went, and the window's wall seconds. */
function cpuSplit(c: Measures, prefix: string): string {
  const parts = ['herald', 'load', 'postgres', 'other'].map((part) => Number(c[`${prefix}_cpu_${part}_s`]).toFixed(2))
  return `${parts.join(' / ')} (${Number(c[`${prefix}_cpu_wall_s`]).toFixed(2)})`
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0)
}

// ---------------------------------------------------------------- metrics on and off

type MetricsMode = 'on' | 'off'

/** utime + stime of a process, in seconds (/proc/<pid>/stat, clock ticks of 1/100 s). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Bun.file(`/proc/${pid}/stat`).text()
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/**
 * One Herald with HERALD_METRICS on or off: METRICS_STREAMS streams at rest for METRICS_IDLE_MS, with
 * a heartbeat every METRICS_HEARTBEAT_MS (its CPU and RSS per stream; while on, /metrics scraped every
 * SCRAPE_EVERY_MS as Prometheus would), then publishes with no streams.
 */
async function measureMetrics(mode: MetricsMode, admin: postgres.Sql, load: Worker[]): Promise<Measures> {
  const url = await freshDatabase(admin, 'herald_bench_metrics')
  const target: Target = {
    name: 'herald',
    entry: 'src/cli/main.ts',
    env: { ...HERALD_ENV, HERALD_METRICS: mode, HERALD_HEARTBEAT_MS: String(METRICS_HEARTBEAT_MS) },
  }
  const server = await startTarget(target, url)
  const s: Streams = { workers: load, port: server.port, open: 0 }
  const m: Measures = {}
  let scrapes = 0
  try {
    await Bun.sleep(1000)
    const rss0 = await rssKiB(server.proc.pid)
    const opened = await openUpTo(s, METRICS_STREAMS)
    m.held = opened.ready
    await Bun.sleep(2000) // the opening's own work settles
    const cpu0 = await cpuSeconds(server.proc.pid)
    const t0 = performance.now()
    while (performance.now() - t0 < METRICS_IDLE_MS) {
      if (mode === 'on') {
        const res = await fetch(`http://127.0.0.1:${server.port}/metrics`)
        if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`)
        await res.arrayBuffer()
        scrapes++
      }
      await Bun.sleep(Math.min(SCRAPE_EVERY_MS, Math.max(0, METRICS_IDLE_MS - (performance.now() - t0))))
    }
    m.idle_cpu_percent = ((await cpuSeconds(server.proc.pid)) - cpu0) / ((performance.now() - t0) / 1000) * 100
    m.rss_per_stream_kib = ((await rssKiB(server.proc.pid)) - rss0) / Math.max(1, opened.ready)
    m.scrapes = scrapes
    await Promise.all(load.map((w) => ask(w, { type: 'close' }, 'closed')))
    s.open = 0
    await Bun.sleep(1000)
    const published = await publishPhase(s, server.port)
    m.publish_per_s = published.perSecond
    m.publish_failed = published.failed
    log(`metrics ${mode}: ${opened.ready} streams, idle CPU ${Number(m.idle_cpu_percent).toFixed(2)} %, ${Number(m.rss_per_stream_kib).toFixed(2)} KiB/stream, ${Math.round(published.perSecond)} publishes/s`)
  } finally {
    await Promise.all(load.map((w) => ask(w, { type: 'close' }, 'closed').catch(() => {})))
    await stopProcess(server)
  }
  return m
}

// ---------------------------------------------------------------- two instances

/**
 * Instances A and B, two processes on one database, as two machines would be: a stream opened on
 * one ends the user's stream on the other (both ways), and an alarm published through B reaches a
 * stream on A. With `redis`, both get REDIS_URL and a prefix of their own (HERALD_REDIS_PREFIX).
 */
async function measureInstances(signals: Signals, admin: postgres.Sql, load: Worker): Promise<Measures> {
  const url = await freshDatabase(admin, 'herald_bench_instances')
  const prefix = `bench-${crypto.randomUUID().slice(0, 8)}:`
  const redis: Record<string, string> = signals === 'redis' ? { REDIS_URL, HERALD_REDIS_PREFIX: prefix } : {}
  const target: Target = { name: 'herald', entry: 'src/cli/main.ts', env: { ...HERALD_ENV, ...redis } }
  const localAddress = `127.1.${SIGNALS.indexOf(signals)}.2`
  const m: Measures = {}
  const servers: Started[] = []
  try {
    if (signals === 'redis' && !(await redisAnswers())) log(`Redis does not answer at ${REDIS_URL}: the Redis rows measure Herald without it`)
    const a = await startTarget(target, url)
    servers.push(a)
    const b = await startTarget(target, url)
    servers.push(b)
    const reported = await Promise.all([a.port, b.port].map(signalsReported))
    if (reported.some((r) => r !== undefined)) m.signals_reported = reported.map((r) => r ?? 'not reported').join(', ')
    if (signals === 'redis' && reported.some((r) => r !== 'redis'))
      log(`the Redis run: /health reports signals ${reported.map((r) => r ?? '(not reported)').join(', ')}`)

    let missed = 0
    for (const [key, from, to] of [['ab', a, b], ['ba', b, a]] as const) {
      const users = Array.from({ length: SUPERSEDE_SAMPLES }, (_, i) => `${key}${i}`)
      await ask(load, { type: 'open', users, port: from.port, localAddress, lang: 'ko' }, 'opened')
      const sup = await ask(load, { type: 'supersede', users, port: to.port, localAddress, lang: 'ko', concurrency: 25 }, 'superseded')
      const p = percentiles(sup.samples)
      m[`supersede_${key}_p50_ms`] = p.p50
      m[`supersede_${key}_p99_ms`] = p.p99
      m[`supersede_${key}_max_ms`] = p.max
      missed += sup.missing
      if (sup.reasons.length) log(`instances, ${signals} signals, supersede ${key}: missed`, sup.reasons)
    }

    const users = Array.from({ length: DELIVERY_USERS }, (_, i) => `d${i}`)
    await ask(load, { type: 'open', users, port: a.port, localAddress, lang: 'ko' }, 'opened')
    const delivery = await deliveryAcross({ workers: [load], port: a.port, open: users.length }, users, b.port)
    const p = percentiles(delivery.latencies)
    Object.assign(m, { delivery_p50_ms: p.p50, delivery_p95_ms: p.p95, delivery_p99_ms: p.p99, delivery_max_ms: p.max })
    m.delivery_lost = delivery.lost + delivery.failed
    m.delivery_duplicates = delivery.duplicates
    m.missed = `${missed} of ${2 * SUPERSEDE_SAMPLES} / ${m.delivery_lost} of ${DELIVERY_SAMPLES}`
    // Throughput through B while A holds the streams: with Redis, commits skip NOTIFY and its lock.
    const published = await ask(load, { type: 'publish', url: `http://127.0.0.1:${b.port}/alarms`, seconds: PUBLISH_SECONDS, maxCount: 200_000, concurrency: 32, users }, 'published')
    m.publish_per_s = (published.ok / published.ms) * 1000
    m.publish_failed = published.failed
    log(`instances, ${signals} signals: supersede p99 A→B ${Math.round(Number(m.supersede_ab_p99_ms))} ms, B→A ${Math.round(Number(m.supersede_ba_p99_ms))} ms; delivery p99 ${Math.round(p.p99)} ms; missed ${m.missed}`)
  } finally {
    await ask(load, { type: 'close' }, 'closed')
    await Promise.all(servers.map(stopProcess))
    if (signals === 'redis') m.redis_keys = await forgetRedisKeys(prefix)
  }
  return m
}

/** POST /alarms through B at DELIVERY_RATE; each alarm's time from the POST to its frame on A. */
async function deliveryAcross(s: Streams, users: string[], publishPort: number) {
  await collect(s) // drop anything earlier
  const expected = new Map<number, number>()
  let failed = 0
  const started = performance.now()
  const posts: Promise<void>[] = []
  for (let i = 0; i < DELIVERY_SAMPLES; i++) {
    const wait = started + (i * 1000) / DELIVERY_RATE - performance.now()
    if (wait > 0) await Bun.sleep(wait)
    const sent = now()
    const body = JSON.stringify({ userId: users[Math.floor(Math.random() * users.length)], messages: MESSAGES, data: { n: i } })
    posts.push(
      fetch(`http://127.0.0.1:${publishPort}/alarms`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(5_000),
      })
        .then(async (res) => {
          if (res.status !== 201) throw new Error(`status ${res.status}`)
          expected.set(Number(((await res.json()) as { id: number }).id), sent)
        })
        .catch(() => void failed++),
    )
  }
  await Promise.all(posts)
  return { ...(await awaitDeliveries(s, expected, 5_000)), failed }
}

/** What the instance says carries its signals (`/health`'s `signals`), if it says. */
async function signalsReported(port: number): Promise<string | undefined> {
  const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined)
  const body = (await res?.json().catch(() => undefined)) as { signals?: unknown } | undefined
  return typeof body?.signals === 'string' ? body.signals : undefined
}

async function redisClient() {
  const redis = new RedisClient(REDIS_URL, { connectionTimeout: 2000, autoReconnect: false, enableOfflineQueue: false })
  await redis.connect()
  return redis
}

async function redisAnswers(): Promise<boolean> {
  const redis = await redisClient().catch(() => undefined)
  try {
    return (await redis?.send('PING', [])) === 'PONG'
  } catch {
    return false
  } finally {
    redis?.close()
  }
}

/** Deletes the keys the Redis run left under its own prefix (at most 100 SCAN pages); returns how many. */
async function forgetRedisKeys(prefix: string): Promise<number> {
  let redis: RedisClient | undefined
  let deleted = 0
  try {
    redis = await redisClient()
    let cursor = '0'
    for (let page = 0; page < 100; page++) {
      const [next, keys] = (await redis.send('SCAN', [cursor, 'MATCH', `${prefix}*`, 'COUNT', '1000'])) as [string, string[]]
      if (keys.length) await redis.send('UNLINK', keys)
      deleted += keys.length
      cursor = next
      if (cursor === '0') break
    }
  } catch (error) {
    log(`could not delete the Redis keys ${prefix}*: ${(error as Error).message}`)
  } finally {
    redis?.close()
  }
  return deleted
}

// ---------------------------------------------------------------- render cost

/**
 * One template frame, in this process: the first stream to need it (parse the text if the parsed
 * copy was dropped, format, encode), the next streams of the batch (the frame cache's hit), and a
 * text alarm's frame for comparison. Microseconds per frame over many rows, after a warm-up.
 */
async function measureRender(): Promise<Measures> {
  const { createCatalogue } = await import('../src/templates/catalogue')
  const { defineTemplate } = await import('../src/templates/define')
  const { alarmFrame } = await import('../src/stream/render')
  type Row = Parameters<typeof alarmFrame>[0]
  const args = defineTemplate(TEMPLATE).arguments
  const catalogue = createCatalogue(async (keys) =>
    keys.map((key) => ({ key, version: 1, messages: TEMPLATE, arguments: args, description: null, createdAt: '', updatedAt: '' })),
  )
  const template = (await catalogue.get(TEMPLATE_KEY))!
  const rows = (count: number, withTemplate: boolean): Row[] =>
    Array.from({ length: count }, (_, i) => ({
      kind: 'alarm' as const,
      id: i,
      seq: i + 1,
      locales: withTemplate ? [] : Object.keys(MESSAGES).sort(),
      messages: withTemplate ? [] : Object.keys(MESSAGES).sort().map((l) => MESSAGES[l as keyof typeof MESSAGES]),
      dataJson: '{"reservationId":17}',
      createdAt: '2026-12-12T10:30:00.000Z',
      ...(withTemplate ? { template: { key: TEMPLATE_KEY, params: JSON.stringify({ seats: 1 + (i % 30), at: TEMPLATE_PARAMS.at }), resolved: template } } : {}),
    }))
  const N = quick ? 20_000 : 100_000
  /** Warmed up on rows of their own (a row renders once, then its frame is cached), then timed. */
  const perFrame = (run: (row: Row, i: number) => unknown, warm: Row[], list: Row[]) => {
    for (let i = 0; i < warm.length; i++) run(warm[i]!, i)
    const t0 = performance.now()
    for (let i = 0; i < list.length; i++) run(list[i]!, i)
    return ((performance.now() - t0) * 1000) / list.length
  }
  const m: Measures = { frames: N }
  // Parsed copy kept: format + encode (what every new alarm costs its first stream).
  m.render_cached_us = perFrame((row) => alarmFrame(row, ['ru'], 'en', 'Asia/Seoul'), rows(2000, true), rows(N, true))
  // Parsed copy dropped before each frame: parse + format + encode (a catalogue too small to keep it).
  m.render_uncached_us = perFrame((row) => {
    catalogue.forget(TEMPLATE_KEY) // the rows keep their template; only its parsed texts go
    return alarmFrame(row, ['ru'], 'en', 'Asia/Seoul')
  }, rows(2000, true), rows(quick ? 5_000 : 20_000, true))
  const shared = rows(N, true)
  for (const row of shared) alarmFrame(row, ['ru'], 'en', 'Asia/Seoul')
  m.render_shared_us = perFrame((row) => alarmFrame(row, ['ru-RU', 'ru'], 'en', 'Asia/Seoul'), shared.slice(0, 2000), shared)
  m.render_text_us = perFrame((row) => alarmFrame(row, ['ja'], 'en'), rows(2000, false), rows(N, false))
  m.render_ratio = Number(m.render_uncached_us) / Number(m.render_cached_us)
  log(`render: ${Number(m.render_cached_us).toFixed(2)} µs cached, ${Number(m.render_uncached_us).toFixed(2)} µs uncached, ${Number(m.render_shared_us).toFixed(3)} µs shared`)
  return m
}

// ---------------------------------------------------------------- main

const admin = postgres(ADMIN_URL, { max: 2, onnotice: () => {} })
const mainLoad = Math.max(2, Math.ceil(Math.max(...SIZES, only.has('metrics') ? METRICS_STREAMS : 0) / PER_WORKER))
const batchLoad = Math.max(2, Math.ceil(BATCH_STREAMS / PER_WORKER))
const poolSize = Math.max(
  only.has('herald') || only.has('baseline') || only.has('metrics') ? mainLoad : 1,
  only.has('batch') ? batchLoad : 1,
  only.has('single') ? 2 : 1,
  only.has('cluster') ? Math.ceil(CLUSTER_MAX / CLUSTER_PER_LOAD) : 1,
)
const workers = await Promise.all(Array.from({ length: poolSize }, (_, i) => startWorker(i)))
const started = Date.now()
const results: Results = {}
const seconds: Record<string, number> = {}
const failures: string[] = []
const [postgresVersion] = await admin<{ server_version: string }[]>`show server_version`

/** One Herald and these load processes holding streams on it, for a phase module (batch, single). */
function streamsPhaseDeps(load: Worker[]): StreamsPhaseDeps<Worker> {
  const s: Streams = { workers: load, port: 0, open: 0 }
  return {
    workers: load,
    ask,
    freshDatabase: (name) => freshDatabase(admin, name),
    async startHerald(url) {
      const server = await startTarget(TARGETS[0]!, url)
      return { port: server.port, pid: server.proc.pid, stop: () => stopProcess(server) }
    },
    async open(port, total) {
      Object.assign(s, { port, open: 0 })
      return (await openUpTo(s, total)).ready
    },
    awaitDeliveries: (expected, timeoutMs) => awaitDeliveries(s, expected, timeoutMs),
    forget: async () => void (await collect(s)),
    async closeAll() {
      await Promise.all(load.map((w) => ask(w, { type: 'close' }, 'closed')))
      s.open = 0
    },
    cpuSeconds,
    log,
  }
}

/** Runs one measurement; a failure is reported with the table, and the other phases still run. */
async function phase<T>(name: string, run: () => Promise<T>): Promise<T | undefined> {
  log(`measuring ${name}`)
  const t0 = Date.now()
  try {
    return await run()
  } catch (error) {
    log(`${name} failed:`, error)
    failures.push(`${name}: ${(error as Error).message}`)
  } finally {
    seconds[name] = Math.round((Date.now() - t0) / 1000)
  }
}

try {
  for (const target of TARGETS) {
    if (!only.has(target.name)) continue
    const m = await phase(target.name, () => measure(target, admin, workers.slice(0, mainLoad)))
    if (m) results[target.name] = m
  }
  if (only.has('cluster'))
    for (const n of CLUSTER_WORKERS) {
      const m = await phase(`cluster of ${n}`, () => measureCluster(n, admin, workers))
      if (m) (results.cluster ??= {})[n] = m
    }
  if (only.has('inbox')) {
    const m = await phase('inbox', () =>
      measureInbox(
        { alarms: INBOX_ALARMS, users: INBOX_USERS, historyRequests: quick ? 400 : 2000, markSeconds: PUBLISH_SECONDS, markConcurrency: 16 },
        {
          freshDatabase: (name) => freshDatabase(admin, name),
          async startHerald(url) {
            const server = await startTarget(TARGETS[0]!, url)
            return { port: server.port, stop: () => stopProcess(server) }
          },
          connect: (url) => postgres(url, { max: 4, onnotice: () => {} }),
          log,
        },
      ),
    )
    if (m) results.inbox = m
  }
  if (only.has('devices')) {
    const m = await phase('devices', () =>
      measureDevices(
        { users: quick ? 2000 : 9000, supersedeSamples: SUPERSEDE_SAMPLES, presenceRequests: quick ? 400 : 2000 },
        {
          workers: workers.slice(0, Math.max(2, mainLoad)),
          ask,
          freshDatabase: (name) => freshDatabase(admin, name),
          async startHerald(url) {
            const server = await startTarget(TARGETS[0]!, url)
            return { port: server.port, stop: () => stopProcess(server) }
          },
          log,
        },
      ),
    )
    if (m) results.devices = m
  }
  if (only.has('retention')) {
    const m = await phase('retention', () =>
      measureRetention(
        { streams: RETENTION_STREAMS, oldAlarms: quick ? 200_000 : 1_000_000, deliveryRate: LATENCY_RATE },
        {
          workers: workers.slice(0, Math.max(2, mainLoad)),
          ask,
          freshDatabase: (name) => freshDatabase(admin, name),
          async startHerald(url, env) {
            const server = await startTarget({ ...TARGETS[0]!, env: { ...TARGETS[0]!.env, ...env } }, url)
            return { port: server.port, stop: () => stopProcess(server) }
          },
          connect: (url) => postgres(url, { max: 4, onnotice: () => {} }),
          log,
        },
      ),
    )
    if (m) results.retention = m
  }
  if (only.has('metrics'))
    for (const mode of ['on', 'off'] as const) {
      const m = await phase(`metrics ${mode}`, () => measureMetrics(mode, admin, workers.slice(0, mainLoad)))
      if (m) (results.metrics ??= {})[mode] = m
    }
  if (only.has('instances'))
    for (const signals of SIGNALS) {
      const m = await phase(`instances (${signals} signals)`, () => measureInstances(signals, admin, workers[0]!))
      if (m) (results.instances ??= {})[signals] = m
    }
  if (only.has('render')) {
    const m = await phase('render', measureRender)
    if (m) results.render = m
  }
  if (only.has('batch')) {
    const m = await phase('batch', () =>
      measureBatch(
        { streams: BATCH_STREAMS, sizes: BATCH_SIZES, seconds: BATCH_SECONDS, fanOuts: FAN_OUTS },
        streamsPhaseDeps(workers.slice(0, batchLoad)),
      ),
    )
    if (m) {
      results.batch = m.measures
      results.batchCurve = m.curve
    }
  }
  if (only.has('single')) {
    const m = await phase('single', () =>
      measureSingle(
        { streams: SINGLE_STREAMS, rate: SINGLE_RATE, seconds: SINGLE_SECONDS },
        {
          // The first load process holds the streams, the second publishes.
          ...streamsPhaseDeps(workers.slice(0, 2)),
          connect: (url) => postgres(url, { max: 1, onnotice: () => {} }),
        },
      ),
    )
    if (m) results.single = m
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
const rows: Row[] = buildRows(results)
console.log(formatTable(rows))
const total = Math.round((Date.now() - started) / 1000)
console.log(`\n${machine.cpus}, ${machine.memory_gib} GiB, Bun ${machine.bun}, open-file limit ${machine.open_files}; ${quick ? 'quick' : 'full'} run, ${total} s`)
console.log(`phases: ${Object.entries(seconds).map(([name, s]) => `${name} ${s} s`).join(', ')}`)
for (const failure of failures) console.log(`FAILED ${failure}`)
const date = new Date().toISOString().slice(0, 10)
const file = args.out ? new URL(args.out, `file://${process.cwd()}/`) : new URL(`results/${date}${quick ? '-quick' : ''}.json`, import.meta.url)
const cluster = { workers: CLUSTER_WORKERS, asked: Object.fromEntries(CLUSTER_WORKERS.map((n) => [n, clusterAsked(n)])) }
const instances = { signals: SIGNALS, supersedeSamples: SUPERSEDE_SAMPLES, deliverySamples: DELIVERY_SAMPLES, deliveryRate: DELIVERY_RATE }
const batch = { streams: BATCH_STREAMS, sizes: BATCH_SIZES, seconds: BATCH_SECONDS, fanOuts: FAN_OUTS }
const single = { streams: SINGLE_STREAMS, rate: SINGLE_RATE, seconds: SINGLE_SECONDS }
const settings = { sizes: SIZES, idleSeconds: IDLE_SECONDS, ...(only.has('metrics') && { metrics: { streams: METRICS_STREAMS, scrapeEveryMs: SCRAPE_EVERY_MS } }), ...(only.has('cluster') && { cluster }), ...(only.has('instances') && { instances }), ...(only.has('batch') && { batch }), ...(only.has('single') && { single }) }
await Bun.write(file, JSON.stringify({ date: new Date().toISOString(), quick, machine, ...settings, seconds, failures, results, table: rows }, null, 2) + '\n')
console.log(`results: ${file.pathname.replace(ROOT, '')}`)
// The curves beside the JSON, from the same results.
const svg = new URL(file.pathname.replace(/(\.json)?$/, '.svg'), 'file://')
await Bun.write(svg, drawCharts(benchCharts(results), `Herald ${date}, ${quick ? 'quick' : 'full'} run: ${machine.cpus}, ${machine.memory_gib} GiB, Bun ${machine.bun}, PostgreSQL ${machine.postgres}`))
console.log(`curves: ${svg.pathname.replace(ROOT, '')}`)
if (failures.length) process.exitCode = 1

type Results = {
  herald?: Measures
  baseline?: Measures
  /** By worker count. */
  cluster?: Record<number, Measures>
  /** By what carries the signals between the instances. */
  instances?: Partial<Record<Signals, Measures>>
  inbox?: Measures
  devices?: Measures
  /** The cost of one frame, in the benchmark's own process. */
  render?: Measures
  /** HERALD_METRICS on and off. */
  metrics?: Partial<Record<MetricsMode, Measures>>
  retention?: Measures
  /** The batch phase: its fan-out and best point. */
  batch?: Measures
  /** Alarms per second against the batch size (POST /alarms/batch), one point per size. */
  batchCurve?: BatchPoint[]
  /** The single phase: POST /alarms one at a time, paced. */
  single?: Measures
}

function buildRows({ herald: h = {}, baseline: b = {}, cluster = {}, instances = {}, inbox, devices, render, metrics = {}, retention, batch, batchCurve = [], single: lone }: Results): Row[] {
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
    add(`state event (read, by SQL) → stream, p50 at ${n}`, `state_p50_ms_${n}`, 'ms', 'lower')
    add(`state event → stream, p99 at ${n}`, `state_p99_ms_${n}`, 'ms', 'lower')
    add(`state events lost at ${n}`, `state_lost_${n}`, '', 'lower')
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

  // Template alarms: no baseline (the seed has no templates); compared with Herald's text alarms.
  const single = (key: string, label: string) => (h[key] === undefined ? undefined : { value: h[key], label })
  /** Rows of Herald alone (no baseline) under one name, e.g. `batch: …`, each maybe compared with a reference. */
  const section = (name: string) => (label: string, value: Row['herald'], unit: string, better: Row['better'], reference?: Row['reference']) =>
    rows.push({ label: `${name}: ${label}`, herald: value, baseline: undefined, unit, better, reference })
  const templateRow = (label: string, key: string, unit: string, better: Row['better'], reference?: Row['reference']) =>
    h[key] !== undefined && rows.push({ label: `templates: ${label}`, herald: h[key], baseline: undefined, unit, better, reference })
  templateRow('publish POST /alarms with template + params, no streams', 'publish_template_per_s', '/s', 'higher', single('publish_without_streams_per_s', 'messages'))
  templateRow('publish requests failed', 'publish_template_failed', '', 'none')
  const tn = h.template_latency_n
  templateRow(`latency p50 at ${tn}, ${LATENCY_RATE}/s, rendered when read`, 'template_latency_p50_ms', 'ms', 'lower', single(`latency_p50_ms_${tn}`, 'texts'))
  templateRow(`latency p99 at ${tn}`, 'template_latency_p99_ms', 'ms', 'lower', single(`latency_p99_ms_${tn}`, 'texts'))
  templateRow(`latency max at ${tn}`, 'template_latency_max_ms', 'ms', 'lower')
  templateRow(`alarms lost of ${LATENCY_ALARMS} at ${tn}`, 'template_latency_lost', '', 'lower')
  if (render) {
    const cached = { value: render.render_cached_us, label: 'parsed copy kept' }
    const frame = (label: string, value: Row['herald'], reference?: Row['reference']) =>
      rows.push({ label: `render one template frame (ru, Asia/Seoul): ${label}`, herald: value, baseline: undefined, unit: 'µs', better: 'lower', reference })
    frame('parsed copy kept (format + encode)', render.render_cached_us)
    frame('parsed copy dropped (parse + format + encode)', render.render_uncached_us, cached)
    frame('the next stream of the batch (frame cache)', render.render_shared_us, cached)
    frame('a text alarm, for comparison', render.render_text_us, cached)
  }

  // The baseline is one process: these rows have no baseline, and where it makes sense they are
  // compared with one Herald process (or instance) of the same run instead.
  const largest = SIZES.at(-1)!
  for (const [workers, c] of Object.entries(cluster)) {
    const name = `cluster of ${workers} workers`
    const other = section(name)
    // One process was asked as many streams as it holds only when the sizes went up to --max.
    other(`streams held (asked ${c.asked})`, c.held, '', 'higher', SIZES.includes(MAX_TARGET) ? single(`held_${MAX_TARGET}`, '1 process') : undefined)
    other('streams per worker (open files added)', c.streams_per_worker, '', 'none')
    other('RSS per stream, workers summed', c.rss_per_stream_kib, 'KiB', 'lower', single(`rss_per_stream_kib_${largest}`, `1 process at ${largest}`))
    other(`burst: 1 alarm × ${c.asked} users, last at`, c.burst_ms, 'ms', 'lower')
    other('burst: delivered', c.burst_delivered, '', 'none')
    if (c.burst_cpu_wall_s !== undefined) other('burst: CPU s, Herald / load / PostgreSQL / rest (over wall s)', cpuSplit(c, 'burst'), '', 'none')
    if (c.burst_warm_ms !== undefined) {
      other(`second burst (compiled): 1 alarm × ${c.asked} users, last at`, c.burst_warm_ms, 'ms', 'lower')
      other('second burst: delivered', c.burst_warm_delivered, '', 'none')
      other('second burst: CPU s, Herald / load / PostgreSQL / rest (over wall s)', cpuSplit(c, 'burst_warm'), '', 'none')
    }
  }
  for (const [signals, x] of Object.entries(instances)) {
    const name = `across instances (${signals === 'redis' ? 'Redis' : 'PostgreSQL'} signals)`
    const other = section(name)
    other('supersede A→B, p50', x.supersede_ab_p50_ms, 'ms', 'lower', single('supersede_p50_ms', '1 instance'))
    other('supersede A→B, p99', x.supersede_ab_p99_ms, 'ms', 'lower', single('supersede_p99_ms', '1 instance'))
    other('supersede B→A, p50', x.supersede_ba_p50_ms, 'ms', 'lower', single('supersede_p50_ms', '1 instance'))
    other('supersede B→A, p99', x.supersede_ba_p99_ms, 'ms', 'lower', single('supersede_p99_ms', '1 instance'))
    other(`POST on B → alarm on A, p50 (${DELIVERY_RATE}/s)`, x.delivery_p50_ms, 'ms', 'lower')
    other('POST on B → alarm on A, p95', x.delivery_p95_ms, 'ms', 'lower')
    other('POST on B → alarm on A, p99', x.delivery_p99_ms, 'ms', 'lower')
    other(`publish POST /alarms on B, ${DELIVERY_USERS} streams on A`, x.publish_per_s, '/s', 'higher', single('publish_with_streams_per_s', '1 instance'))
    other('publish requests failed', x.publish_failed, '', 'none')
    other('supersedes missed / alarms lost', x.missed, '', 'none')
    other('signals per /health (A, B)', x.signals_reported, '', 'none')
  }
  if (devices) {
    const other = section('devices')
    const streams = Number(devices.storm_devices_ready).toLocaleString('en-US')
    other(`reconnect storm, ${streams} streams as 2 devices per user: opens`, devices.storm_devices_per_s, '/s', 'higher', {
      value: devices.storm_single_per_s,
      label: `one stream per user, ${Number(devices.storm_single_ready).toLocaleString('en-US')} users`,
    })
    other('supersede within one device → older ended, p50', devices.supersede_device_p50_ms, 'ms', 'lower', single('supersede_p50_ms', 'per user'))
    other('supersede within one device, p99', devices.supersede_device_p99_ms, 'ms', 'lower', single('supersede_p99_ms', 'per user'))
    other('GET /users/:id/presence (2 devices live), p50', devices.presence_p50_ms, 'ms', 'lower')
    other('GET /users/:id/presence, p99', devices.presence_p99_ms, 'ms', 'lower')
  }
  if (inbox) {
    const other = section('inbox')
    const alarms = Number(inbox.alarms).toLocaleString('en-US')
    other(`history page (GET /users/:id/alarms), p50, ${alarms} alarms in the table`, inbox.history_p50_ms, 'ms', 'lower')
    other('history page, p99', inbox.history_p99_ms, 'ms', 'lower')
    other('history page, status=unread, p99', inbox.history_unread_p99_ms, 'ms', 'lower')
    other('mark all read: 10,000 unread alarms, one request', inbox.mark_all_read_ms, 'ms', 'lower')
    other('marks through the API (16 clients, read/unread by id)', inbox.marks_per_s, '/s', 'higher')
    other('marks failed / unread left after mark-all-read', `${inbox.marks_failed} / ${inbox.mark_all_read_left}`, '', 'none')
  }
  if (retention) {
    const other = section('retention')
    const streams = Number(retention.retention_streams).toLocaleString('en-US')
    other(`old alarms deleted (batches of 1,000), ${streams} streams reading`, retention.retention_rows_per_s, 'rows/s', 'higher')
    other('old alarms deleted / left', `${retention.retention_rows} / ${retention.retention_left}`, '', 'none')
    const latency = (key: string) => (h[key] === undefined ? undefined : { value: h[key], label: 'no deleting' })
    other(`new alarm → stream meanwhile, p50 (${LATENCY_RATE}/s)`, retention.retention_delivery_p50_ms, 'ms', 'lower', latency('latency_p50_ms_1000'))
    other('new alarm → stream meanwhile, p99', retention.retention_delivery_p99_ms, 'ms', 'lower', latency('latency_p99_ms_1000'))
    other('new alarms lost meanwhile', retention.retention_delivery_lost, '', 'lower')
  }
  if (batch) {
    const other = section('batch')
    const streams = Number(batch.streams).toLocaleString('en-US')
    const one = batchCurve.find((point) => point.size === 1)
    for (const point of batchCurve) {
      const versus = one && point !== one ? { value: one.deliveredPerSecond, label: 'batches of 1' } : undefined
      other(`POST /alarms/batch of ${point.size}, ${streams} streams: committed`, point.perSecond, 'alarms/s', 'higher')
      other(`  of ${point.size}: delivered (first request → last event)`, point.deliveredPerSecond, 'alarms/s', 'higher', versus)
      other(`  of ${point.size}: request → event p50 / p99`, `${point.p50Ms.toFixed(1)} / ${point.p99Ms.toFixed(1)} ms`, '', 'none')
      other(`  of ${point.size}: lost / requests failed / Herald CPU per 1,000`, `${point.lost} of ${point.alarms} / ${point.failedRequests} / ${Math.round(point.cpuMsPer1000)} ms`, '', 'none')
    }
    const users = Number(batch.fanout_users).toLocaleString('en-US')
    other(`fan-out to ${users} connected users: request → last event, p50 of ${batch.fanout_runs}`, batch.fanout_last_p50_ms, 'ms', 'lower')
    other('fan-out: request → last event, max', batch.fanout_last_max_ms, 'ms', 'lower')
    other('fan-out: request → answer (201), p50', batch.fanout_answer_p50_ms, 'ms', 'lower')
    other('fan-out: alarms lost', batch.fanout_lost, '', 'lower')
  }
  if (lone) {
    const other = section('single')
    const streams = Number(lone.streams).toLocaleString('en-US')
    other(`POST /alarms at ${lone.rate}/s, ${streams} streams: request → 201, p50`, lone.ack_p50_ms, 'ms', 'lower')
    other('request → 201, p99', lone.ack_p99_ms, 'ms', 'lower')
    other('request → event on the stream, p50', lone.event_p50_ms, 'ms', 'lower')
    other('request → event on the stream, p99', lone.event_p99_ms, 'ms', 'lower')
    other('Herald CPU per published alarm (minus heartbeats)', lone.cpu_ms_per_alarm, 'ms', 'lower')
    other('alarms lost / requests failed', `${lone.lost} of ${lone.alarms} / ${lone.failed}`, '', 'none')
    other(`floor at ${lone.rate}/s: the same alarm by SQL, insert + commit, p50 (context)`, lone.floor_insert_p50_ms, 'ms', 'none')
    other(`floor at ${lone.rate}/s: select 1, p50 (context)`, lone.floor_roundtrip_p50_ms, 'ms', 'none')
    other(`floor at ${lone.rate}/s: POST refused with 400 (nothing stored): request → answer, p50 (context)`, lone.refused_answer_p50_ms, 'ms', 'none')
    other(`floor at ${lone.rate}/s: Herald CPU per POST refused with 400 (context)`, lone.refused_cpu_ms_per_request, 'ms', 'none')
  }
  // Metrics on, compared with the same run's Herald with metrics off.
  const { on, off } = metrics
  if (on || off) {
    const versus = (key: string) => (off?.[key] === undefined ? undefined : { value: off[key], label: 'metrics off' })
    const named = (label: string, key: string, unit: string, better: Row['better']) =>
      rows.push({ label: `metrics on: ${label}`, herald: on?.[key], baseline: undefined, unit, better, reference: versus(key) })
    named(`idle CPU, ${METRICS_STREAMS} streams (heartbeat ${METRICS_HEARTBEAT_MS / 1000} s), scraped every ${SCRAPE_EVERY_MS / 1000} s`, 'idle_cpu_percent', '%', 'lower')
    named(`RSS per idle stream at ${METRICS_STREAMS}`, 'rss_per_stream_kib', 'KiB', 'lower')
    named('publish POST /alarms, no streams', 'publish_per_s', '/s', 'higher')
    rows.push({ label: 'metrics on / off: publish requests failed', herald: `${on?.publish_failed ?? '—'} / ${off?.publish_failed ?? '—'}`, baseline: undefined, unit: '', better: 'none' })
  }
  return rows
}
