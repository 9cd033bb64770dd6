// Cluster mode as an operator runs it: `HERALD_WORKERS=2 bun src/main.ts`, real processes on one port.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { alive } from '../src/embedded'
import { testDb, type TestDb } from './helpers/db'
import { ready, until } from './helpers/herald'
import { readSse } from './helpers/sse'

let db: TestDb
beforeAll(async () => {
  db = await testDb('cluster')
})
afterAll(() => db[Symbol.asyncDispose]())

function freePort(): number {
  const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = probe.port
  probe.stop(true)
  return port
}

/** Runs the cluster and keeps reading its output; `waitFor` resolves once a pattern has appeared `times` times. */
function startCluster(port: number) {
  const proc = Bun.spawn([process.execPath, 'src/main.ts'], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { ...process.env, DATABASE_URL: db.url, PORT: String(port), HOST: '127.0.0.1', HERALD_WORKERS: '2' },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let out = ''
  const waiters: (() => void)[] = []
  const read = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder()
    const reader = stream.getReader()
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      out += decoder.decode(chunk.value)
      for (const wake of waiters.splice(0)) wake()
    }
    for (const wake of waiters.splice(0)) wake()
  }
  void read(proc.stdout)
  void read(proc.stderr)
  async function waitFor(pattern: RegExp, times = 1): Promise<RegExpMatchArray[]> {
    for (;;) {
      const found = [...out.matchAll(new RegExp(pattern, 'g'))]
      if (found.length >= times) return found
      if (proc.exitCode !== null) throw new Error(`the cluster exited:\n${out}`)
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }
  return { proc, waitFor, output: () => out }
}

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
    cluster.proc.kill('SIGKILL')
  }
}, 60_000)

test('cluster mode refuses PORT=0: the workers must share one port', async () => {
  const proc = Bun.spawn([process.execPath, 'src/main.ts'], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { ...process.env, DATABASE_URL: db.url, PORT: '0', HERALD_WORKERS: '2' },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  expect(await proc.exited).toBe(1)
  expect(await new Response(proc.stderr).text()).toContain('HERALD_WORKERS > 1 needs a fixed PORT')
})
