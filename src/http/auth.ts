// Who may subscribe to whose stream, and who may publish. Tokens are verified with jose; nothing
// here hand-rolls crypto beyond a constant-time comparison of digests.
import { importSPKI, jwtVerify, SignJWT, errors as joseErrors, type CryptoKey, type JWTPayload } from 'jose'
import { timingSafeEqual } from 'node:crypto'
import type { Config } from '../config'
import { Errors } from '../errors'

export const TOKEN_COOKIE = 'herald_token'

export type Subscriber = {
  /** Epoch ms at which the token stops being valid: the stream ends with `event: expired` then. */
  expiresAt?: number
}

export type Auth = {
  /** False only when no secret is configured (development) or HERALD_AUTH=none. */
  readonly subscribers: boolean
  readonly publishers: boolean
  verifySubscriber(request: Request, url: URL, userId: string): Promise<Subscriber>
  /** Returns which publish key was presented; undefined when publishing needs none. */
  verifyPublisher(request: Request): string | undefined
  /** The request carries one of the publish keys (never true while publishing needs none). */
  isPublisher(request: Request): boolean
  /** Mints a short-lived HS256 token (the dev/demo helper); undefined without an HS256 secret. */
  mint?(userId: string, ttlSeconds?: number): Promise<string>
}

const ALGORITHMS_BY_KEY = ['ES256', 'RS256'] as const

export type AuthConfig = Pick<Config, 'jwtSecret' | 'jwtPublicKey' | 'publishKeys' | 'authNone'>

export async function createAuth(config: AuthConfig): Promise<Auth> {
  const verifier = await subscriberKey(config)
  const publishDigests = config.authNone ? [] : config.publishKeys.map(digest)
  const secret = config.jwtSecret ? new TextEncoder().encode(config.jwtSecret) : undefined

  /** Which publish key this is, or -1. Compares against every key, always: the time taken says nothing about which matched. */
  function keyIndex(key: string): number {
    const presented = digest(key)
    let match = -1
    publishDigests.forEach((known, i) => {
      if (timingSafeEqual(known, presented) && match < 0) match = i
    })
    return match
  }

  return {
    subscribers: verifier !== undefined,
    publishers: publishDigests.length > 0,

    async verifySubscriber(request, url, userId) {
      if (!verifier) return {}
      const token = bearer(request) ?? url.searchParams.get('token') ?? cookie(request, TOKEN_COOKIE)
      if (!token) throw Errors.unauthorized('a token is required (Authorization: Bearer, ?token= or cookie)')
      let payload: JWTPayload
      try {
        ;({ payload } = await jwtVerify(token, verifier.key, {
          algorithms: [verifier.algorithm],
          requiredClaims: ['sub', 'exp'],
        }))
      } catch (error) {
        throw Errors.unauthorized(`invalid token: ${describe(error)}`)
      }
      if (payload.sub !== userId) throw Errors.forbidden()
      return { expiresAt: payload.exp! * 1000 }
    },

    verifyPublisher(request) {
      if (publishDigests.length === 0) return undefined
      const key = bearer(request)
      if (!key) throw Errors.unauthorized('publishing requires Authorization: Bearer <publish key>')
      const match = keyIndex(key)
      if (match < 0) throw Errors.unauthorized('unknown publish key')
      return `key#${match}`
    },

    isPublisher(request) {
      const key = bearer(request)
      return publishDigests.length > 0 && key !== undefined && keyIndex(key) >= 0
    },

    mint: secret
      ? (userId, ttlSeconds = 900) =>
          new SignJWT({})
            .setProtectedHeader({ alg: 'HS256' })
            .setSubject(userId)
            .setIssuedAt()
            .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
            .sign(secret)
      : undefined,
  }
}

async function subscriberKey(config: AuthConfig): Promise<{ key: CryptoKey | Uint8Array; algorithm: string } | undefined> {
  if (config.authNone) return undefined
  if (config.jwtSecret) return { key: new TextEncoder().encode(config.jwtSecret), algorithm: 'HS256' }
  if (!config.jwtPublicKey) return undefined
  for (const algorithm of ALGORITHMS_BY_KEY) {
    try {
      return { key: await importSPKI(config.jwtPublicKey, algorithm), algorithm }
    } catch {
      // Not a key of this kind: try the next.
    }
  }
  throw new Error('HERALD_JWT_PUBLIC_KEY: not an EC P-256 (ES256) or RSA (RS256) public key')
}

/**
 * Whether a request carries one of `keys` as its Bearer token: compared as SHA-256 digests in
 * constant time, against every key, like the publish keys.
 */
export function bearerCheck(keys: readonly string[]): (request: Request) => boolean {
  const digests = keys.map(digest)
  return (request) => {
    const presented = bearer(request)
    if (!presented) return false
    const candidate = digest(presented)
    let match = false
    for (const known of digests) match = timingSafeEqual(known, candidate) || match
    return match
  }
}

function digest(value: string): Buffer {
  return Buffer.from(new Bun.CryptoHasher('sha256').update(value).digest())
}

function bearer(request: Request): string | undefined {
  const header = request.headers.get('authorization')
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i)
  return match?.[1]
}

function cookie(request: Request, name: string): string | undefined {
  const header = request.headers.get('cookie')
  if (!header) return undefined
  for (const part of header.split(';')) {
    const [key, ...value] = part.trim().split('=')
    if (key === name) return value.join('=') || undefined
  }
  return undefined
}

function describe(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'expired'
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `claim ${error.claim} ${error.reason}`
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed'
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad signature'
  return 'malformed'
}
