// Herald in cluster mode as an operator starts it (`HERALD_WORKERS=N PORT=<fixed> bun src/cli/main.ts`),
// for the benchmark: the workers' pids are read from the supervisor's output ("worker N started
// (pid P)"), so their memory and open files can be measured, and every one of them is ended
// afterwards, even when the supervisor has to be killed (test/helpers/process.ts does both).
import { readdirSync } from 'node:fs'
import type { Subprocess } from 'bun'
import { freePort } from '../src/cli/process'
import { spawnEntry } from '../test/helpers/process'

export type Cluster = {
  port: number
  /** Worker index → its current pid (a restarted worker gets a new one). */
  readonly pids: ReadonlyMap<number, number>
  /** Workers started again after dying while the benchmark ran; 0 when all is well. */
  readonly restarts: number
  /** SIGTERM (all workers stop gracefully), then, after `graceMs`, SIGKILL to any that is left. */
  stop(graceMs?: number): Promise<void>
}

export type ClusterOptions = {
  workers: number
  env: Record<string, string | undefined>
  cwd: string
  startMs?: number
  /** Told of the supervisor process, so whoever started it can end it on a signal. */
  track?: (proc: Subprocess) => void
}

export async function startCluster({ workers, env, cwd, startMs = 60_000, track }: ClusterOptions): Promise<Cluster> {
  const port = freePort() // cluster mode needs a fixed port: its workers share it
  const supervisor = spawnEntry('src/cli/main.ts', {
    cwd,
    env: { ...env, HOST: '127.0.0.1', PORT: String(port), HERALD_WORKERS: String(workers) },
    stderr: 'inherit',
  })
  track?.(supervisor.proc)
  const cluster: Cluster = {
    port,
    get pids() {
      return new Map(supervisor.workers().map((w) => [w.index, w.pid]))
    },
    get restarts() {
      return Math.max(0, supervisor.workers().length - workers)
    },
    async stop(graceMs = 20_000) {
      await supervisor.stop(graceMs)
    },
  }

  const deadline = performance.now() + startMs
  try {
    await supervisor.waitFor(/worker \d+ started \(pid \d+\)/, workers, startMs)
    await supervisor.waitFor(/listening on/, workers, Math.max(0, deadline - performance.now()))
  } catch (error) {
    await cluster.stop(2000)
    throw new Error(`the cluster of ${workers} did not start: ${(error as Error).message}`)
  }
  return cluster
}

/** Open file descriptors of a process: its sockets, so its streams. */
export function openFiles(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length
}
