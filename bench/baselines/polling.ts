// The baseline: the seed (a Flask generator polling every 5 s) ported to Bun the obvious way.
// One polling loop per stream; "newer than the previous query time" as the cursor; a global Map of
// generations that each loop checks when it wakes. Same database schema and frame shapes as Herald,
// so the same load client can measure both. Do not improve it: it is what Herald is measured against.
import postgres from 'postgres'

const sql = postgres(process.env.DATABASE_URL!, { max: 10, onnotice: () => {} })
const POLL_MS = 5000
const newest = new Map<string, string>()
const encoder = new TextEncoder()

function stream(userId: string, lang: string): ReadableStream<Uint8Array> {
  const me = crypto.randomUUID()
  newest.set(userId, me)
  let timer: Timer | undefined
  let since = new Date()
  return new ReadableStream({
    start(controller) {
      controller.enqueue(encoder.encode(`event: ready\ndata: {"userId":${JSON.stringify(userId)}}\n\n`))
      timer = setInterval(async () => {
        if (newest.get(userId) !== me) {
          clearInterval(timer)
          controller.enqueue(encoder.encode('event: superseded\ndata: {"reason":"newer-connection"}\n\n'))
          return controller.close()
        }
        const queriedAt = new Date()
        const rows = await sql`
          select a.id, a.seq, m.locale, m.message, a.data, a.created_at
          from alarms a join alarm_messages m on m.alarm_id = a.id and m.locale = ${lang}
          where a.user_id = ${userId} and a.created_at > ${since}
          order by a.id`
        since = queriedAt
        for (const row of rows)
          controller.enqueue(
            encoder.encode(`id: ${row.id}\nevent: alarm\ndata: ${JSON.stringify({ id: Number(row.id), seq: Number(row.seq), locale: row.locale, message: row.message, data: row.data, createdAt: row.created_at })}\n\n`),
          )
      }, POLL_MS)
    },
    cancel() {
      clearInterval(timer)
      if (newest.get(userId) === me) newest.delete(userId)
    },
  })
}

async function publish(request: Request): Promise<Response> {
  const body = (await request.json()) as { userId: string; messages: Record<string, string>; data?: unknown }
  // One statement, one implicit transaction (postgres.js's sql.begin misbehaves under this load on Bun).
  const [alarm] = await sql`
    with a as (insert into alarms (user_id, data) values (${body.userId}, ${sql.json((body.data ?? {}) as never)}) returning id, seq)
    , m as (insert into alarm_messages (alarm_id, locale, message)
            select a.id, m.key, m.value from a, jsonb_each_text(${sql.json(body.messages)}) m)
    select id, seq from a`
  return Response.json({ id: Number(alarm!.id), seq: Number(alarm!.seq) }, { status: 201 })
}

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  idleTimeout: 0, // the seed's stream sends nothing between alarms
  fetch(request) {
    const url = new URL(request.url)
    const match = /^\/connection\/([^/]+)$/.exec(url.pathname)
    if (match && request.method === 'GET')
      return new Response(stream(decodeURIComponent(match[1]!), url.searchParams.get('lang') ?? 'en-US'), {
        headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
      })
    if (url.pathname === '/alarms' && request.method === 'POST') return publish(request)
    return new Response('not found', { status: 404 })
  },
})

console.log(`baseline: listening on http://127.0.0.1:${server.port}`)
process.on('SIGTERM', () => process.exit(0))
