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
    connection: { application_name: applicationName, ...(schema ? { search_path: schema } : {}) },
  }
  return url ? postgres(url, options) : postgres(options)
}

/** The schema the pool writes to: LISTEN channels carry it, since channels are per database. */
export async function currentSchema(sql: Sql): Promise<string> {
  const [row] = await sql<{ schema: string }[]>`select current_schema() as schema`
  if (!row?.schema) throw new Error('search_path names no existing schema')
  return row.schema
}

export function channelFor(schema: string): string {
  return 'herald_' + schema
}
