// The devices' benchmark phase (issue 14): a reconnect storm of N users × 2 devices against the
// same number of streams as one per user, supersede within one device, and the presence query.
// Bounded in count and time; every process it starts is stopped.
import type { LoadWorker, PhaseDeps, StartedHerald } from './phase'
import { percentiles } from './report'

export type DevicesBench = {
  /** Users in the storm; each opens two devices (2 × users streams), against 2 × users single-device users. */
  users: number
  supersedeSamples: number
  presenceRequests: number
}

export type DevicesDeps<W extends LoadWorker> = PhaseDeps<W> & {
  startHerald(url: string): Promise<Pick<StartedHerald, 'port' | 'stop'>>
}

export async function measureDevices<W extends LoadWorker>(options: DevicesBench, deps: DevicesDeps<W>): Promise<Record<string, number>> {
  const url = await deps.freshDatabase('herald_bench_devices')
  const herald = await deps.startHerald(url)
  const m: Record<string, number> = {}
  try {
    const { users } = options
    // Each load process opens its share from its own source address (and a fresh one per storm).
    const storm = async (label: string, names: string[], devices: (string | undefined)[], round: number) => {
      const started = performance.now()
      let ready = 0
      await Promise.all(
        deps.workers.map(async (worker, w) => {
          const mine = names.filter((_, i) => i % deps.workers.length === w)
          const localAddress = `127.${50 + round}.${w}.2`
          for (const device of devices)
            ready += (await deps.ask(worker, { type: 'open', users: mine, port: herald.port, localAddress, lang: 'ko', ...(device ? { device } : {}) }, 'opened')).ready
        }),
      )
      const ms = performance.now() - started
      deps.log(`devices: ${label}: ${ready} streams ready in ${Math.round(ms)} ms`)
      return { ready, perSecond: (ready / ms) * 1000 }
    }
    const closeAll = () => Promise.all(deps.workers.map((worker) => deps.ask(worker, { type: 'close' }, 'closed')))

    const single = await storm('one stream per user', Array.from({ length: 2 * users }, (_, i) => `s${i}`), [undefined], 0)
    m.storm_single_per_s = single.perSecond
    m.storm_single_ready = single.ready
    await closeAll()
    const twice = await storm('two devices per user', Array.from({ length: users }, (_, i) => `d${i}`), ['laptop', 'phone'], 1)
    m.storm_devices_per_s = twice.perSecond
    m.storm_devices_ready = twice.ready

    // Supersede within one device: a second stream of the same user's laptop ends the first.
    const worker = deps.workers[0]!
    const sampled = Array.from({ length: options.supersedeSamples }, (_, i) => `d${i * deps.workers.length}`)
    const sup = await deps.ask(
      worker,
      { type: 'supersede', users: sampled, port: herald.port, localAddress: `127.60.0.2`, lang: 'ko', concurrency: 25, device: 'laptop' },
      'superseded',
    )
    const p = percentiles(sup.samples)
    Object.assign(m, { supersede_device_p50_ms: p.p50, supersede_device_p99_ms: p.p99, supersede_device_missing: sup.missing })

    // Presence of users with two live devices, a few requests at a time.
    const samples: number[] = []
    let next = 0
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < options.presenceRequests) {
          const user = `d${next++ % users}`
          const started = performance.now()
          const res = await fetch(`http://127.0.0.1:${herald.port}/users/${user}/presence`)
          await res.arrayBuffer()
          if (res.status === 200) samples.push(performance.now() - started)
        }
      }),
    )
    const q = percentiles(samples)
    Object.assign(m, { presence_p50_ms: q.p50, presence_p99_ms: q.p99 })
    await closeAll()
  } finally {
    await herald.stop()
  }
  return m
}
