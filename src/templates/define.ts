// What PUT /templates/:key checks before anything is stored: every text parses, fits the limits
// and the other locales, and can be formatted at all (a skeleton such as ::currency/EURO parses but
// Intl refuses it). Pure.
import type { PrimitiveType } from 'intl-messageformat'
import { Errors } from '../errors'
import { formatAst } from './format'
import { analyze, argumentTypes, type Arguments, type Kind, type Warning } from './icu'

export type Definition = {
  arguments: Arguments
  /** How the texts use each argument: what a stored key's fixed arguments are compared with. */
  kinds: ReadonlyMap<string, Kind>
  warnings: Warning[]
}

const SAMPLE: Record<Kind, PrimitiveType> = { any: 'x', string: 'x', number: 1, date: new Date(0) }

export function defineTemplate(messages: Readonly<Record<string, string>>): Definition {
  const { asts, kinds, warnings } = analyze(messages)
  const values = Object.fromEntries([...kinds].map(([name, kind]) => [name, SAMPLE[kind]]))
  for (const [locale, ast] of asts) {
    try {
      formatAst(ast, locale, 'UTC', values)
    } catch (error) {
      throw Errors.invalidTemplate(`messages.${locale}`, `cannot be formatted: ${(error as Error).message}`)
    }
  }
  return { arguments: argumentTypes(kinds), kinds, warnings }
}
