// Runs once before any test file (bunfig.toml [test] preload). "Clone, install, test" must pass on
// a machine with no PostgreSQL: when DATABASE_URL is unset and the default one does not answer,
// start an embedded PostgreSQL in a throwaway folder for this run, and stop it at exit.
//
// An explicit DATABASE_URL is never second-guessed: if it does not answer, the tests fail and say
// so. HERALD_TEST_PG_PROBE overrides the default that is probed (how the fallback is tested).
import { afterAll } from 'bun:test'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { startEmbedded } from '../../src/cli/embedded'

export const DEFAULT_TEST_DATABASE = 'postgres://postgres@127.0.0.1:5432/test'

async function answers(url: string): Promise<boolean> {
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} })
  try {
    await sql`select 1`
    return true
  } catch {
    return false
  } finally {
    await sql.end({ timeout: 0 }).catch(() => {})
  }
}

if (!process.env.DATABASE_URL?.trim()) {
  const probe = process.env.HERALD_TEST_PG_PROBE?.trim() || DEFAULT_TEST_DATABASE
  if (await answers(probe)) process.env.DATABASE_URL = probe
  else {
    const dir = join(tmpdir(), `herald-test-pg-${process.pid}-${crypto.randomUUID().slice(0, 8)}`)
    const started = performance.now()
    const embedded = await startEmbedded({ dir, port: 0, database: 'test' })
    process.env.DATABASE_URL = embedded.url
    console.error(
      `herald tests: no PostgreSQL at ${new URL(probe).host}; using an embedded one on port ${embedded.port} ` +
        `(pid ${embedded.pid}, started in ${Math.round(performance.now() - started)} ms)`,
    )
    // A preload's afterAll runs once, after every file. The exit and signal handlers are for runs
    // that end otherwise; they must be synchronous: a fast-shutdown signal, then the folder goes.
    afterAll(async () => {
      await embedded.stop()
      cleanup()
    })
    const cleanup = () => {
      try {
        process.kill(embedded.pid, 'SIGINT')
      } catch {}
      rmSync(dir, { recursive: true, force: true })
      rmSync(dir + '.owner', { force: true })
    }
    process.once('exit', cleanup)
    for (const signal of ['SIGINT', 'SIGTERM'] as const)
      process.once(signal, () => {
        cleanup()
        process.exit(128 + (signal === 'SIGINT' ? 2 : 15))
      })
  }
}
