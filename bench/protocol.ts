// Messages between the benchmark driver (bench/run.ts) and its load processes (bench/load.ts).
export type Command =
  /** `device`: every stream of this command is that device of its user (`?device=`). */
  | { type: 'open'; users: string[]; port: number; localAddress: string; lang: string; device?: string }
  | { type: 'collect' }
  | { type: 'supersede'; users: string[]; port: number; localAddress: string; lang: string; concurrency: number; device?: string }
  /** `template`: publish with this template key and params instead of texts. */
  | { type: 'publish'; url: string; seconds: number; maxCount: number; concurrency: number; users: string[]; template?: { key: string; params: Record<string, unknown> } }
  /**
   * POST /alarms/batch with `size` alarms per request (each for a random one of `users`), from
   * `concurrency` clients, for `seconds` or until `maxAlarms` were sent.
   */
  | { type: 'batch'; url: string; size: number; seconds: number; maxAlarms: number; concurrency: number; users: string[] }
  /**
   * POST /alarms one at a time at `rate` per second (each for a random one of `users`), `count` of
   * them or until `seconds` pass: the single-alarm path, paced, never more than `maxInFlight` at once.
   * `refused`: each body lacks its texts, so Herald answers 400 before it stores anything.
   */
  | { type: 'single'; url: string; rate: number; count: number; seconds: number; maxInFlight: number; users: string[]; refused?: boolean }
  | { type: 'cpu' }
  | { type: 'close' }

export type Reply =
  | { type: 'hello' }
  | { type: 'opened'; ready: number; failed: number; ms: number }
  /** Flat pairs: alarm id, arrival time (ms since the epoch, sub-millisecond). */
  | { type: 'receipts'; receipts: number[]; open: number }
  | { type: 'superseded'; samples: number[]; missing: number; /** Why, for the first few missed. */ reasons: string[] }
  | { type: 'published'; ok: number; failed: number; ms: number }
  /** `stored`: flat pairs, alarm id and when its request was sent; `failed`: requests not answered 201. */
  | { type: 'batched'; stored: number[]; failed: number; ms: number; firstSent: number }
  /**
   * `stored`: flat triples, alarm id, when its request was sent, when its 201 arrived; `failed`: not
   * answered 201 (nor 400 when refusals were asked for); `refusals`: each refused request's time to its 400.
   */
  | { type: 'singled'; stored: number[]; failed: number; refusals: number[]; ms: number }
  | { type: 'cpu'; percent: number }
  | { type: 'closed' }
