// Who may open a stream or publish, and how often: auth first (so nobody can use up another
// user's allowance without that user's token), then capacity and rate limits.
import type { Auth, Subscriber } from './auth'
import type { Config } from '../config'
import { Errors } from '../errors'
import { clientAddress } from './client-address'
import { createBuckets } from './limits'
import { NO_METRICS, type Metrics } from '../metrics'

export type Admission = {
  /** A stream may open: the subscriber's token fits, the process has room, the user is not reconnecting too fast. */
  admitStream(request: Request, url: URL, userId: string): Promise<Subscriber>
  /**
   * A publish may go ahead (checked before the body is read): its key, then its rate. `peer` is the
   * socket's remote address: with publishing open, the rate is per client address.
   */
  admitPublish(request: Request, peer: string | undefined): void
  /** A user's inbox may be read or marked: by the user's own token, or by a publisher (a server acting for users). */
  admitUser(request: Request, url: URL, userId: string): Promise<void>
}

export type AdmissionOptions = Pick<
  Config,
  'maxStreams' | 'reconnectBurst' | 'reconnectPerMinute' | 'publishRate' | 'trustProxy'
> & {
  auth: Auth
  /** Streams open in this process now. */
  streams(): number
  /** Counts the refusals, by reason. */
  metrics?: Pick<Metrics, 'refused'>
}

export function createAdmission({ auth, streams, metrics = NO_METRICS, ...limits }: AdmissionOptions): Admission {
  // Per user; its default (config.ts) lets every device of the user reconnect twice at once.
  const reconnects = createBuckets({ capacity: limits.reconnectBurst, perSecond: limits.reconnectPerMinute / 60 })
  const publishes =
    limits.publishRate > 0 ? createBuckets({ capacity: limits.publishRate, perSecond: limits.publishRate }) : undefined

  return {
    async admitStream(request, url, userId) {
      const subscriber = await auth.verifySubscriber(request, url, userId)
      if (limits.maxStreams > 0 && streams() >= limits.maxStreams) {
        metrics.refused('max_streams')
        throw Errors.tooManyStreams(limits.maxStreams)
      }
      const wait = reconnects.take(userId)
      if (wait > 0) {
        metrics.refused('reconnect_rate')
        throw Errors.rateLimited('connections for this user', wait)
      }
      return subscriber
    },
    async admitUser(request, url, userId) {
      if (auth.isPublisher(request)) return
      await auth.verifySubscriber(request, url, userId)
    },
    admitPublish(request, peer) {
      const key = auth.verifyPublisher(request)
      const publisher = key ?? `address ${clientAddress(request, peer, limits.trustProxy)}`
      const wait = publishes?.take(publisher) ?? 0
      if (wait > 0) {
        metrics.refused('publish_rate')
        throw Errors.rateLimited('publishes', wait)
      }
    },
  }
}
