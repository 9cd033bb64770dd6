// The embedded PostgreSQL behind `npm run dev` and the test fallback, run for real: first start,
// a stale lock, a server left running by a killed dev, one in use by another dev, and the preload
// falling back when no PostgreSQL answers. Everything on 127.0.0.1, in throwaway folders.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { EmbeddedError, readPostmasterPid, startEmbedded } from '../src/cli/embedded'
import { alive } from '../src/cli/process'
import { testDb, type TestDb } from './helpers/db'
import { until } from './helpers/herald'
import { startEntry } from './helpers/process'

const ROOT = new URL('..', import.meta.url).pathname
let base: string
let dir: string

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'herald-embedded-'))
  // PostgreSQL runs as `postgres` when we are root: it must be able to enter the folder.
  await chmod(base, 0o755)
  dir = join(base, 'pg')
})

afterAll(async () => {
  const lock = readPostmasterPid(dir)
  if (lock && alive(lock.pid)) process.kill(lock.pid, 'SIGINT')
  await until(() => !lock || !alive(lock.pid), 'the embedded PostgreSQL to stop', 10_000).catch(() => {})
  rmSync(base, { recursive: true, force: true })
})

async function query(url: string): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 3 })
  try {
    const [row] = await sql`select current_database() as db`
    return row!.db
  } finally {
    await sql.end({ timeout: 1 })
  }
}

async function refused(url: string): Promise<boolean> {
  return query(url).then(
    () => false,
    () => true,
  )
}

/** `bun src/cli/dev.ts` as a newcomer runs it; resolves once it listens (or fails with its output). */
async function startDev(env: Record<string, string | undefined>) {
  const { DATABASE_URL: _, ...inherited } = process.env
  const dev = await startEntry('src/cli/dev.ts', {
    env: { ...inherited, PORT: '0', HOST: '127.0.0.1', HERALD_DEV_DATA: dir, HERALD_DEV_PG_PORT: '0', ...env },
    timeoutMs: 50_000, // a first start runs initdb
  })
  return { ...dev, out: dev.output() }
}

describe('startEmbedded', () => {
  test.if(process.getuid?.() === 0)('as root, in a folder closed to others (a private clone), opens the way for passing through and says so', async () => {
    const closed = mkdtempSync(join(tmpdir(), 'herald-private-')) // mode 700, like mktemp -d or /root
    const messages: string[] = []
    try {
      const pg = await startEmbedded({ dir: join(closed, 'pg'), port: 0, log: (m) => messages.push(m) })
      try {
        expect(await query(pg.url)).toBe('herald')
      } finally {
        await pg.stop()
      }
      expect(messages.join('\n')).toContain(`pass through ${closed}`)
      expect(statSync(closed).mode & 0o777).toBe(0o701) // search only: nothing can be listed
    } finally {
      rmSync(closed, { recursive: true, force: true })
    }
  }, 60_000)

  test('creates, serves on loopback, and stops a PostgreSQL in a folder of its own', async () => {
    const messages: string[] = []
    const pg = await startEmbedded({ dir, port: 0, database: 'herald', log: (m) => messages.push(m) })
    try {
      expect(pg.reused).toBe(false)
      expect(new URL(pg.url).hostname).toBe('127.0.0.1')
      expect(await query(pg.url)).toBe('herald')
      expect(messages.join('\n')).toContain('creating an embedded PostgreSQL')
      expect(readPostmasterPid(dir)?.pid).toBe(pg.pid)
    } finally {
      await pg.stop()
    }
    expect(existsSync(join(dir, 'postmaster.pid'))).toBe(false)
    expect(alive(pg.pid)).toBe(false)
    expect(await refused(pg.url)).toBe(true)
  }, 30_000)

  test.each([
    ['a dead pid (the server was killed)', 'is not running'],
    ['a recycled pid (now another program)', 'is another program now'],
  ])('removes a stale postmaster.pid naming %s, says so, and starts', async (_, reason) => {
    const pid = reason === 'is not running' ? await exitedPid() : process.pid
    writeFileSync(join(dir, 'postmaster.pid'), `${pid}\n${dir}\n1700000000\n5999\n\n\n`)
    const messages: string[] = []
    const pg = await startEmbedded({ dir, port: 0, log: (m) => messages.push(m) })
    try {
      expect(messages.join('\n')).toContain(`removing a stale`)
      expect(messages.join('\n')).toContain(reason)
      expect(await query(pg.url)).toBe('herald')
    } finally {
      await pg.stop()
    }
  }, 30_000)

  test('a busy port: the server takes a free one and says so', async () => {
    const squatter = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
    const messages: string[] = []
    const pg = await startEmbedded({ dir, port: squatter.port, log: (m) => messages.push(m) })
    try {
      expect(pg.port).not.toBe(squatter.port)
      expect(messages.join('\n')).toContain(`port ${squatter.port} is taken`)
      expect(await query(pg.url)).toBe('herald')
    } finally {
      await pg.stop()
      squatter.stop(true)
    }
  }, 30_000)
})

describe('npm run dev (src/cli/dev.ts)', () => {
  test('a dev killed with SIGKILL leaves its PostgreSQL running; the next dev reuses it, and SIGTERM stops both', async () => {
    const first = await startDev({})
    expect(first.url).toBeDefined()
    expect(first.out).toContain('embedded PostgreSQL at postgres://')
    const orphan = readPostmasterPid(dir)!
    first.proc.kill('SIGKILL')
    await first.proc.exited
    expect(alive(orphan.pid)).toBe(true) // the unhelpful situation a plain start would fail on

    const second = await startDev({})
    expect(second.url).toBeDefined()
    expect(second.out).toContain(`reusing the embedded PostgreSQL (pid ${orphan.pid}`)
    expect(second.out).toContain('left running when it was killed')
    const health = await fetch(`${second.url}/health`)
    expect(health.status).toBe(200)
    const demo = await fetch(`${second.url}/`)
    expect(demo.status).toBe(200) // dev serves the demo page
    expect(demo.headers.get('content-type')).toContain('text/html')

    second.proc.kill('SIGTERM')
    expect(await second.proc.exited).toBe(0)
    expect(alive(orphan.pid)).toBe(false)
    expect(existsSync(join(dir, 'postmaster.pid'))).toBe(false)
  }, 60_000)

  test('a second dev on the same folder while the first runs is refused with a clear message', async () => {
    const first = await startDev({})
    try {
      expect(first.url).toBeDefined()
      let error: unknown
      await startEmbedded({ dir, port: 0 }).then(
        (pg) => pg.stop(),
        (e) => (error = e),
      )
      expect(error).toBeInstanceOf(EmbeddedError)
      expect((error as Error).message).toContain(`belongs to another running Herald (pid ${first.proc.pid})`)
      expect((error as Error).message).toContain('DATABASE_URL')
      // And the first one was left alone.
      expect((await fetch(`${first.url}/health`)).status).toBe(200)
    } finally {
      first.proc.kill('SIGTERM')
      expect(await first.proc.exited).toBe(0)
    }
  }, 60_000)

  describe('with DATABASE_URL set', () => {
    let db: TestDb
    beforeAll(async () => {
      db = await testDb('dev_url')
    })
    afterAll(async () => {
      await db[Symbol.asyncDispose]()
    })

    test('never starts the embedded server', async () => {
      const unused = join(base, 'unused')
      const dev = await startDev({ DATABASE_URL: db.url, HERALD_DEV_DATA: unused })
      try {
        expect(dev.url).toBeDefined()
        expect(dev.out).not.toContain('embedded')
        expect(existsSync(unused)).toBe(false)
        expect((await fetch(`${dev.url}/health`)).status).toBe(200)
      } finally {
        dev.proc.kill('SIGTERM')
        expect(await dev.proc.exited).toBe(0)
      }
    }, 30_000)
  })
})

describe('the test preload', () => {
  async function runFixture(env: Record<string, string | undefined>) {
    const { DATABASE_URL: _, ...inherited } = process.env
    const proc = Bun.spawn([process.execPath, 'test', './test/fixtures/probe.fixture.ts'], {
      cwd: ROOT,
      env: { ...inherited, ...env } as Record<string, string>,
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()])
    return { code, output: stdout + stderr }
  }

  test.each([false, true])(
    'falls back to an embedded PostgreSQL when none answers, and stops it at the end (a failing run: %p)',
    async (failing) => {
      const { code, output } = await runFixture({
        HERALD_TEST_PG_PROBE: 'postgres://postgres@127.0.0.1:1/test',
        ...(failing ? { FIXTURE_FAIL: '1' } : {}),
      })
      const match = output.match(/using an embedded one on port (\d+) \(pid (\d+)/)
      expect(match).not.toBeNull()
      expect(output).toContain(`DATABASE_URL=postgres://postgres:herald@127.0.0.1:${match![1]}/test`)
      // The exit code is bun test's own: the embedded server does not swallow a failure.
      expect(code).toBe(failing ? 1 : 0)
      const pid = Number(match![2])
      await until(() => !alive(pid), `the embedded PostgreSQL (pid ${pid}) to stop`, 10_000)
    },
    60_000,
  )

  test('an explicit DATABASE_URL is used as given, even when it does not answer', async () => {
    const url = 'postgres://postgres@127.0.0.1:1/test'
    const { code, output } = await runFixture({ DATABASE_URL: url })
    expect(output).not.toContain('embedded')
    expect(output).toContain(`DATABASE_URL=${url}`)
    expect(code).toBe(1)
  }, 30_000)
})

/** A pid that surely ran and surely is gone. */
async function exitedPid(): Promise<number> {
  const proc = Bun.spawn(['true'])
  await proc.exited
  return proc.pid
}
