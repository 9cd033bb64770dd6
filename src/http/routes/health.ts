import { Elysia } from 'elysia'
import type { Sql } from '../../store/db'
import { errorBody } from '../../errors'

const TIMEOUT_MS = 2000

/** `signals` names what carries wake-ups and generations now: operators see a Redis fallback here. */
export function healthRoutes(sql: Sql, signals: () => string) {
  return new Elysia({ name: 'health' }).get('/health', async () => {
    try {
      await Promise.race([
        sql`select 1`,
        Bun.sleep(TIMEOUT_MS).then(() => Promise.reject(new Error(`no answer in ${TIMEOUT_MS} ms`))),
      ])
      return Response.json({ status: 'ok', signals: signals() })
    } catch (error) {
      return Response.json(
        { status: 'unavailable', signals: signals(), ...errorBody('DATABASE_UNAVAILABLE', `PostgreSQL: ${(error as Error).message}`) },
        { status: 503 },
      )
    }
  })
}
