// GET /metrics — Prometheus' text format. Open in development; behind HERALD_METRICS_TOKEN (Bearer)
// once one is set; in production without one it stays locked unless HERALD_METRICS=public says
// to open it. Registered only while metrics are on (HERALD_METRICS=off: a 404 like any path).
import { Elysia } from 'elysia'
import type { Config } from '../../config'
import { Errors } from '../../errors'
import { bearerCheck } from '../auth'

export type MetricsRouteOptions = Pick<Config, 'metricsMode' | 'metricsToken' | 'production'> & {
  /** This process's figures, or in cluster mode every worker's (the supervisor gathers them). */
  render(): Promise<string>
  contentType: string
}

export function metricsRoutes(options: MetricsRouteOptions) {
  const admit = metricsAccess(options)
  const route = new Elysia({ name: 'metrics' })
  if (options.metricsMode === 'off') return route
  return route.get('/metrics', async ({ request }) => {
    admit(request)
    return new Response(await options.render(), {
      headers: { 'content-type': options.contentType, 'cache-control': 'no-store' },
    })
  })
}

/** Throws 401 unless this request may read the metrics. */
export function metricsAccess({ metricsMode, metricsToken, production }: Pick<Config, 'metricsMode' | 'metricsToken' | 'production'>) {
  if (metricsMode === 'public') return () => {}
  if (metricsToken) {
    const matches = bearerCheck([metricsToken])
    return (request: Request) => {
      if (!matches(request)) throw Errors.unauthorized('GET /metrics needs Authorization: Bearer <HERALD_METRICS_TOKEN>')
    }
  }
  if (!production) return () => {}
  return () => {
    throw Errors.unauthorized('GET /metrics is locked in production: set HERALD_METRICS_TOKEN (sent as Bearer), or HERALD_METRICS=public')
  }
}
