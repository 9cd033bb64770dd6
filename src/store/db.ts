import postgres from 'postgres'

export type Sql = postgres.Sql<{}>

export type DbOptions = {
  /** Pool size. Streams share it through the batching fetcher, so it stays small. */
  max?: number
  /** search_path for every connection: how tests give each file a schema of its own. */
  schema?: string
  applicationName?: string
}

export function createDb(url: string | undefined, { max = 10, schema, applicationName = 'herald' }: DbOptions = {}): Sql {
  const options = {
    max,
    // Notices (e.g. "relation already exists, skipping") are not errors; keep the log clean.
    onnotice: () => {},
    // JIT off for every connection: Herald's statements are short, and the planner's cost guess for
    // a batched read of 1,000 users (an unnest join) passes jit_above_cost, so each such query
    // spent far longer compiling than running (a 114,000-user burst over 6 workers: 20.2 s → 3.7 s).
    connection: { application_name: applicationName, jit: 'off', ...(schema ? { search_path: schema } : {}) },
  }
  return url ? postgres(url, options) : postgres(options)
}

/** The pool's name in pg_stat_activity: one per process, so /metrics can count its connections. */
export function applicationNameOf(instance: string | undefined): string {
  return instance ? `herald ${instance}` : 'herald'
}

/**
 * Where the pool writes: LISTEN channels carry the schema (channels are per database), and the
 * default Redis prefix carries both (one Redis may serve many databases).
 */
export async function currentPlace(sql: Sql): Promise<{ database: string; schema: string }> {
  const [row] = await sql<{ database: string; schema: string | null }[]>`
    select current_database() as database, current_schema() as schema`
  if (!row?.schema) throw new Error('search_path names no existing schema')
  return { database: row.database, schema: row.schema }
}

export function channelFor(schema: string): string {
  return 'herald_' + schema
}

/** Resolves once the database answers a trivial query. */
export function ping(sql: Sql): Promise<unknown> {
  return sql`select 1`
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01', // admin_shutdown
  '57P03', // cannot_connect_now
])

/** The driver's error says the database could not be reached (not that a query was wrong). */
export function isUnreachable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && CONNECTION_CODES.has((error as { code?: string }).code ?? '')
}
