// Cluster mode: N Herald processes on one port (reusePort), supervised. A worker that dies is
// started again (after a back-off that grows while it keeps dying); SIGTERM/SIGINT reach every
// worker, and the supervisor exits once all have finished their graceful stop.
// This is also how one machine gets past the per-process open-file limit.
//
// Workers end when the supervisor does, however it ends (SIGKILL included): each holds an IPC
// channel to it and stops gracefully when the channel closes (main.ts). And a supervisor does not
// start beside live workers of another (orphans of a supervisor killed while they could not
// notice, or anything else on the port): with reusePort, its workers would join theirs silently.
import { readFileSync } from 'node:fs'
import { supervisorMetrics } from './cluster-metrics'
import { listeners, portFree } from './process'
import type { Log } from '../log'

export type ClusterOptions = {
  workers: number
  entry: string
  port: number
  hostname: string
  log?: Pick<Log, 'log' | 'error'>
}

const RESTART_MIN_MS = 100
const RESTART_MAX_MS = 5000
/** A worker that lived this long is healthy again: its next restart starts from the minimum. */
const HEALTHY_AFTER_MS = 10_000

export async function runCluster({ workers, entry, port, hostname, log = console }: ClusterOptions): Promise<number> {
  // Workers bind with reusePort, which any earlier reusePort listener (an orphaned worker) accepts:
  // only a bind without it tells us the port is taken. Checked once, before any worker of ours holds it.
  if (!portFree(hostname, port)) {
    log.error(refusal(port, hostname))
    return 1
  }
  let stopping = false
  const running = new Map<number, ReturnType<typeof Bun.spawn>>()
  // A worker scraped on the shared port asks here for every worker's figures.
  const metrics = supervisorMetrics(() => [...running.values()])
  const { promise: allStopped, resolve: stopped } = Promise.withResolvers<number>()
  let worst = 0

  function start(index: number, delayMs = RESTART_MIN_MS) {
    const startedAt = performance.now()
    const proc = Bun.spawn([process.execPath, entry], {
      env: { ...process.env, HERALD_WORKER: String(index) },
      stdio: ['ignore', 'inherit', 'inherit'],
      // The worker watches it close, which is how it learns we are gone; /metrics travels on it.
      ipc(message, worker) {
        metrics.onMessage(message, worker)
      },
    })
    running.set(index, proc)
    log.log(`herald: worker ${index} started (pid ${proc.pid})`, { worker: index, pid: proc.pid })
    proc.exited.then((code) => {
      running.delete(index)
      if (stopping) {
        worst = Math.max(worst, code ?? 1)
        if (running.size === 0) stopped(worst)
        return
      }
      const next = performance.now() - startedAt > HEALTHY_AFTER_MS ? RESTART_MIN_MS : Math.min(delayMs * 2, RESTART_MAX_MS)
      log.error(`herald: worker ${index} (pid ${proc.pid}) exited with ${proc.signalCode ?? code}; restarting in ${delayMs} ms`, {
        worker: index,
        pid: proc.pid,
        exit: proc.signalCode ?? code,
      })
      setTimeout(() => !stopping && start(index, next), delayMs)
    })
  }

  for (let i = 1; i <= workers; i++) start(i)
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    process.on(signal, () => {
      if (stopping) return
      stopping = true
      log.log(`herald: ${signal}, stopping ${running.size} workers`)
      if (running.size === 0) stopped(worst)
      for (const proc of running.values()) proc.kill(signal)
    })
  return allStopped
}

/** Says what holds the port where /proc tells (Linux), and how to end orphaned workers. */
function refusal(port: number, hostname: string): string {
  const pids = listeners(port).filter((pid) => pid !== process.pid)
  const by = pids.length ? ` by ${pids.map((pid) => `pid ${pid} (${describe(pid)})`).join(', ')}` : ''
  const orphans = pids.filter((pid) => describe(pid).startsWith('herald worker'))
  const hint = orphans.length ? `: workers of a supervisor that was killed? End them first (kill ${orphans.join(' ')})` : ''
  return `herald: port ${port} (${hostname}) is already in use${by}; not starting a cluster beside it${hint}`
}

function describe(pid: number): string {
  const read = (file: string) => {
    try {
      return readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0')
    } catch {
      return []
    }
  }
  const worker = read('environ').find((entry) => entry.startsWith('HERALD_WORKER='))
  if (worker) return `herald worker ${worker.slice('HERALD_WORKER='.length)}`
  return read('cmdline').filter(Boolean).join(' ').slice(0, 100) || 'unknown'
}
