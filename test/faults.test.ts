// Faults with real processes: the PostgreSQL under a running Herald restarts while a stream is
// open. The test runs its own (embedded) PostgreSQL for that, never the machine's shared one.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readConfig } from '../src/config'
import { startEmbedded, type Embedded } from '../src/cli/embedded'
import { startServer, type RunningServer } from '../src/http/server'
import { nextAlarm, quiet, ready } from './helpers/herald'
import { readSse } from './helpers/sse'

let base: string
let pg: Embedded
let herald: RunningServer
beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), 'herald-faults-'))
  await chmod(base, 0o755)
  pg = await startEmbedded({ dir: join(base, 'pg'), port: 0, database: 'herald' })
  const config = { ...readConfig({}), databaseUrl: pg.url, port: 0, hostname: '127.0.0.1' }
  herald = await startServer(config, { log: quiet, overrides: { safetyPollMs: 500, heartbeatMs: 200 } })
}, 60_000)
afterAll(async () => {
  await herald?.stop()
  await pg?.stop()
  rmSync(base, { recursive: true, force: true })
})

async function publish(text: string) {
  const res = await fetch(new URL('/alarms', herald.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId: 'survivor', messages: { ko: text } }),
  })
  return res.status
}

test('PostgreSQL restarts under an open stream: it stays open, and every alarm before and after arrives once, in order', async () => {
  const stream = readSse(await fetch(new URL('/connection/survivor?lang=ko', herald.url)))
  await ready(stream)
  expect(await publish('before')).toBe(201)
  expect(await nextAlarm(stream)).toMatchObject({ seq: 1, message: 'before' })

  const port = pg.port
  await pg.stop()
  expect(await publish('while down')).toBe(503) // a clear error, nothing stored
  pg = await startEmbedded({ dir: join(base, 'pg'), port, database: 'herald' })
  expect(pg.port).toBe(port)

  // The pool reconnects on the next query; the LISTEN connection reconnects and catches up.
  let status = 0
  for (let attempt = 0; attempt < 50 && status !== 201; attempt++) {
    status = await publish('after')
    if (status !== 201) await Bun.sleep(100) // retrying as a publisher would, bounded: 5 s
  }
  expect(status).toBe(201)
  expect(await publish('and after that')).toBe(201)
  const received = [await nextAlarm(stream), await nextAlarm(stream)]
  expect(received.map((a) => [a.seq, a.message])).toEqual([
    [2, 'after'],
    [3, 'and after that'],
  ])
  await stream.cancel()
}, 90_000)
