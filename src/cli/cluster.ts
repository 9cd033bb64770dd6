// Cluster mode: N Herald processes on one port (reusePort), supervised. A worker that dies is
// started again (after a back-off that grows while it keeps dying); SIGTERM/SIGINT reach every
// worker, and the supervisor exits once all have finished their graceful stop.
// This is also how one machine gets past the per-process open-file limit.

export type ClusterOptions = {
  workers: number
  entry: string
  log?: Pick<Console, 'log' | 'error'>
}

const RESTART_MIN_MS = 100
const RESTART_MAX_MS = 5000
/** A worker that lived this long is healthy again: its next restart starts from the minimum. */
const HEALTHY_AFTER_MS = 10_000

export async function runCluster({ workers, entry, log = console }: ClusterOptions): Promise<number> {
  let stopping = false
  const running = new Map<number, ReturnType<typeof Bun.spawn>>()
  const { promise: allStopped, resolve: stopped } = Promise.withResolvers<number>()
  let worst = 0

  function start(index: number, delayMs = RESTART_MIN_MS) {
    const startedAt = performance.now()
    const proc = Bun.spawn([process.execPath, entry], {
      env: { ...process.env, HERALD_WORKER: String(index) },
      stdio: ['ignore', 'inherit', 'inherit'],
    })
    running.set(index, proc)
    log.log(`herald: worker ${index} started (pid ${proc.pid})`)
    proc.exited.then((code) => {
      running.delete(index)
      if (stopping) {
        worst = Math.max(worst, code ?? 1)
        if (running.size === 0) stopped(worst)
        return
      }
      const next = performance.now() - startedAt > HEALTHY_AFTER_MS ? RESTART_MIN_MS : Math.min(delayMs * 2, RESTART_MAX_MS)
      log.error(`herald: worker ${index} (pid ${proc.pid}) exited with ${proc.signalCode ?? code}; restarting in ${delayMs} ms`)
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
