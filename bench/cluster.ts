// Herald in cluster mode as an operator starts it (`HERALD_WORKERS=N PORT=<fixed> bun src/cli/main.ts`),
// for the benchmark: the workers' pids are read from the supervisor's output ("worker N started
// (pid P)"), so their memory and open files can be measured, and every one of them is ended
// afterwards, even when the supervisor has to be killed.
import { readdirSync, readFileSync } from 'node:fs'
import type { Subprocess } from 'bun'
import { freePort } from '../src/cli/process'

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
  const proc = Bun.spawn([process.execPath, 'src/cli/main.ts'], {
    cwd,
    env: { ...env, HOST: '127.0.0.1', PORT: String(port), HERALD_WORKERS: String(workers) },
    stdout: 'pipe',
    stderr: 'inherit',
  })
  track?.(proc)
  const pids = new Map<number, number>()
  const every = new Set<number>() // each pid ever started, so none outlives the benchmark
  let listening = 0
  let output = ''

  void (async () => {
    const decoder = new TextDecoder()
    const reader = proc.stdout.getReader()
    let rest = ''
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      rest += decoder.decode(chunk.value, { stream: true })
      for (let nl = rest.indexOf('\n'); nl >= 0; nl = rest.indexOf('\n')) {
        const line = rest.slice(0, nl)
        rest = rest.slice(nl + 1)
        if (output.length < 10_000) output += line + '\n'
        const started = /worker (\d+) started \(pid (\d+)\)/.exec(line)
        if (started) {
          pids.set(Number(started[1]), Number(started[2]))
          every.add(Number(started[2]))
        }
        if (line.includes('listening on')) listening++
      }
    }
  })()

  const cluster: Cluster = {
    port,
    pids,
    get restarts() {
      return Math.max(0, every.size - workers)
    },
    async stop(graceMs = 20_000) {
      proc.kill('SIGTERM')
      await within(proc.exited, graceMs)
      proc.kill('SIGKILL')
      for (const pid of every) if (isHerald(pid)) killQuietly(pid)
    },
  }

  const deadline = performance.now() + startMs
  while (listening < workers || pids.size < workers) {
    if (proc.exitCode !== null || performance.now() > deadline) {
      await cluster.stop(2000)
      throw new Error(`the cluster of ${workers} did not start (${listening} listening):\n${output}`)
    }
    await Bun.sleep(50)
  }
  return cluster
}

/** Waits for `promise`, at most `ms`; unlike racing Bun.sleep, leaves no timer holding the process open. */
export async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: Timer | undefined
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))])
  clearTimeout(timer)
}

/** Still running, and still a Herald (a pid is only ours while its command line says so). */
function isHerald(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('src/cli/main.ts')
  } catch {
    return false
  }
}

function killQuietly(pid: number) {
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // it ended in between
  }
}

/** Open file descriptors of a process: its sockets, so its streams. */
export function openFiles(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length
}
