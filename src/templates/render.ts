// A template alarm's message in one locale and time zone: its template's current text, its stored
// params. Never throws: a row that does not fit (written by SQL) still renders, saying what is wrong.
import { RENDER_ERRORS, type RenderError } from '../errors'
import type { Template } from './catalogue'
import { formatAst, withPlaceholders, argumentNames } from './format'
import { readParams } from './params'

export type Rendering = { message: string; renderError?: RenderError }

/** `locale` is one of `template.locales`; `params` the stored params, parsed (anything at all). */
export function renderTemplate(
  key: string,
  template: Template | undefined,
  params: unknown,
  locale: string,
  timeZone: string,
): Rendering {
  if (!template) return { message: `{${key}}`, renderError: RENDER_ERRORS.unknownTemplate }
  const ast = template.compiled(locale)
  if (ast instanceof Error) return { message: template.text(locale), renderError: RENDER_ERRORS.invalidTemplate }
  const { values, unfit } = readParams(template.arguments, params)
  if (unfit.size === 0) {
    try {
      return { message: formatAst(ast, locale, timeZone, values) }
    } catch {
      // A value Intl refuses although it has the right type: every argument as `{name}` below.
      for (const name of argumentNames(ast)) unfit.add(name)
    }
  }
  try {
    return { message: formatAst(withPlaceholders(ast, unfit), locale, timeZone, values), renderError: RENDER_ERRORS.invalidParams }
  } catch {
    return { message: template.text(locale), renderError: RENDER_ERRORS.invalidParams }
  }
}
