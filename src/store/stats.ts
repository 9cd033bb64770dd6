// What /metrics asks the database at a scrape, in one statement: this pool's connections (by its
// application_name) and the alarms direct writers stored since the last claim (sql/006).
import type { Sql } from './db'
import type { DatabaseStats } from '../metrics'

/**
 * Claims the direct writers' counts (deleting the rows it takes; a writer's row still locked by
 * its open transaction waits for the next scrape) and counts this pool's connections: open ones,
 * and those busy now other than this one. The LISTEN connection shares the name and is left out.
 */
export async function databaseStats(sql: Sql, applicationName: string): Promise<DatabaseStats> {
  const [row] = await sql<{ sql_alarms: string; in_use: string; open: string }[]>`
    with claimed as (
      delete from sql_alarm_counts
      where backend in (select backend from sql_alarm_counts for update skip locked)
      returning alarms
    ), pool as (
      select count(*) filter (where state <> 'idle' and pid <> pg_backend_pid()) as in_use, count(*) as open
      from pg_stat_activity
      where application_name = ${applicationName} and query not ilike 'listen %'
    )
    select (select coalesce(sum(alarms), 0) from claimed) as sql_alarms, pool.in_use, pool.open from pool`
  return { sqlAlarms: Number(row!.sql_alarms), inUse: Number(row!.in_use), open: Number(row!.open) }
}
