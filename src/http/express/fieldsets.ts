import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { HotpathError } from '../../errors.ts'
import { Fieldsets, type FieldsetsOptions, type FieldsetTarget } from '../fieldsets.ts'
import { sendProblem, toProblem } from '../problem.ts'

export interface ExpressFieldsetsOptions extends FieldsetsOptions {
  /** The fields a request may name, in response order. Required (Express routes have no response schema). */
  fields: readonly string[]
  /** Where they apply. Default: `'auto'` (array → its items; `{ data }` → data; else the body). */
  target?: FieldsetTarget
}

/**
 * Sparse fieldsets for one Express route:
 * `app.get('/products', expressFieldsets({ fields: ['id', 'name', 'price'] }), handler)`.
 * Unknown fields get a 400 problem before the handler runs; the handler's
 * `res.json(body)` then sends only the named fields (and `always`, `id`).
 * Requests without `?fields=` pass through untouched.
 */
export function expressFieldsets(options: ExpressFieldsetsOptions): RequestHandler {
  const core = new Fieldsets(options)
  const spec = core.specFromFields(options.fields, options.target ?? 'auto')
  const projections = core.cache()
  return (req: Request, res: Response, next: NextFunction): void => {
    const value = core.requested(req.url)
    if (value === null) {
      next()
      return
    }
    let p: ReturnType<Fieldsets['select']>
    try {
      p = core.select(value, spec, projections)
    } catch (err) {
      if (err instanceof HotpathError) sendProblem(res, toProblem(err))
      else next(err)
      return
    }
    const json = res.json
    res.json = function (this: Response, body?: unknown) {
      const ok = this.statusCode >= 200 && this.statusCode <= 299
      return json.call(this, ok ? core.project(body, p, spec.target) : body)
    }
    next()
  }
}
