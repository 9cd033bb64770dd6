// Small facts about processes and ports, shared by the embedded PostgreSQL, the tests and the benchmark.
import { readFileSync } from 'node:fs'

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    // EPERM: it exists, we may just not signal it.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
  // A child that exited but was not reaped yet still answers signal 0.
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}

/** A port free right now on 127.0.0.1 (the OS picks it; nothing holds it after). */
export function freePort(): number {
  const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = probe.port
  probe.stop(true)
  return port
}
