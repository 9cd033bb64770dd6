// What the signals may do to this process's streams: callbacks, never the streams themselves
// (the stream layer's live owner provides them).

import type { SupersedeReason } from '../devices'

export type { SupersedeReason }

export type Local = {
  /** Wakes every local stream of these users: they have something new. */
  wake(userIds: Iterable<string>): void
  /** Ends the local stream of `key` if it is older than `generation`; says whether it did. */
  supersede(key: string, generation: number, reason?: SupersedeReason): boolean
  /** Every user with a local stream, with the lowest cursor among its streams. */
  cursors(): Map<string, number>
  /** The generation keys of the local streams. */
  keys(): Iterable<string>
}

/** What the signals may do to this process's copy of the template catalogue (templates/catalogue.ts). */
export type LocalTemplates = {
  /** Template `key` changed on some instance: drop what this process keeps of it. */
  forget(key: string): void
  /** Changes may have been missed (a signal connection was lost): drop every template kept. */
  forgetAll(): void
}
