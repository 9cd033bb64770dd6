// A template alarm's params: checked strictly when published (a 400 naming the param), read
// leniently when rendered (a stored row written by SQL may not fit: what does not fit is named, the
// rest renders). Pure.
import type { PrimitiveType } from 'intl-messageformat'
import { Errors } from '../errors'
import type { ArgumentType, Arguments } from './icu'

/** A string param's length, as a text's. */
export const MAX_PARAM_TEXT = 4000
/** ECMAScript's date range, in ms from the epoch. */
const MAX_EPOCH_MS = 8.64e15
/**
 * A date-time with its offset. Without one the instant is a guess (the server's zone? the
 * reader's?), and a date alone is a day in no zone: shown in Los Angeles, 2026-12-12 is the 11th.
 */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i

/** Why `value` cannot be this argument, or undefined when it can. */
export function misfit(type: ArgumentType, value: unknown): string | undefined {
  switch (type) {
    case 'string':
      if (typeof value !== 'string') return 'must be a string'
      if (value.length > MAX_PARAM_TEXT) return `must be at most ${MAX_PARAM_TEXT} characters`
      if (!value.isWellFormed() || value.includes('\0')) return 'must be well-formed Unicode without NUL'
      return undefined
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? undefined : 'must be a finite number'
    case 'date':
      if (typeof value === 'number')
        return Number.isInteger(value) && Math.abs(value) <= MAX_EPOCH_MS ? undefined : 'must be epoch milliseconds (an integer in range)'
      if (typeof value === 'string' && ISO_INSTANT.test(value) && Number.isFinite(Date.parse(value))) return undefined
      return 'must be an ISO 8601 date-time with Z or an offset (2026-12-12T10:30:00Z) or epoch milliseconds'
  }
}

/** Publishing: every argument present and of its type, nothing else. Throws INVALID_PARAMS naming the first that is not. */
export function checkParams(args: Arguments, params: Readonly<Record<string, unknown>>): void {
  const names = Object.keys(args)
  for (const name of Object.keys(params))
    if (!Object.hasOwn(args, name))
      throw Errors.invalidParams(
        `params.${name}`,
        `is not an argument of this template (it takes ${names.length ? names.join(', ') : 'none'})`,
      )
  for (const name of names) {
    if (!Object.hasOwn(params, name)) throw Errors.invalidParams(`params.${name}`, `is missing (a ${args[name]})`)
    const why = misfit(args[name]!, params[name])
    if (why) throw Errors.invalidParams(`params.${name}`, why)
  }
}

/** Rendering: the values to format with, and the arguments that have none that fits (shown as `{name}`). */
export function readParams(args: Arguments, params: unknown): { values: Record<string, PrimitiveType>; unfit: Set<string> } {
  const given = typeof params === 'object' && params !== null && !Array.isArray(params) ? (params as Record<string, unknown>) : {}
  const values: Record<string, PrimitiveType> = {}
  const unfit = new Set<string>()
  for (const [name, type] of Object.entries(args)) {
    const value = Object.hasOwn(given, name) ? given[name] : undefined
    if (value === undefined || misfit(type, value)) unfit.add(name)
    else values[name] = type === 'date' ? new Date(value as string | number) : (value as string | number)
  }
  return { values, unfit }
}
